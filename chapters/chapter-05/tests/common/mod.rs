//! The real `proglog` binary as a process on 127.0.0.1, a temporary data
//! directory, and clients for it: the CLI itself, or gRPC from the test.

#![allow(
    dead_code,
    unused_imports,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used
)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use chapter_02::api::v1::log_client::LogClient;
use chapter_03::{ClientTlsFiles, client_config};
use tonic::transport::Channel;

pub const PROGLOG: &str = env!("CARGO_BIN_EXE_proglog");

pub fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

pub fn cert(name: &str) -> PathBuf {
    match std::env::var_os("PROGLOG_CERTS_DIR") {
        Some(dir) => PathBuf::from(dir).join(name),
        None => repo("certs").join(name),
    }
}

/// A free port on 127.0.0.1 (free when asked; the server binds it next).
pub fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// A running `proglog serve`.
pub struct ServerProcess {
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    pub log_file: PathBuf,
    child: Child,
}

impl ServerProcess {
    /// Starts `proglog serve --addr ADDR --data-dir DIR ARGS...` (with the
    /// development certificates unless ARGS say otherwise) and waits until
    /// it accepts connections.
    pub fn start(dir: &Path, args: &[&str]) -> ServerProcess {
        ServerProcess::start_with_env(dir, args, &[])
    }

    pub fn start_with_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> ServerProcess {
        let addr = free_addr();
        let data_dir = dir.join("data");
        let log_file = dir.join(format!("server-{}.log", addr.port()));
        let child = Command::new(PROGLOG)
            .arg("serve")
            .args([
                "--addr",
                &addr.to_string(),
                "--data-dir",
                data_dir.to_str().unwrap(),
            ])
            .args(args)
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
            child,
        };
        server.wait_until_listening();
        server
    }

    fn wait_until_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(self.addr).is_err() {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("proglog serve exited with {status}:\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "proglog serve did not listen:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// What the server has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_file).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` ("TERM", "HUP", "KILL", ...).
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Sends SIGTERM and waits (at most 30 s) for the exit status.
    pub fn stop(mut self) -> std::process::ExitStatus {
        self.signal("TERM");
        self.wait(Duration::from_secs(30))
    }

    pub fn wait(&mut self, limit: Duration) -> std::process::ExitStatus {
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

    /// Runs a client command (`produce`, `consume`) against this server as
    /// the development `root` client.
    pub fn cli(&self, args: &[&str]) -> Output {
        cli(
            &[
                &args[..1],
                &["--dev", "--addr", &self.addr.to_string()],
                &args[1..],
            ]
            .concat(),
            None,
        )
    }

    /// A gRPC client with one of the CFSSL client certificates.
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
        let config = client_config(
            &cert("ca.pem"),
            Some((&cert("root-client.pem"), &cert("root-client-key.pem"))),
        )
        .unwrap();
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

/// Runs `proglog ARGS...`, feeding `stdin` if given.
pub fn cli(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(PROGLOG)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    child.wait_with_output().unwrap()
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}
