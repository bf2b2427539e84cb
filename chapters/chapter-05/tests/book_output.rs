//! The output chapter 5 of the book shows, made by running the real
//! `proglog` binary and compared with the files in `tests/output/` (see
//! `tests/support/book_output.rs` at the root of the repository).
//!
//! What changes from run to run is replaced before the comparison: log
//! lines lose their timestamps; the test's temporary directory is `<dir>`,
//! the server's address `<addr>`, a call's duration `<ms>`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

mod common;

#[path = "../../../tests/support/book_output.rs"]
mod book_output;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{ServerProcess, binary, cli, free_addr, refusal_line, repo, scrape, stderr, stdout};

/// Compares `actual` with `tests/output/NAME.txt`.
fn assert_output(name: &str, actual: &str) {
    book_output::assert_output(env!("CARGO_MANIFEST_DIR"), name, actual);
}

/// A log, as the book shows it: no timestamps, and `<dir>`, `<addr>` and
/// `<ms>` for what changes from run to run.
fn stable(log: &str, dir: &Path, addr: SocketAddr) -> Vec<String> {
    log.lines()
        .map(|line| {
            let line = match line.split_once(' ') {
                // Text lines start with an RFC 3339 timestamp.
                Some((first, rest)) if first.len() > 20 && first.ends_with('Z') => {
                    rest.trim_start()
                }
                _ => line,
            };
            let line = line
                .replace(&dir.display().to_string(), "<dir>")
                .replace(&addr.to_string(), "<addr>");
            let line = replace_number(&line, "duration_ms=", "<ms>");
            let line = replace_number(&line, "\"duration_ms\":", "<ms>");
            let line = replace_word(&line, "files=", "<dev>");
            replace_timestamp(&line)
        })
        .collect()
}

/// `text` with the word after each `marker` (up to the next space)
/// replaced by `placeholder`: the development files' temporary directory.
fn replace_word(text: &str, marker: &str, placeholder: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(marker) {
        let start = at + marker.len();
        out.push_str(&rest[..start]);
        out.push_str(placeholder);
        let end = rest[start..]
            .find(' ')
            .map_or(rest.len(), |space| start + space);
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// `text` with the number after each `marker` replaced by `placeholder`.
fn replace_number(text: &str, marker: &str, placeholder: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(marker) {
        let start = at + marker.len();
        let end = rest[start..]
            .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == 'e' || c == '-'))
            .map_or(rest.len(), |n| start + n);
        out.push_str(&rest[..start]);
        out.push_str(placeholder);
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// A JSON line's `"timestamp":"..."` as `"timestamp":"<time>"`.
fn replace_timestamp(line: &str) -> String {
    const MARKER: &str = "\"timestamp\":\"";
    match line.find(MARKER) {
        Some(at) => {
            let start = at + MARKER.len();
            let end = line[start..].find('"').map_or(line.len(), |n| start + n);
            format!("{}<time>{}", &line[..start], &line[end..])
        }
        None => line.to_string(),
    }
}

/// Waits (up to 20 s) until `read()` has a line containing each of
/// `needles`, and returns what it read.
fn wait_for(read: impl Fn() -> String, needles: &[&str]) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = read();
        if needles.iter().all(|needle| text.contains(needle)) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "waited for {needles:?} in:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `proglog serve ARGS` started in `dir`, with no `--data-dir` (so the log
/// goes to `./data`, as on a first run), logging to `dir/server.log`.
struct FirstRun {
    child: Child,
    addr: SocketAddr,
    log_file: std::path::PathBuf,
}

impl FirstRun {
    fn start(dir: &Path, args: &[&str]) -> FirstRun {
        let addr = free_addr();
        let log_file = dir.join("server.log");
        let child = binary()
            .command(&[&["serve", "--addr", &addr.to_string()][..], args].concat())
            .current_dir(dir)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log_file).unwrap())
            .spawn()
            .unwrap();
        let run = FirstRun {
            child,
            addr,
            log_file,
        };
        wait_for(|| run.log(), &["serving"]);
        run
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log_file).unwrap_or_default()
    }
}

