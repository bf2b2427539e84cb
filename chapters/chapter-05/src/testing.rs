//! The real `proglog` binary as a process, for tests (feature `testing`):
//! start a server on a free port of 127.0.0.1, wait until it listens, talk
//! to it with the CLI or with gRPC, signal it, and read what it logged.
//!
//! Tests of this crate run the built binary (`CARGO_BIN_EXE_proglog-single`).
//! Tests in other packages cannot ask cargo for another package's binary;
//! they re-run their own test executable "as proglog" instead
//! ([`Binary::this_process`] and [`run_as_proglog_if_asked`]), which runs
//! [`crate::main`], exactly what the binary's `main` runs.

#![allow(clippy::expect_used, clippy::unwrap_used)] // test support: a failure is a failed test

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use chapter_02::api::v1::log_client::LogClient;
use chapter_03::{ClientTlsFiles, client_config};
use tonic::transport::Channel;

/// The repository this crate was built from, where tests find `certs/`
/// and `policies/` (the binary itself carries them: see [`crate::dev`]).
pub fn repository() -> PathBuf {
    // chapters/chapter-05 → the repository root, without "../.." in it.
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    crate_dir
        .ancestors()
        .nth(2)
        .unwrap_or(crate_dir)
        .to_path_buf()
}

/// The environment variable that makes a test executable run as `proglog`.
pub const RUN_AS_PROGLOG: &str = "PROGLOG_TESTING_RUN_AS_PROGLOG";

/// Call first in a test's `main`: when this process was started by
/// [`Binary::this_process`], it runs `proglog` and exits.
pub fn run_as_proglog_if_asked() {
    if std::env::var_os(RUN_AS_PROGLOG).is_some() {
        let code = crate::main();
        std::process::exit(if code == std::process::ExitCode::SUCCESS {
            0
        } else {
            1
        });
    }
}

/// How to start `proglog`.
#[derive(Debug, Clone)]
pub struct Binary {
    program: PathBuf,
    env: Vec<(String, String)>,
    wrapper: Vec<String>,
}

impl Binary {
    /// The binary at `program`.
    pub fn at(program: impl Into<PathBuf>) -> Binary {
        Binary {
            program: program.into(),
            env: Vec::new(),
            wrapper: Vec::new(),
        }
    }

    /// This test executable, re-run as `proglog` (see [`run_as_proglog_if_asked`]).
    pub fn this_process() -> Binary {
        let program = std::env::current_exe().expect("the test executable's path");
        Binary::at(program).with_env(RUN_AS_PROGLOG, "1")
    }

    /// The same, with `key=value` in its environment.
    pub fn with_env(mut self, key: &str, value: &str) -> Binary {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// The same, started by a wrapper command that then runs it, such as
    /// `setpriv --regid 3101 --clear-groups --`.
    pub fn wrapped_in(mut self, wrapper: &[&str]) -> Binary {
        self.wrapper = wrapper.iter().map(ToString::to_string).collect();
        self
    }

    /// A command running the binary with `args`.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = match self.wrapper.split_first() {
            None => Command::new(&self.program),
            Some((wrapper, wrapper_args)) => {
                let mut command = Command::new(wrapper);
                command.args(wrapper_args).arg(&self.program);
                command
            }
        };
        command
            .args(args)
            .envs(self.env.iter().map(|(key, value)| (key, value)));
        command
    }

    /// Runs `proglog ARGS...` to completion, feeding `stdin` if given.
    pub fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut child = self
            .command(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("proglog starts");
        if let Some(input) = stdin {
            use std::io::Write;
            child
                .stdin
                .take()
                .expect("a stdin pipe")
                .write_all(input.as_bytes())
                .expect("proglog reads stdin");
        }
        child.wait_with_output().expect("proglog finishes")
    }
}

/// A CFSSL certificate: `$PROGLOG_CERTS_DIR` (CI's freshly made set) or the
/// repository's `certs/`.
pub fn cert(name: &str) -> PathBuf {
    match std::env::var_os("PROGLOG_CERTS_DIR") {
        Some(dir) => PathBuf::from(dir).join(name),
        None => repository().join("certs").join(name),
    }
}

/// An address of 127.0.0.1 that was free when asked, for TCP and UDP
/// alike (a server binds it next): see [`quiet_port`].
pub fn free_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], quiet_port()))
}

