"""Checks the proglog Helm chart and Dockerfile offline; run by
check-chart.sh, which makes the virtualenv with helm-python-sdk (Helm 4 as a
library: no helm binary), kubernetes-validate (the Kubernetes JSON schemas,
bundled) and dockerfile (BuildKit's Dockerfile parser).

First the Dockerfile (it cannot be built without a Docker daemon and the
base images, but it can be read): it parses, builds chapter 9's `proglog`
from a context that .dockerignore leaves whole enough, on a Rust the
workspace accepts, for the runtime's glibc.

Then, for the default values and for each file in the chart's ci/ folder:
  1. `helm lint --strict`: any warning or error fails;
  2. `helm template`: the chart renders;
  3. every rendered object validates against the Kubernetes schemas of the
     chart's oldest and of the newest supported Kubernetes, strictly (an
     unknown field or a kind without a schema fails too);
  4. the pieces agree with each other and with the Dockerfile: ports, the
     Secret's keys, mounted paths, the user, the ACL, the grace periods.
"""

import re
import sys
from fnmatch import fnmatch
from pathlib import Path

import dockerfile as dockerfile_parser
import helm_python as helm
import kubernetes_validate
import yaml

DEPLOY = Path(__file__).resolve().parent
CHART = DEPLOY / "helm" / "proglog"
REPO = DEPLOY.parents[2]
# The chart's minimum (the pod-index label) and the newest schemas bundled.
KUBE_VERSIONS = ["1.28.0", "1.37.0"]
# The keys the TLS Secret must have (README.md tells how to make it).
SECRET_KEYS = {"ca.pem", "server.pem", "server-key.pem", "peer.pem", "peer-key.pem"}
RELEASE, NAMESPACE = "demo", "prod"

failures: list[str] = []
passed = 0


def check(ok: bool, what: str) -> None:
    global passed
    if ok:
        passed += 1
    else:
        failures.append(what)
        print(f"  FAIL {what}")


# ANCHOR: lint
def lint(values: dict, label: str) -> None:
    report = helm.lint(CHART, values, strict=True, kube_version=f"v{KUBE_VERSIONS[-1]}")
    for message in report["messages"]:
        severity = {1: "INFO", 2: "WARNING", 3: "ERROR"}.get(message["severity"], "UNKNOWN")
        print(f"  lint {severity} {message['path']}: {message['error']}")
        # INFO ("icon is recommended") is advice; anything else fails.
        check(message["severity"] == 1, f"{label}: lint {severity}: {message['error']}")
    for error in report["errors"]:
        check(False, f"{label}: lint: {error}")
# ANCHOR_END: lint


# ANCHOR: render
def render(values: dict) -> tuple[list[dict], str]:
    """`helm template`: the rendered objects, and NOTES.txt."""
    with helm.Chart.load(CHART) as chart:
        manifests = chart.render(values, name=RELEASE, namespace=NAMESPACE)
    objects, notes = [], ""
    for path, text in sorted(manifests.items()):
        if path.endswith("NOTES.txt"):
            notes = text
            continue
        objects += [doc for doc in yaml.safe_load_all(text) if doc]
    return objects, notes
# ANCHOR_END: render


# ANCHOR: validate
def validate(objects: list[dict], label: str) -> None:
    for obj in objects:
        name = f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
        for version in KUBE_VERSIONS:
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except kubernetes_validate.ValidationError as e:
                where = ".".join(str(p) for p in e.path)
                check(False, f"{label}: {name} (Kubernetes {version}): {where}: {e.message}")
            except Exception as e:  # no schema for the kind, a bad version...
                check(False, f"{label}: {name} (Kubernetes {version}): {getattr(e, 'message', e)}")
        print(f"  valid {name} (Kubernetes {', '.join(KUBE_VERSIONS)})")
# ANCHOR_END: validate