impl Drop for FirstRun {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// The first run of the chapter: `serve --dev`, then `produce` and
// `consume` as root, and what the server logs; then `nobody`'s refusal.
#[test]
fn book_shows_a_first_run() {
    let dir = tempfile::tempdir().unwrap();
    let server = FirstRun::start(dir.path(), &["--dev"]);
    let addr = server.addr.to_string();
    let produced = cli(
        &["produce", "--dev", "--addr", &addr, "hello", "world"],
        None,
    );
    assert!(produced.status.success(), "{}", stderr(&produced));
    assert_output("first_run_produce", &stdout(&produced));
    let consumed = cli(&["consume", "--dev", "--addr", &addr, "--from", "0"], None);
    assert_output("first_run_consume", &stdout(&consumed));

    let ca = common::cert("ca.pem");
    let (cert, key) = (
        common::cert("nobody-client.pem"),
        common::cert("nobody-client-key.pem"),
    );
    let nobody = cli(
        &[
            "produce",
            "--addr",
            &addr,
            "--tls-ca",
            ca.to_str().unwrap(),
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
            "let me in",
        ],
        None,
    );
    assert!(!nobody.status.success());

    let log = wait_for(|| server.log(), &["\"nobody\""]);
    let lines = stable(&log, dir.path(), server.addr);
    let (startup, calls): (Vec<String>, Vec<String>) =
        lines.into_iter().partition(|line| !line.contains("rpc"));
    assert_output("first_run_server_log", &startup.join("\n"));
    let produces: Vec<&String> = calls
        .iter()
        .filter(|line| line.contains("method=Produce"))
        .collect();
    assert_eq!(produces.len(), 3, "{calls:?}");
    assert_output(
        "first_run_rpc_log",
        &produces
            .iter()
            .map(|line| line.as_str())
            .collect::<Vec<_>>()
            .join("\n"),
    );
}

// `--insecure` says so first.
#[test]
fn book_shows_the_insecure_warning() {
    let dir = tempfile::tempdir().unwrap();
    let server = FirstRun::start(dir.path(), &["--insecure"]);
    let lines = stable(&server.log(), dir.path(), server.addr);
    assert_output("insecure_warning", &lines[0]);
}

// `proglog serve -h`: every setting, with its variable and default.
// Unwrapped: when clap's `wrap_help` feature is on (the workspace's
// dependencies turn it on when they are built together), help is wrapped
// to the terminal or to `COLUMNS`, else to 100 columns; a wide `COLUMNS`
// makes the help the same either way.
#[test]
fn book_shows_the_help_of_serve() {
    let help = binary()
        .command(&["serve", "-h"])
        .env("COLUMNS", "1000")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(help.status.success());
    assert_output("serve_help", &stdout(&help));
}

/// Runs `proglog serve ARGS` expecting it to fail at startup, and returns
/// its one line of error, `<dir>` for the temporary directory.
fn startup_error(dir: &Path, args: &[&str]) -> String {
    let output = binary()
        .command(&[&["serve"][..], args].concat())
        .current_dir(dir)
        .output()
        .unwrap();
    refusal_line(&output, dir)
}

// One clear line for each bad setting, in the order the book lists them.
#[test]
fn book_shows_the_bad_settings() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let addr = free_addr().to_string();
    let data = d.join("data").display().to_string();
    std::fs::write(d.join("garbage.pem"), "not a certificate").unwrap();
    std::fs::write(d.join("policy.csv"), "p, root, *\n").unwrap();
    std::fs::write(
        d.join("proglog.toml"),
        "addr = \"127.0.0.1:8400\"\nsegment-size = 10\n",
    )
    .unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_addr = taken.local_addr().unwrap().to_string();
    let base = ["--addr", addr.as_str(), "--data-dir", data.as_str()];
    let cases: [&[&str]; 8] = [
        &[],
        &["--dev", "--sync", "sometimes"],
        &[
            "--dev",
            "--max-record-bytes",
            "2MiB",
            "--segment-bytes",
            "1MiB",
        ],
        &["--dev", "--retention-age", "7"],
        &["--dev", "--tls-cert", "garbage.pem"],
        &["--dev", "--acl-policy", "policy.csv"],
        &["--dev", "--config", "proglog.toml"],
        &["--dev", "--addr", taken_addr.as_str()],
    ];
    let lines: Vec<String> = cases
        .iter()
        .map(|extra| {
            // The last case brings its own address.
            let base = if extra.contains(&"--addr") {
                &base[2..]
            } else {
                &base[..]
            };
            let args = [base, extra].concat();
            startup_error(d, &args).replace(&taken_addr, "<addr>")
        })
        .collect();
    assert_output("bad_settings", &lines.join("\n"));
}

