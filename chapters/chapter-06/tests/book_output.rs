//! The output chapter 6 of the book shows, made for real and compared with
//! the files in `tests/output/` (see `tests/support/book_output.rs` at the
//! root of the repository): what a member's settings say when they cannot
//! work, one line each, as a user would see them.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

#[path = "../../../tests/support/book_output.rs"]
mod book_output;

use std::time::Duration;

use chapter_06::MembershipConfig;

/// Compares `actual` with `tests/output/NAME.txt`.
fn assert_output(name: &str, actual: &str) {
    book_output::assert_output(env!("CARGO_MANIFEST_DIR"), name, actual);
}

// Every nonsense value of a member's settings is refused with one line that
// names the setting: the cases of the unit test in `config.rs`, through the
// public API.
#[test]
fn book_shows_every_nonsense_setting_as_one_line() {
    type Change = fn(&mut MembershipConfig);
    let cases: [(&str, Change); 12] = [
        ("empty id", |c| c.node_id.clear()),
        ("id with a space", |c| c.node_id = "node a".into()),
        ("port 0", |c| c.gossip_addr.set_port(0)),
        ("bind all, advertise nothing", |c| {
            c.gossip_addr = ([0, 0, 0, 0], 7946).into();
        }),
        ("seed without a port", |c| {
            c.seeds = vec!["127.0.0.1:7947".into(), "proglog-1".into()];
        }),
        ("seed with a bad port", |c| {
            c.seeds = vec!["proglog-1:gossip".into()];
        }),
        ("rpc_addr not host:port", |c| c.rpc_addr = "http://x".into()),
        ("empty tag key", |c| {
            c.tags.insert(String::new(), "1".into());
        }),
        ("zero gossip interval", |c| {
            c.gossip_interval = Duration::ZERO
        }),
        ("NaN phi", |c| c.phi_threshold = f64::NAN),
        ("negative phi", |c| c.phi_threshold = -1.0),
        ("no event buffer", |c| c.event_buffer = 0),
    ];
    let lines: Vec<String> = cases
        .iter()
        .map(|(what, change)| {
            let mut config =
                MembershipConfig::new("a", ([127, 0, 0, 1], 7946).into(), "127.0.0.1:8400");
            change(&mut config);
            let error = config.validate().expect_err(what);
            format!("{what}: {error}")
        })
        .collect();
    assert_output("nonsense_settings", &lines.join("\n"));
}
