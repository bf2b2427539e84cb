//! The chapter 5 part of a scenario: the `proglog` server process, and
//! what the scenario's commands printed.

use std::net::SocketAddr;
use std::process::{ExitStatus, Output};

use chapter_05::testing::{Acknowledged, ServerProcess};

/// What a chapter 5 scenario has running and has seen.
#[derive(Debug, Default)]
pub(crate) struct ProglogScenario {
    /// The running server.
    pub(crate) server: Option<ServerProcess>,
    /// The arguments it was started with (to start it again).
    pub(crate) server_args: Vec<String>,
    /// Its metrics address, if it serves metrics.
    pub(crate) metrics: Option<SocketAddr>,
    /// The last command's output.
    pub(crate) output: Option<Output>,
    /// How the server exited.
    pub(crate) exit: Option<ExitStatus>,
    /// What producers were told.
    pub(crate) acknowledged: Option<Acknowledged>,
    /// Why a client was refused.
    pub(crate) refusal: Option<String>,
}

impl ProglogScenario {
    /// The running server; a step that needs one when none runs is a broken scenario.
    pub(crate) fn server(&self) -> &ServerProcess {
        self.server
            .as_ref()
            .expect("the scenario started proglog serve")
    }
}