// After a SIGKILL and half a record appended to the store, the next start
// says what it repaired.
#[test]
fn book_shows_a_recovery() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path(), &["--dev"]);
    assert!(server.cli(&["produce", "hello", "world"]).status.success());
    let mut server = server;
    server.signal("KILL");
    server.wait(Duration::from_secs(20));
    let store = server.data_dir.join("00000000000000000000.store");
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&store)
        .unwrap();
    file.write_all(&[0u8; 10]).unwrap(); // half a record header
    drop(file);

    let server = ServerProcess::start(dir.path(), &["--dev"]);
    let lines = stable(&server.log(), dir.path(), server.addr);
    let repairs: Vec<&String> = lines
        .iter()
        .filter(|line| line.contains("recovered"))
        .collect();
    assert!(!repairs.is_empty(), "{lines:?}");
    assert_output(
        "recovery",
        &repairs
            .iter()
            .map(|line| line.as_str())
            .collect::<Vec<_>>()
            .join("\n"),
    );
}

// SIGHUP reloads the policy; a broken policy is refused and the old one stays.
#[test]
fn book_shows_a_policy_reload() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.csv");
    let granted = std::fs::read_to_string(repo("policies/policy.csv")).unwrap();
    std::fs::write(&policy, &granted).unwrap();
    let server = ServerProcess::start(
        dir.path(),
        &["--dev", "--acl-policy", policy.to_str().unwrap()],
    );
    std::fs::write(&policy, format!("{granted}p, nobody, *, consume\n")).unwrap();
    server.signal("HUP");
    wait_for(|| server.log(), &["ACL reloaded"]);
    std::fs::write(&policy, format!("{granted}p, nobody\n")).unwrap();
    server.signal("HUP");
    let log = wait_for(|| server.log(), &["ACL not reloaded"]);
    let lines: Vec<String> = stable(&log, dir.path(), server.addr)
        .into_iter()
        .filter(|line| line.contains("SIGHUP"))
        .collect();
    assert_output("sighup", &lines.join("\n"));
}

