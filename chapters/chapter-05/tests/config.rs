//! Configuration: flag over environment over file over default, and every
//! bad setting is one clear line and a non-zero exit, never a panic.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{PROGLOG, free_addr, repo};
use rstest::rstest;

/// Runs `proglog serve ARGS` expecting it to fail at startup: returns its
/// one line of error, with the temporary directory replaced by `<dir>`.
fn startup_error(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let output = Command::new(PROGLOG)
        .arg("serve")
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(!output.status.success(), "proglog serve {args:?} started");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "{stderr}"
    );
    // Log lines may come first; the error is the one line the binary prints.
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|line| line.starts_with("proglog: "))
        .collect();
    assert_eq!(lines.len(), 1, "one line of error, not:\n{stderr}");
    lines[0].replace(&dir.display().to_string(), "<dir>")
}

// ANCHOR: bad_settings_start
// Each bad setting names itself.
#[test]
fn bad_settings_are_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = d.join("data");
    let data = data.to_str().unwrap();
    let addr = free_addr().to_string();
    let base = ["--addr", &addr, "--data-dir", data];
    let run = |extra: &[&str]| startup_error(d, &[&base[..], extra].concat(), &[]);

    insta::assert_snapshot!(run(&[]), @"proglog: missing setting --tls-cert (or PROGLOG_TLS_CERT, or tls-cert in the --config file); --dev uses the development files, --insecure serves without TLS");
    insta::assert_snapshot!(run(&["--dev", "--sync", "sometimes"]), @r#"proglog: --sync: unknown sync policy "sometimes": use os, always, every=N or interval=DURATION"#);
    // ANCHOR_END: bad_settings_start
    insta::assert_snapshot!(run(&["--dev", "--max-record-bytes", "2MiB", "--segment-bytes", "1MiB"]), @"proglog: --segment-bytes 1048576 cannot hold a record of --max-record-bytes 2097152 (plus 12 bytes of framing)");

    let huge = run(&["--insecure", "--max-record-bytes", "18446744073709551615"]);
    assert_eq!(
        huge,
        "proglog: --max-record-bytes 18446744073709551615 is more than a gRPC message may carry here (1073741824)"
    );

    std::fs::write(d.join("garbage.pem"), "not a certificate").unwrap();
    let garbage = d.join("garbage.pem");
    insta::assert_snapshot!(run(&["--dev", "--tls-cert", garbage.to_str().unwrap()]), @r#"proglog: certificate file <dir>/garbage.pem: not a PEM certificate: no "BEGIN CERTIFICATE" block"#);

    std::fs::write(d.join("policy.csv"), "p, root, *\n").unwrap();
    let policy = d.join("policy.csv");
    insta::assert_snapshot!(run(&["--dev", "--acl-policy", policy.to_str().unwrap()]), @"proglog: ACL policy file <dir>/policy.csv, line 1: expected p and 3 fields, found 2 fields");

    std::fs::write(d.join("not-a-dir"), "").unwrap();
    let file = d.join("not-a-dir");
    let error = startup_error(
        d,
        &[
            "--dev",
            "--addr",
            &addr,
            "--data-dir",
            file.to_str().unwrap(),
        ],
        &[],
    );
    assert!(
        error.starts_with(
            "proglog: opening the log in <dir>/not-a-dir: creating log directory <dir>/not-a-dir:"
        ),
        "{error}"
    );

    let config = d.join("proglog.toml");
    std::fs::write(&config, "addr = \"127.0.0.1:1\"\nsegment-size = 10\n").unwrap();
    let error = run(&["--dev", "--config", config.to_str().unwrap()]);
    assert!(
        error.starts_with(
            "proglog: config file <dir>/proglog.toml, line 2: unknown field `segment-size`"
        ),
        "{error}"
    );
}

// An address in use is named.
#[test]
fn an_address_in_use_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let data = dir.path().join("data");
    let error = startup_error(
        dir.path(),
        &[
            "--dev",
            "--addr",
            &addr,
            "--data-dir",
            data.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(
        error,
        format!("proglog: cannot listen on {addr}: Address already in use (os error 98)")
    );
}

// Precedence: a flag beats the environment, which beats the file, which
// beats the default. Shown with the data directory, which each layer sets.
#[rstest]
#[case::flag_beats_all(true, true, "flag")]
#[case::environment_beats_file(false, true, "env")]
#[case::file_beats_default(false, false, "file")]
fn settings_precedence(#[case] flag: bool, #[case] env: bool, #[case] winner: &str) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let config = d.join("proglog.toml");
    std::fs::write(
        &config,
        format!(
            "data-dir = \"{}\"\nretention-interval = \"1s\"\n",
            d.join("file").display()
        ),
    )
    .unwrap();
    let flag_dir = d.join("flag");
    let env_dir = d.join("env");
    let mut args = vec!["--dev", "--config", config.to_str().unwrap()];
    if flag {
        args.extend(["--data-dir", flag_dir.to_str().unwrap()]);
    }
    let env_pairs: Vec<(&str, &str)> = if env {
        vec![("PROGLOG_DATA_DIR", env_dir.to_str().unwrap())]
    } else {
        vec![]
    };
    // ServerProcess passes its own --data-dir; start by hand here instead.
    let addr = free_addr().to_string();
    let log_path = d.join("server.log");
    let mut child = Command::new(PROGLOG)
        .arg("serve")
        .args(&args)
        .args(["--addr", &addr])
        .envs(env_pairs.iter().copied())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(&addr).is_err() {
        assert!(
            Instant::now() < deadline,
            "{}",
            std::fs::read_to_string(&log_path).unwrap()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        d.join(winner).join("LOCK").exists(),
        "the {winner} data dir is used"
    );
    for other in ["flag", "env", "file"]
        .into_iter()
        .filter(|other| *other != winner)
    {
        assert!(!d.join(other).exists(), "{other} must lose to {winner}");
    }
    Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(child.wait().unwrap().success());
}

// `serve --help` documents every setting with its environment variable.
#[test]
fn help_documents_every_setting() {
    let output = Command::new(PROGLOG)
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    for setting in [
        "data-dir",
        "addr",
        "tls-cert",
        "tls-key",
        "tls-ca",
        "acl-model",
        "acl-policy",
        "sync",
        "max-record-bytes",
        "segment-bytes",
        "index-bytes",
        "retention-bytes",
        "retention-age",
        "metrics-addr",
        "log-format",
        "config",
        "dev",
        "insecure",
    ] {
        assert!(
            help.contains(&format!("--{setting}")),
            "--{setting} missing from:\n{help}"
        );
        let env = format!("PROGLOG_{}", setting.to_uppercase().replace('-', "_"));
        assert!(help.contains(&env), "{env} missing from:\n{help}");
    }
    let _ = repo("certs");
}

// ANCHOR: nonsense_settings
// Settings that cannot work are refused before anything starts, each with
// one line that names it: none panics, none is accepted to fail later.
#[rstest]
#[case::zero_interval(&["--sync", "interval=0ms"], "proglog: --sync: sync policy \"interval=0ms\": the interval must be longer than 0 (use always to sync every record)")]
#[case::no_record_bytes(&["--max-record-bytes", "0"], "proglog: --max-record-bytes must be at least 1")]
#[case::tiny_index(&["--index-bytes", "12"], "proglog: --index-bytes 12 is outside 1024..=1073741824 (1KiB to 1GiB: 8 bytes per record, 128 records to 134 million per segment)")]
#[case::huge_index(&["--index-bytes", "1000GiB"], "proglog: --index-bytes 1073741824000 is outside 1024..=1073741824 (1KiB to 1GiB: 8 bytes per record, 128 records to 134 million per segment)")]
#[case::huge_segment(&["--segment-bytes", "18446744073709551615"], "proglog: --segment-bytes 18446744073709551615 is more than the largest segment this server makes (1099511627776, 1TiB)")]
#[case::no_retention(&["--retention-bytes", "0"], "proglog: --retention-bytes 0 is less than one segment (--segment-bytes 1073741824): retention deletes whole segments, so the log could never be that small")]
fn settings_that_cannot_work_are_refused(#[case] setting: &[&str], #[case] line: &str) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let addr = free_addr().to_string();
    let args = [
        &[
            "--dev",
            "--addr",
            &addr,
            "--data-dir",
            data.to_str().unwrap(),
        ],
        setting,
    ]
    .concat();
    assert_eq!(startup_error(dir.path(), &args, &[]), line);
}
// ANCHOR_END: nonsense_settings

// A flag or variable that says `false` turns off what the config file
// turned on: PROGLOG_INSECURE=false over `insecure = true` serves with TLS
// (and so needs its files), as the documented precedence says.
#[rstest]
#[case::environment(&[], &[("PROGLOG_INSECURE", "false")])]
#[case::flag(&["--insecure=false"], &[])]
fn false_overrides_the_file(#[case] flags: &[&str], #[case] env: &[(&str, &str)]) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("proglog.toml");
    std::fs::write(&config, "insecure = true\n").unwrap();
    let addr = free_addr().to_string();
    let args = [
        &["--config", config.to_str().unwrap(), "--addr", &addr],
        flags,
    ]
    .concat();
    let error = startup_error(dir.path(), &args, env);
    assert!(
        error.starts_with("proglog: missing setting --tls-cert"),
        "{error}"
    );
}

// A cause is said once, however many layers wrap it.
#[test]
fn an_error_and_its_causes_are_said_once() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "").unwrap();
    let addr = free_addr().to_string();
    let error = startup_error(
        dir.path(),
        &[
            "--dev",
            "--addr",
            &addr,
            "--data-dir",
            file.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(
        error,
        "proglog: opening the log in <dir>/not-a-dir: creating log directory <dir>/not-a-dir: File exists (os error 17)"
    );
}
