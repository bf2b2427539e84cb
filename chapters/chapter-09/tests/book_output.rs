//! The output chapter 9 of the book shows, made by running the real
//! `proglog` binary and compared with the files in `tests/output/` (see
//! `tests/support/book_output.rs` at the root of the repository): the help,
//! the one line a server prints for each setting that cannot work, and what
//! a cluster of one and a cluster of three look like to `proglog produce`,
//! `consume` and `cluster status`.
//!
//! What changes from run to run is replaced before the comparison: the
//! test's temporary directory is `<dir>`, and the port node N was given is
//! `<port N>` (the servers run on free ports of 127.0.0.1, never on fixed
//! ones, so that the test can run beside others).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

#[path = "../../../tests/support/book_output.rs"]
mod book_output;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use chapter_05::testing::{free_addr, refusal_line, repository, stderr, stdout};
use chapter_09::cli::{Cli, ClusterCommand, Command as Subcommand, StatusArgs};
use chapter_09::status::{Row, rows, table};
use clap::Parser;

/// The binary under test.
const PROGLOG: &str = env!("CARGO_BIN_EXE_proglog");

/// Compares `actual` with `tests/output/NAME.txt`.
fn assert_output(name: &str, actual: &str) {
    book_output::assert_output(env!("CARGO_MANIFEST_DIR"), name, actual);
}

/// `proglog ARGS`, with none of the caller's `PROGLOG_*` variables (each
/// is a setting), and help that is never wrapped: with clap's `wrap_help`
/// feature on (the workspace's dependencies turn it on when they are built
/// together), help is wrapped to `COLUMNS`, else to 100 columns.
fn proglog(args: &[&str]) -> Command {
    let mut command = Command::new(PROGLOG);
    for (name, _) in std::env::vars() {
        if name.starts_with("PROGLOG_") {
            command.env_remove(name);
        }
    }
    command
        .args(args)
        .env("COLUMNS", "1000")
        .stdin(Stdio::null());
    command
}

/// Runs `proglog ARGS` to the end, for at most 20 s.
fn run(mut command: Command) -> Output {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{command:?} did not finish in 20 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// `text` with each address of `nodes` (node 1 first) as `127.0.0.1:<port N>`.
fn without_ports(text: &str, nodes: &[SocketAddr]) -> String {
    nodes
        .iter()
        .enumerate()
        .fold(text.to_string(), |text, (n, addr)| {
            text.replace(&addr.to_string(), &format!("127.0.0.1:<port {}>", n + 1))
        })
}

// ANCHOR: help
// `proglog --help` lists the commands; `proglog serve -h` adds a "Cluster"
// section to chapter 5's settings, each also a variable.
#[test]
fn book_shows_the_help() {
    let help = run(proglog(&["--help"]));
    assert!(help.status.success());
    assert_output("help", &stdout(&help));

    let serve = stdout(&run(proglog(&["serve", "-h"])));
    let cluster = serve
        .split_once("\nCluster:\n")
        .map(|(_, section)| format!("Cluster:\n{section}"))
        .expect("a Cluster section in `proglog serve -h`");
    assert_output("serve_help_cluster", &cluster);
}
// ANCHOR_END: help

/// What `proglog serve ARGS` prints when it refuses to start, run from the
/// repository's root (so that `certs/...` are its files) with a free
/// `--addr` and `--data-dir DIR/data` unless `args` give their own: its one
/// line of error, with `<dir>` for `dir`.
fn refusal(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let addr = free_addr().to_string();
    let data = dir.join("data").display().to_string();
    let mut all = vec!["serve"];
    for (flag, value) in [("--addr", &addr), ("--data-dir", &data)] {
        if !args.contains(&flag) {
            all.extend([flag, value.as_str()]);
        }
    }
    all.extend(args);
    let mut command = proglog(&all);
    command.current_dir(repository()).envs(env.iter().copied());
    let output = run(command);
    refusal_line(&output, dir)
}

/// A case's arguments, and the variables it sets.
type Args<'a> = &'a [&'a str];
type Env<'a> = &'a [(&'a str, &'a str)];

// ANCHOR: bad_cases
// Every combination of cluster settings that cannot work is one line, before
// anything starts, whether it came from a flag, a variable or the file.
#[test]
fn book_shows_the_bad_cluster_settings() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("proglog.toml");
    std::fs::write(&config, "[cluster]\nnode = 2\n").unwrap();
    let config = config.display().to_string();
    let join = "--join=127.0.0.1:8400";
    let tls = [
        "--tls-cert=certs/server.pem",
        "--tls-key=certs/server-key.pem",
        "--tls-ca=certs/ca.pem",
        "--acl-model=policies/model.conf",
        "--acl-policy=policies/policy.csv",
        "--node-id=2",
        join,
    ];
    #[rustfmt::skip]
    let cases: [(Args, Env); 12] = [
        (&["--dev", "--bootstrap", "--bootstrap-expect", "3", join], &[]),
        (&["--dev", "--bootstrap", join], &[]),
        (&["--dev"], &[("PROGLOG_BOOTSTRAP_EXPECT", "3")]),
        (&["--dev", "--bootstrap-expect", "0", join], &[]),
        (&["--insecure", join], &[]),
        (&tls, &[]),
        (&["--dev", "--peer-cert", "peer.pem", join], &[]),
        (&["--dev", "--addr", "0.0.0.0:8400", join], &[]),
        (&["--dev", "--advertise-addr", "db-0", join], &[]),
        (&["--dev", "--heartbeat", "500ms", join], &[]),
        (&["--dev", "--election-timeout", "7"], &[]),
        (&["--dev", "--config", &config], &[]),
    ];
    // ANCHOR_END: bad_cases
    // ANCHOR: bad_run
    let mut out = Vec::new();
    for (args, env) in cases {
        let env_shown: String = env.iter().map(|(k, v)| format!("{k}={v} ")).collect();
        let args_shown = args
            .join(" ")
            .replace(&dir.path().display().to_string(), "<dir>");
        out.push(format!("$ {env_shown}proglog serve {args_shown}"));
        out.push(refusal(dir.path(), args, env));
    }
    assert_output("bad_cluster_settings", &out.join("\n"));
}
// ANCHOR_END: bad_run

// A data directory of chapter 5's single server is refused by name: a
// cluster server keeps its two logs in raft/ and records/ below it.
#[test]
fn book_shows_a_single_server_log_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("00000000000000000000.store"), b"").unwrap();
    assert_output("single_server_log", &refusal(dir.path(), &["--dev"], &[]));
}