// SIGTERM with a follower connected: what the server logs, and what the
// follower prints.
#[test]
fn book_shows_a_stop_with_a_follower() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path(), &["--dev"]);
    assert!(server.cli(&["produce", "hello"]).status.success());
    let addr = server.addr.to_string();
    let mut follower = binary()
        .command(&["consume", "--dev", "--addr", &addr, "--follow"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(follower.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert_eq!(first, "0\thello\n");

    let log_file = server.log_file.clone();
    let status = server.stop();
    assert!(status.success());
    let mut follower_error = String::new();
    follower
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut follower_error)
        .unwrap();
    assert!(!follower.wait().unwrap().success());

    let log = std::fs::read_to_string(log_file).unwrap();
    let lines = stable(&log, dir.path(), "0.0.0.0:0".parse().unwrap());
    let from_sigterm: Vec<&String> = lines
        .iter()
        .skip_while(|line| !line.contains("SIGTERM"))
        .collect();
    assert_output(
        "sigterm",
        &from_sigterm
            .iter()
            .map(|line| line.as_str())
            .collect::<Vec<_>>()
            .join("\n"),
    );
    assert_output("sigterm_follower", &follower_error);
}

// The counters after a few calls: two values produced one call each, three
// lines of standard input produced through one stream, two ordinary
// consumes and one that starts past the end.
#[test]
fn book_shows_the_counters_in_a_scrape() {
    let dir = tempfile::tempdir().unwrap();
    let metrics_addr = free_addr();
    let server = ServerProcess::start(
        dir.path(),
        &["--dev", "--metrics-addr", &metrics_addr.to_string()],
    );
    let addr = server.addr.to_string();
    assert!(server.cli(&["produce", "hello", "world"]).status.success());
    let piped = cli(&["produce", "--dev", "--addr", &addr], Some("a\nb\nc\n"));
    assert!(piped.status.success(), "{}", stderr(&piped));
    for from in ["0", "3", "9"] {
        server.cli(&["consume", "--from", from]);
    }
    let body = wait_for(
        || scrape(metrics_addr),
        &["proglog_rpcs_total{method=\"ConsumeStream\",code=\"CANCELLED\"} 2"],
    );
    // The counters and the open-streams gauge, each with its HELP and TYPE
    // lines, in a fixed order (the exporter's order is its own).
    let mut shown = Vec::new();
    for metric in [
        "proglog_records_appended_total",
        "proglog_bytes_appended_total",
        "proglog_rpcs_total",
        "proglog_open_streams",
    ] {
        let mut samples: Vec<&str> = body
            .lines()
            .filter(|line| {
                line.starts_with(&format!("{metric} ")) || line.starts_with(&format!("{metric}{{"))
            })
            .collect();
        samples.sort_unstable();
        shown.extend(body.lines().filter(|line| {
            line.starts_with(&format!("# HELP {metric} "))
                || line.starts_with(&format!("# TYPE {metric} "))
        }));
        shown.extend(samples);
    }
    assert_output("metrics_counters", &shown.join("\n"));
}

// `--log-format json`: the serving line and one call's line.
#[test]
fn book_shows_json_logs() {
    let dir = tempfile::tempdir().unwrap();
    let server = FirstRun::start(dir.path(), &["--dev", "--log-format", "json"]);
    let addr = server.addr.to_string();
    let produced = cli(&["produce", "--dev", "--addr", &addr, "hello"], None);
    assert!(produced.status.success());
    let log = wait_for(|| server.log(), &["\"message\":\"rpc\""]);
    let lines: Vec<String> = stable(&log, dir.path(), server.addr)
        .into_iter()
        .filter(|line| {
            line.contains("\"message\":\"serving\"") || line.contains("\"message\":\"rpc\"")
        })
        .collect();
    assert_output("json_logs", &lines.join("\n"));
}

// Retention: 400 records of 100 bytes in segments of 4 KiB, then a restart
// with a 16 KiB limit. The first pass, at startup, deletes what it must in
// one go; a consumer of offset 0 is told the new range.
#[test]
fn book_shows_retention() {
    let dir = tempfile::tempdir().unwrap();
    let sizes = [
        "--dev",
        "--segment-bytes",
        "4KiB",
        "--max-record-bytes",
        "1KiB",
    ];
    let server = ServerProcess::start(dir.path(), &sizes);
    let addr = server.addr.to_string();
    let input: String = (0..400).map(|n| format!("{n:0>100}\n")).collect();
    let produced = cli(&["produce", "--dev", "--addr", &addr], Some(&input));
    assert!(produced.status.success(), "{}", stderr(&produced));
    assert!(server.stop().success());

    let server = ServerProcess::start(
        dir.path(),
        &[&sizes[..], &["--retention-bytes", "16KiB"]].concat(),
    );
    let log = wait_for(|| server.log(), &["retention deleted"]);
    let lines: Vec<String> = stable(&log, dir.path(), server.addr)
        .into_iter()
        .filter(|line| line.contains("chapter_05::retention"))
        .collect();
    let consumed = server.cli(&["consume", "--from", "0"]);
    assert!(!consumed.status.success());
    lines.iter().for_each(|line| assert!(!line.is_empty()));
    assert_output(
        "retention",
        &format!("{}\n{}", lines.join("\n"), stderr(&consumed)),
    );
}

// `consume --format json`, and the two one-line errors of the client.
#[test]
fn book_shows_the_client_commands() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path(), &["--dev"]);
    assert!(server.cli(&["produce", "hello", "world"]).status.success());
    let json = server.cli(&["consume", "--from", "0", "--format", "json"]);
    assert_output("consume_json", &stdout(&json));

    let past_the_end = server.cli(&["consume", "--from", "5"]);
    assert!(!past_the_end.status.success());
    let addr = server.addr.to_string();
    let ca = common::cert("ca.pem");
    let (cert, key) = (
        common::cert("nobody-client.pem"),
        common::cert("nobody-client-key.pem"),
    );
    let nobody = cli(
        &[
            "produce",
            "--addr",
            &addr,
            "--tls-ca",
            ca.to_str().unwrap(),
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
            "hi",
        ],
        None,
    );
    assert!(!nobody.status.success());
    assert_output(
        "client_errors",
        &format!("{}{}", stderr(&past_the_end), stderr(&nobody)),
    );
}
