//! The chapter 9 part of a scenario: a cluster of `proglog` processes
//! (this test executable re-run as `proglog`; see `chapter_09::testing`),
//! the load running against it, and the faults a step made.

use chapter_09::testing::{Load, Partition, ProglogCluster};

/// What a chapter 9 scenario has running.
#[derive(Debug, Default)]
pub(crate) struct ProductionScenario {
    /// The cluster, once started.
    pub(crate) cluster: Option<ProglogCluster>,
    /// Producers and a consumer, once started.
    pub(crate) load: Option<Load>,
    /// The index (in the cluster's nodes) of the leader a step killed or cut off.
    pub(crate) old_leader: Option<usize>,
    /// The partition a step made, until it heals.
    pub(crate) partition: Option<Partition>,
}

impl ProductionScenario {
    /// The running cluster.
    pub(crate) fn cluster(&mut self) -> &mut ProglogCluster {
        self.cluster
            .as_mut()
            .expect("the scenario started a cluster")
    }
}