/// A `proglog serve --dev` process on `addr`, with its data in
/// `dir/nN`, logging to `dir/nN.log`. Killed when dropped.
struct Node {
    child: Child,
    log_file: PathBuf,
}

impl Node {
    /// Starts node `id` and waits (up to 20 s) until it logs that it serves.
    fn start(dir: &Path, id: u64, addr: SocketAddr, args: &[&str]) -> Node {
        let data = dir.join(format!("n{id}")).display().to_string();
        let log_file = dir.join(format!("n{id}.log"));
        let addr = addr.to_string();
        let child = proglog(
            &[
                &["serve", "--dev", "--addr", &addr, "--data-dir", &data][..],
                args,
            ]
            .concat(),
        )
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_file).unwrap())
        .spawn()
        .unwrap();
        let mut node = Node { child, log_file };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !node.log().contains("chapter_09::server: serving") {
            if let Some(status) = node.child.try_wait().unwrap() {
                panic!("node {id} exited with {status}:\n{}", node.log());
            }
            assert!(
                Instant::now() < deadline,
                "node {id} did not serve:\n{}",
                node.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        node
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log_file).unwrap_or_default()
    }

    /// The first line of its log that contains `needle`, without its
    /// timestamp.
    fn log_line(&self, needle: &str) -> String {
        let log = self.log();
        let line = log.lines().find(|line| line.contains(needle));
        let line = line.unwrap_or_else(|| panic!("no {needle:?} in:\n{log}"));
        line.split_once(' ')
            .map_or(line, |(_, rest)| rest.trim_start())
            .to_string()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `proglog cluster status --dev --addr ADDR`, as arguments.
fn status_args(addr: SocketAddr) -> StatusArgs {
    let cli = Cli::parse_from([
        "proglog",
        "cluster",
        "status",
        "--dev",
        "--addr",
        &addr.to_string(),
    ]);
    match cli.command {
        Subcommand::Cluster(ClusterCommand::Status(args)) => args,
        other => panic!("parsed as {other:?}"),
    }
}

/// Asks `addr` for the cluster's status until `settled` holds for the rows
/// (up to 20 s): the table then, as `proglog cluster status` prints it,
/// checked against what the command itself prints.
async fn settled_status(addr: SocketAddr, settled: impl Fn(&[Row]) -> bool) -> Vec<Row> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(rows) = rows(&status_args(addr)).await
            && settled(&rows)
        {
            let printed = run(proglog(&[
                "cluster",
                "status",
                "--dev",
                "--addr",
                &addr.to_string(),
            ]));
            assert!(printed.status.success(), "{}", stderr(&printed));
            assert_eq!(
                stdout(&printed),
                table(&rows),
                "the command prints the table"
            );
            return rows;
        }
        assert!(Instant::now() < deadline, "the cluster did not settle");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every server answers, one leads, and every log holds `records` records.
fn all_caught_up(rows: &[Row], servers: usize, records: u64) -> bool {
    let answered: Vec<_> = rows.iter().filter_map(|row| row.itself.as_ref()).collect();
    answered.len() == servers
        && answered.iter().filter(|server| server.is_leader).count() == 1
        && answered
            .iter()
            .all(|server| server.next_offset == Some(records))
}

/// The table, with the rows' addresses as `127.0.0.1:<port N>` (before the
/// columns are padded, so that they still line up).
fn shown(rows: &[Row], nodes: &[SocketAddr]) -> String {
    let mut rows = rows.to_vec();
    for row in &mut rows {
        for server in std::iter::once(&mut row.listed).chain(row.itself.as_mut()) {
            server.rpc_addr = without_ports(&server.rpc_addr, nodes);
            server.gossip_addr = without_ports(&server.gossip_addr, nodes);
        }
    }
    table(&rows)
}

// ANCHOR: one
// With no cluster flags a server is a cluster of one: it leads, and the
// client commands work as they did against chapter 5's server.
#[tokio::test]
async fn book_shows_a_cluster_of_one() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let _node = Node::start(dir.path(), 1, addr, &[]);
    // Formed: in the first milliseconds after `serving`, Raft may not have
    // elected its one voter yet, and the server knows no servers.
    settled_status(addr, |rows| all_caught_up(rows, 1, 0)).await;
    let a = addr.to_string();
    let produced = run(proglog(&[
        "produce", "--dev", "--addr", &a, "hello", "world",
    ]));
    assert!(produced.status.success(), "{}", stderr(&produced));
    assert_output("one_produce", &stdout(&produced));
    let consumed = run(proglog(&["consume", "--dev", "--addr", &a, "--from", "0"]));
    assert_output("one_consume", &stdout(&consumed));
    let rows = settled_status(addr, |rows| all_caught_up(rows, 1, 2)).await;
    assert_output("one_status", &shown(&rows, &[addr]));
}
// ANCHOR_END: one