def dockerfile() -> dict:
    """What the image promises, read with BuildKit's own Dockerfile parser:
    the stages, EXPOSEd ports, USER, ENTRYPOINT and the CMD's flags."""
    commands = dockerfile_parser.parse_file(str(DEPLOY / "Dockerfile"))
    image: dict = {"from": [], "run": [], "copy": [], "exposed": set()}
    for c in commands:
        if c.cmd == "FROM":
            image["from"].append(c.value[0])
        elif c.cmd == "RUN":
            image["run"].append(c.value[0])
        elif c.cmd == "COPY":
            image["copy"].append(c.value)
        elif c.cmd == "EXPOSE":
            for spec in c.value:
                port, _, proto = spec.partition("/")
                image["exposed"].add((int(port), (proto or "tcp").upper()))
        elif c.cmd in ("USER", "ENTRYPOINT", "CMD"):
            image[c.cmd.lower()] = c.value
    cmd = image["cmd"]
    image["flags"] = dict(zip(cmd[1::2], cmd[2::2]))
    return image


def version(text: str) -> tuple[int, ...]:
    return tuple(int(n) for n in text.split("."))


# ANCHOR: image
def check_image() -> None:
    """The Dockerfile builds the `proglog` binary from a context that has
    what the build reads, on a toolchain the workspace accepts, for the
    runtime's glibc."""
    image = dockerfile()
    builder, runtime = image["from"][0], image["from"][-1]
    manifest = (REPO / "chapters/chapter-09/Cargo.toml").read_text()
    check(re.search(r'\[\[bin\]\]\s*name = "proglog"', manifest) is not None,
          "Dockerfile: chapter-09 declares the binary proglog")
    check(any(re.search(r"cargo build --release --locked -p chapter-09 --bin proglog\b(?!-)", r)
              for r in image["run"]), "Dockerfile: builds chapter-09's proglog, --locked")
    check(tuple(image["entrypoint"]) == ("/proglog",) and ("/proglog", "/proglog") in
          [tuple(c[-2:]) for c in image["copy"]], "Dockerfile: ENTRYPOINT is the copied binary")
    check(image["cmd"][0] == "serve", "Dockerfile: CMD runs `proglog serve`")
    workspace = re.search(r'^rust-version = "([\d.]+)"', (REPO / "Cargo.toml").read_text(), re.M)
    toolchain = re.fullmatch(r"rust:([\d.]+)-bookworm", builder)
    check(toolchain is not None and version(toolchain.group(1)) >= version(workspace.group(1)),
          f"Dockerfile: {builder} is a Debian 12 Rust >= the workspace's {workspace.group(1)}")
    check(runtime == "gcr.io/distroless/cc-debian12:nonroot",
          f"Dockerfile: runs on distroless cc-debian12 (Debian 12's glibc), not {runtime}")
    # The build reads every workspace member, the protos, and the certs and
    # policies that `--dev` embeds: .dockerignore must leave them in.
    ignored = [line.strip().strip("/") for line in (REPO / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")]
    for needed in ["Cargo.toml", "Cargo.lock", "src/lib.rs", "tests/acceptance.rs",
                   "chapters/chapter-09/Cargo.toml", "proto/log/v1/log.proto",
                   "certs/ca.pem", "policies/model.conf"]:
        check((REPO / needed).exists() and not any(
            fnmatch(needed, pattern) or needed.startswith(pattern + "/") for pattern in ignored),
            f".dockerignore keeps {needed}")
    check({"target", ".git"} <= set(ignored), ".dockerignore leaves out target/ and .git/")
# ANCHOR_END: image


def seconds(duration: str) -> float:
    number, unit = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m)", duration).groups()
    return float(number) * {"ms": 0.001, "s": 1, "m": 60}[unit]


# ANCHOR: consistency
def consistency(objects: list[dict], notes: str, values: dict, label: str) -> None:
    by_kind: dict[str, list[dict]] = {}
    for obj in objects:
        by_kind.setdefault(obj["kind"], []).append(obj)
    (sts,) = by_kind["StatefulSet"]
    spec, pod = sts["spec"], sts["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    args = dict(a.removeprefix("--").partition("=")[::2] for a in container["args"][1:])
    ports = {(p["containerPort"], p["protocol"]) for p in container["ports"]}
    named = {p["name"]: p["containerPort"] for p in container["ports"]}
    image = dockerfile()
    replicas = values.get("replicas", 3)

    # ANCHOR: identity
    # Identity and bootstrap.
    check(container["args"][0] == "serve", f"{label}: the container runs `proglog serve`")
    check(spec["replicas"] == replicas and args["bootstrap-expect"] == str(replicas),
          f"{label}: replicas and --bootstrap-expect are {replicas}")
    check(spec["podManagementPolicy"] == "Parallel", f"{label}: pods start in parallel")
    node_id = next(e for e in container["env"] if e["name"] == "PROGLOG_NODE_ID")
    check(node_id["valueFrom"]["fieldRef"]["fieldPath"]
          == "metadata.labels['apps.kubernetes.io/pod-index']", f"{label}: node id = pod index")
    headless = next(s for s in by_kind["Service"] if s["metadata"]["name"] == spec["serviceName"])
    check(headless["spec"]["clusterIP"] == "None" and headless["spec"]["publishNotReadyAddresses"],
          f"{label}: the StatefulSet's Service is headless and publishes unready pods")
    cluster_domain = values.get("clusterDomain", "cluster.local")
    domain = f"{spec['serviceName']}.$(POD_NAMESPACE).svc.{cluster_domain}"
    check(args["advertise-addr"] == f"$(POD_NAME).{domain}:{named['grpc']}",
          f"{label}: --advertise-addr is the pod's DNS name")
    check(args["join"] == f"{sts['metadata']['name']}-0.{domain}:{named['grpc']}",
          f"{label}: --join is pod 0's gossip address")
    # ANCHOR_END: identity

    # Ports: the flags, the container, the probes, the Services, the image.
    for flag, port in [("addr", "grpc"), ("gossip-addr", "gossip"), ("health-addr", "health"),
                       ("metrics-addr", "metrics")]:
        if flag in args:
            check(args[flag] == f"0.0.0.0:{named[port]}", f"{label}: --{flag} listens on {port}")
    check(named["gossip"] == named["grpc"], f"{label}: gossip (UDP) shares the gRPC port")
    for probe in ("readinessProbe", "livenessProbe"):
        check(container[probe]["grpc"]["port"] == named["health"], f"{label}: {probe} on health")
    check(container["readinessProbe"]["grpc"]["service"] == "log.v1.Log",
          f"{label}: readiness asks for log.v1.Log")
    for service in by_kind["Service"]:
        for p in service["spec"]["ports"]:
            target = p["targetPort"]
            check(target in named and (named[target], p["protocol"]) in ports,
                  f"{label}: Service {service['metadata']['name']} port {p['name']} "
                  f"targets a container port")
    check(ports <= image["exposed"], f"{label}: container ports {sorted(ports)} are "
          f"EXPOSEd by the Dockerfile {sorted(image['exposed'])}")
    if values.get("metrics", {}).get("enabled", True):
        check(ports == image["exposed"], f"{label}: the Dockerfile EXPOSEs exactly these ports")
    # The image's CMD and the chart's args name the same ports and paths (the
    # log format is a chart value).
    for flag, value in image["flags"].items():
        flag = flag.removeprefix("--")
        if flag in args and flag != "log-format":
            check(args[flag] == value, f"{label}: --{flag} is the same in the chart and the "
                                       f"Dockerfile's CMD ({args[flag]} / {value})")

    # Files: the Secret's keys and the ACL, at the mounted paths.
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    tls_files = {Path(args[f]).name for f in ("tls-cert", "tls-key", "tls-ca", "peer-cert",
                                              "peer-key")}
    check(tls_files == SECRET_KEYS, f"{label}: the TLS flags use the Secret's keys {SECRET_KEYS}")
    check(all(Path(args[f]).parent == Path(mounts["tls"]) for f in ("tls-cert", "peer-key")),
          f"{label}: the TLS files are under the Secret's mount")
    check("secret" in volumes["tls"], f"{label}: TLS comes from a Secret")
    (acl,) = by_kind["ConfigMap"]
    check(volumes["acl"]["configMap"]["name"] == acl["metadata"]["name"],
          f"{label}: the ACL volume is the ConfigMap")
    for flag, key in [("acl-model", "model.conf"), ("acl-policy", "policy.csv")]:
        check(args[flag] == f"{mounts['acl']}/{key}" and key in acl["data"],
              f"{label}: --{flag} is the ConfigMap's {key}")
    if "acl" not in values:
        for key, path in [("model.conf", "policies/model.conf"), ("policy.csv", "policies/policy.csv")]:
            check(acl["data"][key] == (REPO / path).read_text(),
                  f"{label}: the default {key} is the repository's {path}")
    check(args["data-dir"] == mounts["data"], f"{label}: --data-dir is the volume's mount")
    (claim,) = spec["volumeClaimTemplates"]
    check(claim["metadata"]["name"] == "data", f"{label}: the data volume is a per-pod claim")

    # The user, the filesystem, the shutdown.
    user = image["user"][0]
    check(str(pod["securityContext"]["runAsUser"]) == user.split(":")[0],
          f"{label}: runAsUser is the image's USER {user}")
    check(container["securityContext"]["readOnlyRootFilesystem"] is True
          and container["securityContext"]["capabilities"]["drop"] == ["ALL"],
          f"{label}: read-only root filesystem, no capabilities")
    check(pod["terminationGracePeriodSeconds"] > 2 * seconds(args["shutdown-grace"]),
          f"{label}: terminationGracePeriodSeconds leaves time for --shutdown-grace and the drain")
    pdbs = by_kind.get("PodDisruptionBudget", [])
    check(len(pdbs) == 1 and pdbs[0]["spec"]["selector"]["matchLabels"]
          == spec["selector"]["matchLabels"], f"{label}: a PodDisruptionBudget for these pods")
    check(f"{sts['metadata']['name']}" in notes, f"{label}: NOTES.txt renders")
# ANCHOR_END: consistency


def main() -> int:
    print(f"Helm {helm.helm_sdk_version()} (helm-python-sdk), kubernetes-validate "
          f"{kubernetes_validate.__version__}, chart {CHART.relative_to(REPO)}")
    print("\n== Dockerfile, .dockerignore, chart README")
    before = passed
    check_image()
    readme = (CHART / "README.md").read_text()
    check(all(key in readme for key in SECRET_KEYS), "the chart README names every Secret key")
    print(f"  {passed - before} checks passed")

    value_sets = [("default values", {})] + [
        (f"ci/{path.name}", yaml.safe_load(path.read_text()) or {})
        for path in sorted((CHART / "ci").glob("*.yaml"))
    ]
    for label, values in value_sets:
        print(f"\n== {label}")
        try:
            lint(values, label)
            objects, notes = render(values)
        except helm.HelmError as e:  # a template that does not render
            check(False, f"{label}: {type(e).__name__}: {e}")
            continue
        print(f"  rendered {len(objects)} objects: "
              + ", ".join(f"{o['kind']}/{o['metadata']['name']}" for o in objects))
        validate(objects, label)
        before = passed
        try:
            consistency(objects, notes, values, label)
        except (KeyError, StopIteration, ValueError) as e:  # something is missing
            check(False, f"{label}: {type(e).__name__} {e} (a missing object, flag or key)")
        print(f"  {passed - before} consistency checks passed")

    if failures:
        print(f"\ncheck-chart: {len(failures)} check(s) failed:", *failures, sep="\n  ")
        return 1
    print(f"\ncheck-chart: all {passed} checks passed (the Dockerfile, and the chart "
          f"with {len(value_sets)} value sets)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
