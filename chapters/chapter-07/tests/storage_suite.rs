//! openraft's own conformance suite for storage, run against our two
//! stores: the Raft log in a chapter 1 log ([`LogStore`]) and the state
//! machine that appends to a second one ([`StateMachine`]). It is the
//! specification openraft's authors wrote of what the engine expects of a
//! log (reads, appends, truncation, purges, the vote) and of a state
//! machine (applying, membership, snapshots), each case on fresh
//! directories.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chapter_07::types::TypeConfig;
use chapter_07::{LogStore, StateMachine};
use openraft::StorageError;
use openraft::testing::{StoreBuilder, Suite};

// ANCHOR: builder
/// Makes each case's stores, in a temporary directory kept until the case
/// ends.
struct OnDisk;

impl StoreBuilder<TypeConfig, LogStore, StateMachine, tempfile::TempDir> for OnDisk {
    async fn build(
        &self,
    ) -> Result<(tempfile::TempDir, LogStore, StateMachine), StorageError<u64>> {
        let dir = tempfile::tempdir().unwrap();
        let log = LogStore::open(&dir.path().join("raft"), chapter_01::Config::default()).unwrap();
        let machine =
            StateMachine::open(&dir.path().join("records"), chapter_01::Config::default()).unwrap();
        Ok((dir, log, machine))
    }
}
// ANCHOR_END: builder

// ANCHOR: suite
#[test]
fn passes_openraft_storage_suite() {
    Suite::test_all(OnDisk).unwrap();
}
// ANCHOR_END: suite