// ANCHOR: three_a
// Three servers started alike form one cluster; a record produced through
// any of them is read from any other; `cluster status` shows every server,
// and a server that is down as unreachable.
#[tokio::test]
async fn book_shows_a_cluster_of_three() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let addrs = [free_addr(), free_addr(), free_addr()];
    let join = format!("--join={}", addrs[0]);
    let mut nodes: Vec<Node> = (1..=3)
        .map(|id| {
            let id_text = id.to_string();
            let args = ["--node-id", &id_text, "--bootstrap-expect", "3", &join];
            Node::start(dir.path(), id, addrs[id as usize - 1], &args)
        })
        .collect();
    // Formed: every server answers, and one leads.
    settled_status(addrs[0], |rows| all_caught_up(rows, 3, 0)).await;
    let (second, third) = (addrs[1].to_string(), addrs[2].to_string());
    let produced = run(proglog(&[
        "produce", "--dev", "--addr", &second, "hello", "world",
    ]));
    assert!(produced.status.success(), "{}", stderr(&produced));
    assert_output("three_produce", &stdout(&produced));
    let consumed = run(proglog(&[
        "consume", "--dev", "--addr", &third, "--from", "0",
    ]));
    assert_output("three_consume", &stdout(&consumed));
    let rows = settled_status(addrs[0], |rows| all_caught_up(rows, 3, 2)).await;
    assert_output("three_status", &shown(&rows, &addrs));
    // ANCHOR_END: three_a

    // ANCHOR: three_b

    drop(nodes.pop()); // kill -9 of node 3
    let rows = settled_status(addrs[0], |rows| {
        rows.len() == 3 && rows[2].itself.is_none() && all_caught_up(&rows[..2], 2, 2)
    })
    .await;
    assert_output("three_status_one_down", &shown(&rows, &addrs));

    let first = &nodes[0];
    let log = [
        first.log_line("chapter_09::server: serving"),
        first.log_line("forming the cluster"),
    ];
    let log =
        without_ports(&log.join("\n"), &addrs).replace(&dir.path().display().to_string(), "<dir>");
    assert_output("three_log", &log);
}
// ANCHOR_END: three_b
