//! The state one scenario works on: a temporary directory and whatever the
//! chapters' steps put in it.

use std::path::{Path, PathBuf};

mod cluster;
mod grpc;
mod membership;
mod production;
mod proglog;
mod secure;

use chapter_01::{Config, Log};
pub(crate) use cluster::ClusterScenario;
pub(crate) use grpc::GrpcServer;
pub(crate) use membership::MembershipScenario;
pub(crate) use production::ProductionScenario;
pub(crate) use proglog::ProglogScenario;
pub(crate) use secure::{SecureServer, cert, repo};
use tempfile::TempDir;

/// One scenario's world. A fresh one is made for every scenario.
#[derive(Debug, cucumber::World)]
#[world(init = Self::new)]
pub(crate) struct ProglogWorld {
    /// Everything the scenario writes lives here, and is deleted after it.
    pub(crate) dir: TempDir,
    /// The chapter 1 log under test, when it is open.
    pub(crate) log: Option<Log>,
    /// The configuration the scenario opens its log with.
    pub(crate) config: Config,
    /// The chapter 2 server, when the scenario started one.
    pub(crate) grpc: Option<GrpcServer>,
    /// The chapter 3 or 4 server, when the scenario started one.
    pub(crate) secure: Option<SecureServer>,
    /// A CA the scenario's chapter 3 server trusts, to make certificates with.
    pub(crate) scenario_ca: Option<chapter_03::test_pki::TestCa>,
    /// The chapter 5 `proglog` processes and what they printed.
    pub(crate) proglog: ProglogScenario,
    /// The chapter 6 members and what they heard.
    pub(crate) membership: MembershipScenario,
    /// The chapter 7 cluster and what it acknowledged.
    pub(crate) cluster: ClusterScenario,
    /// The chapter 9 cluster of `proglog` processes and its load.
    pub(crate) production: ProductionScenario,
}

impl ProglogWorld {
    fn new() -> Self {
        ProglogWorld {
            dir: tempfile::tempdir().unwrap(),
            log: None,
            config: Config::default(),
            grpc: None,
            secure: None,
            scenario_ca: None,
            proglog: ProglogScenario::default(),
            membership: MembershipScenario::default(),
            cluster: ClusterScenario::default(),
            production: ProductionScenario::default(),
        }
    }

    /// The log's directory.
    pub(crate) fn log_dir(&self) -> PathBuf {
        self.dir.path().join("log")
    }

    /// The open log; a step that needs one when none is open is a broken scenario.
    pub(crate) fn log(&self) -> &Log {
        self.log.as_ref().expect("the scenario opened a log")
    }

    /// Opens (or reopens) the log in the scenario's directory.
    pub(crate) fn open_log(&mut self) -> chapter_01::Result<()> {
        self.log = None; // one Log per directory: close the old one first
        self.log = Some(Log::open(self.log_dir(), self.config.clone())?);
        Ok(())
    }

    /// The running chapter 2 server.
    pub(crate) fn grpc(&mut self) -> &mut GrpcServer {
        self.grpc.as_mut().expect("the scenario started a server")
    }

    /// The running chapter 3 or 4 server.
    pub(crate) fn secure(&mut self) -> &mut SecureServer {
        self.secure
            .as_mut()
            .expect("the scenario started a secure server")
    }

    /// The path of a file in the log's directory.
    pub(crate) fn log_file(&self, name: &str) -> PathBuf {
        Path::new(&self.log_dir()).join(name)
    }
}
