//! The acceptance suite: every `features/*.feature` scenario, run by cucumber
//! against the real crates (real files in temporary directories, and from
//! chapter 2 on real sockets on 127.0.0.1).
//!
//! One [`World`](world::ProglogWorld) holds a scenario's state; each chapter
//! has one steps file in `steps/`. A step that matches nothing fails the run
//! (`fail_on_skipped`), and so does any failing step: `cargo test` exits
//! non-zero.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod steps;
mod world;

use cucumber::World as _;

fn main() {
    // Chapter 5's scenarios run `proglog` as a process: this executable,
    // started again "as proglog" (see chapter_05::testing).
    chapter_05::testing::run_as_proglog_if_asked();
    // Chapter 6's scenarios kill a member process: this executable, started
    // again as a member (see chapter_06::testing).
    chapter_06::testing::run_member_if_asked();
    // Chapter 7's scenarios run clusters of node processes: this
    // executable, started again as a node (see chapter_07::testing).
    chapter_07::testing::run_node_if_asked();
    // Chapter 9's scenarios run `proglog` cluster servers: this executable,
    // started again as chapter 9's `proglog` (see chapter_09::testing).
    chapter_09::testing::run_as_proglog_if_asked();
    // Chapter 9 cuts a server off with a network partition: the scenarios
    // run in a private network namespace (as root; see chapter_09::testing).
    chapter_09::testing::enter_private_network();
    run_scenarios();
}

#[tokio::main]
async fn run_scenarios() {
    let features = concat!(env!("CARGO_MANIFEST_DIR"), "/features");
    world::ProglogWorld::cucumber()
        .fail_on_skipped()
        .run_and_exit(features)
        .await;
}
