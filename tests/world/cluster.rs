//! The chapter 7 part of a scenario: a cluster of node processes (this
//! test executable re-run as nodes; see `chapter_07::testing`) and the
//! records the scenario had acknowledged.

use chapter_07::testing::TestCluster;

/// What a chapter 7 scenario has running and has been told.
#[derive(Debug, Default)]
pub(crate) struct ClusterScenario {
    /// The cluster, once started.
    pub(crate) cluster: Option<TestCluster>,
    /// The values acknowledged so far, with their offsets, in order.
    pub(crate) acknowledged: Vec<(u64, Vec<u8>)>,
    /// The index (in the cluster's nodes) of the server a step picked.
    pub(crate) picked: Option<usize>,
    /// The chapter 8 client, once connected.
    pub(crate) client: Option<chapter_08::Client>,
    /// The offsets a client's produce stream returned.
    pub(crate) offsets: Vec<u64>,
}

impl ClusterScenario {
    /// The running cluster.
    pub(crate) fn cluster(&mut self) -> &mut TestCluster {
        self.cluster
            .as_mut()
            .expect("the scenario started a cluster")
    }
}
