//! The real binary, end to end: `proglog serve` in one process, `proglog
//! produce` and `proglog consume` in others.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

mod common;

use common::{ServerProcess, cli, stderr, stdout};

// ANCHOR: cli_roundtrip
// Values on the command line and lines on stdin are produced; consume prints
// them as OFFSET<TAB>VALUE, or as JSON lines.
#[test]
fn produce_and_consume_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path(), &["--dev"]);
    let produced = server.cli(&["produce", "first", "second"]);
    assert!(produced.status.success(), "{}", stderr(&produced));
    assert_eq!(stdout(&produced), "0\n1\n");

    let addr = server.addr.to_string();
    let piped = cli(
        &["produce", "--dev", "--addr", &addr],
        Some("third\nfourth\n"),
    );
    assert!(piped.status.success(), "{}", stderr(&piped));
    assert_eq!(stdout(&piped), "2\n3\n");

    let consumed = server.cli(&["consume", "--from", "1"]);
    assert_eq!(stdout(&consumed), "1\tsecond\n2\tthird\n3\tfourth\n");
    let json = server.cli(&["consume", "--from", "2", "--count", "1", "--format", "json"]);
    assert_eq!(stdout(&json), "{\"offset\":2,\"value\":\"third\"}\n");
    assert!(server.stop().success());
}
// ANCHOR_END: cli_roundtrip

// A server error is one readable line with the code and details, and a
// non-zero exit.
#[test]
fn server_errors_are_one_line_and_exit_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path(), &["--dev"]);
    server.cli(&["produce", "only"]);
    let past_the_end = server.cli(&["consume", "--from", "5"]);
    assert!(!past_the_end.status.success());
    insta::assert_snapshot!(stderr(&past_the_end), @"proglog: OUT_OF_RANGE: offset 5 is out of range: the log holds offsets 0..1 [OFFSET_OUT_OF_RANGE lowest_offset=0 next_offset=1 offset=5]
");

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
    insta::assert_snapshot!(stderr(&nobody), @"proglog: PERMISSION_DENIED: nobody is not permitted to produce to * [PERMISSION_DENIED action=produce object=* subject=nobody]
");
}

// ANCHOR: restart
// Restarting after SIGTERM keeps every record, and exit is 0.
#[test]
fn restart_after_sigterm_keeps_every_record() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path(), &["--dev"]);
    let input: String = (0..500).map(|n| format!("record {n}\n")).collect();
    let produced = cli(
        &["produce", "--dev", "--addr", &server.addr.to_string()],
        Some(&input),
    );
    assert!(produced.status.success(), "{}", stderr(&produced));
    assert!(server.stop().success(), "SIGTERM exits 0");

    let server = ServerProcess::start(dir.path(), &["--dev"]);
    let consumed = server.cli(&["consume"]);
    let expected: String = (0..500).map(|n| format!("{n}\trecord {n}\n")).collect();
    assert_eq!(stdout(&consumed), expected);
    assert!(
        !server.log().contains("recovered"),
        "a clean stop needs no recovery:\n{}",
        server.log()
    );
}
// ANCHOR_END: restart

// No server at the address: one line naming it, and what to check.
#[test]
fn no_server_is_one_line_naming_the_address() {
    let addr = common::free_addr().to_string();
    let output = cli(&["produce", "--dev", "--addr", &addr, "hello"], None);
    assert!(!output.status.success());
    assert_eq!(
        stderr(&output),
        format!(
            "proglog: cannot connect to {addr}: connection refused (is proglog serve running there?)\n"
        )
    );
}

// ANCHOR: copied_binary
// `--dev` works from a binary copied anywhere: the development certificates
// and ACL are built into it, not looked up in the checkout it came from.
#[test]
fn dev_works_from_a_copied_binary() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("proglog");
    std::fs::copy(common::PROGLOG, &copy).unwrap();
    let binary = chapter_05::testing::Binary::at(&copy);
    let server = chapter_05::testing::ServerProcess::start(&binary, dir.path(), &["--dev"], &[]);
    assert!(
        server.log().contains("built into this binary"),
        "{}",
        server.log()
    );
    let produced = server.cli(&["produce", "from a copy"]);
    assert_eq!(stdout(&produced), "0\n", "{}", stderr(&produced));
    let consumed = server.cli(&["consume", "--from", "0"]);
    assert_eq!(stdout(&consumed), "0\tfrom a copy\n");
    assert!(server.stop().success());
}
// ANCHOR_END: copied_binary

// `produce < file` with a line over the 4 MiB message limit (5 MiB) fails,
// and says so with a non-zero exit, instead of exiting 0 after a prefix.
#[test]
fn produce_from_stdin_fails_on_an_oversized_line() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path(), &["--dev"]);
    let addr = server.addr.to_string();
    let input = format!("first\n{}\nlast\n", "x".repeat(5 << 20));
    let output = cli(&["produce", "--dev", "--addr", &addr], Some(&input));
    let error = stderr(&output);
    assert!(
        !output.status.success(),
        "exit 0 after an oversized line: {error}"
    );
    assert_eq!(error.lines().count(), 1, "{error}");
    assert!(error.contains("INVALID_ARGUMENT"), "{error}");
    let consumed = server.cli(&["consume", "--from", "0"]);
    assert!(!stdout(&consumed).contains("last"), "{}", stdout(&consumed));
}