/// A port of 127.0.0.1 that is free for TCP and UDP, taken *below* the
/// kernel's ephemeral range (32768 and up), in a block of its own for each
/// test process, and never the same twice in one process. A port the
/// kernel picks (`bind` to port 0) is one it may also give, a moment
/// later, to an outgoing connection, or that a closed connection still
/// holds in TIME_WAIT; a server restarted on its ports must find them free.
pub fn quiet_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    const FIRST: u16 = 10_000;
    const BLOCK: u16 = 200;
    const BLOCKS: u16 = 110; // 10,000 to 32,000
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let block = (std::process::id() % u32::from(BLOCKS)) as u16;
    loop {
        let taken = NEXT.fetch_add(1, Ordering::Relaxed);
        assert!(taken < BLOCK * BLOCKS, "no free port left below 32,000");
        let port = FIRST + (block * BLOCK + taken) % (BLOCK * BLOCKS);
        let tcp = std::net::TcpListener::bind(("127.0.0.1", port));
        let udp = std::net::UdpSocket::bind(("127.0.0.1", port));
        if tcp.is_ok() && udp.is_ok() {
            return port;
        }
    }
}

/// A running `proglog serve`. Killed when dropped.
#[derive(Debug)]
pub struct ServerProcess {
    /// Where it serves gRPC.
    pub addr: SocketAddr,
    /// Its `--data-dir`.
    pub data_dir: PathBuf,
    /// Where its standard error (its log) goes.
    pub log_file: PathBuf,
    binary: Binary,
    child: Child,
}

impl ServerProcess {
    /// Starts `proglog serve --addr ADDR --data-dir DIR/data ARGS...` with
    /// `env`, and waits (up to 20 s) until it accepts connections.
    pub fn start(
        binary: &Binary,
        dir: &Path,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> ServerProcess {
        let addr = free_addr();
        let data_dir = dir.join("data");
        let log_file = dir.join(format!("server-{}.log", addr.port()));
        let addr_text = addr.to_string();
        let data_text = data_dir.display().to_string();
        let child = binary
            .command(
                &[
                    &["serve", "--addr", &addr_text, "--data-dir", &data_text][..],
                    args,
                ]
                .concat(),
            )
            .envs(env.iter().copied())
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log_file).unwrap())
            .spawn()
            .unwrap();
        let mut server = ServerProcess {
            addr,
            data_dir,
            log_file,
            binary: binary.clone(),
            child,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(server.addr).is_err() {
            if let Some(status) = server.child.try_wait().unwrap() {
                panic!("proglog serve exited with {status}:\n{}", server.log());
            }
            assert!(
                Instant::now() < deadline,
                "proglog serve did not listen:\n{}",
                server.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's resident memory now, in bytes (`VmRSS` in /proc).
    pub fn resident_bytes(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let kib: u64 = status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse().ok())
            .unwrap();
        kib * 1024
    }

    /// What the server has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_file).unwrap_or_default()
    }

    /// Sends `signal` ("TERM", "HUP", "KILL", ...) with kill(1).
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Sends SIGTERM and waits (at most 30 s) for the exit status.
    pub fn stop(mut self) -> ExitStatus {
        self.signal("TERM");
        self.wait(Duration::from_secs(30))
    }

    /// Waits at most `limit` for the process to exit.
    pub fn wait(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "proglog serve did not exit:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs a client command (`produce ...`, `consume ...`) against this
    /// server as the development `root` client.
    pub fn cli(&self, args: &[&str]) -> Output {
        let addr = self.addr.to_string();
        self.binary.run(
            &[&args[..1], &["--dev", "--addr", &addr], &args[1..]].concat(),
            None,
        )
    }

    /// A gRPC client with one of the CFSSL client certificates ("root", "nobody").
    pub async fn client(&self, name: &str) -> LogClient<Channel> {
        let files = ClientTlsFiles {
            ca: cert("ca.pem"),
            identity: Some((
                cert(&format!("{name}-client.pem")),
                cert(&format!("{name}-client-key.pem")),
            )),
        };
        chapter_03::connect_tls(self.addr, &files, "localhost")
            .await
            .unwrap()
    }

    /// A mutual-TLS channel as `root`, for other gRPC clients (health, reflection).
    pub async fn channel(&self) -> Channel {
        let identity = (cert("root-client.pem"), cert("root-client-key.pem"));
        let config = client_config(&cert("ca.pem"), Some((&identity.0, &identity.1))).unwrap();
        chapter_03::client::tls_channel(self.addr, config, "localhost")
            .await
            .unwrap()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A command's standard output, as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A command's standard error, as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The one line of error of a `proglog` that refused to start (the line
/// that starts `proglog: `; any log lines before it are ignored), with
/// `<dir>` for `dir`. Fails if it started, or said more or less than one.
pub fn refusal_line(output: &Output, dir: &Path) -> String {
    assert!(!output.status.success(), "proglog started");
    let error = stderr(output);
    let lines: Vec<&str> = error
        .lines()
        .filter(|line| line.starts_with("proglog: "))
        .collect();
    assert_eq!(lines.len(), 1, "{error}");
    lines[0].replace(&dir.display().to_string(), "<dir>")
}

/// The records a server acknowledged to producers: offset, and the value sent.
pub type Acknowledged = std::sync::Arc<std::sync::Mutex<std::collections::BTreeMap<u64, String>>>;

/// Starts `clients` producers (as `root`), each streaming records to
/// `server` as fast as it takes them until the server goes away, and
/// recording every offset acknowledged with the value it was given for.
pub async fn produce_flat_out(server: &ServerProcess, clients: u64) -> Acknowledged {
    use chapter_02::api::v1::{ProduceRequest, Record};
    use tokio_stream::StreamExt;
    let acknowledged = Acknowledged::default();
    for producer in 0..clients {
        let mut client = server.client("root").await;
        let acknowledged = std::sync::Arc::clone(&acknowledged);
        tokio::spawn(async move {
            let value = move |n: u64| format!("producer {producer} record {n}");
            let requests = (0..u64::MAX).map(move |n| ProduceRequest {
                record: Some(Record {
                    value: value(n).into_bytes(),
                    ..Record::default()
                }),
                ..ProduceRequest::default()
            });
            let Ok(responses) = client.produce_stream(tokio_stream::iter(requests)).await else {
                return;
            };
            let mut responses = responses.into_inner();
            let mut n = 0;
            while let Some(Ok(response)) = responses.next().await {
                acknowledged
                    .lock()
                    .unwrap()
                    .insert(response.offset, value(n));
                n += 1;
            }
        });
    }
    acknowledged
}

/// Waits (up to 60 s) until at least `count` records were acknowledged.
pub async fn wait_for_acknowledged(acknowledged: &Acknowledged, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while acknowledged.lock().unwrap().len() < count {
        assert!(
            Instant::now() < deadline,
            "only {} of {count} records were acknowledged",
            acknowledged.lock().unwrap().len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Checks, with one stream from offset 0, that every acknowledged offset
/// reads back from `server` with the value it was acknowledged for.
pub async fn assert_acknowledged_read_back(server: &ServerProcess, acknowledged: &Acknowledged) {
    use chapter_02::api::v1::ConsumeRequest;
    use tokio_stream::StreamExt;
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(
        acknowledged.len() > 50,
        "only {} records were acknowledged",
        acknowledged.len()
    );
    let highest = *acknowledged.keys().next_back().unwrap();
    let mut client = server.client("root").await;
    let mut records = client
        .consume_stream(ConsumeRequest { offset: 0 })
        .await
        .unwrap()
        .into_inner();
    let mut checked = 0;
    while let Some(response) = records.next().await {
        let record = response.unwrap().record.unwrap();
        if let Some(value) = acknowledged.get(&record.offset) {
            assert_eq!(
                &String::from_utf8(record.value).unwrap(),
                value,
                "offset {}",
                record.offset
            );
            checked += 1;
        }
        if record.offset == highest {
            break;
        }
    }
    assert_eq!(
        checked,
        acknowledged.len(),
        "every acknowledged offset is in the log"
    );
}

// ANCHOR: scrape
/// `GET http://addr/metrics`: the response, headers and all.
pub fn scrape(addr: SocketAddr) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).expect("the metrics endpoint listens");
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .expect("the request is sent");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("a response");
    response
}

/// The value of the sample `series` (its name and labels exactly as the
/// exporter writes them, say `proglog_rpcs_total{method="Consume",code="OK"}`)
/// in a scrape; 0 if there is none.
pub fn metric(scrape: &str, series: &str) -> f64 {
    scrape
        .lines()
        .find_map(|line| {
            line.strip_prefix(series)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0.0)
}
// ANCHOR_END: scrape
