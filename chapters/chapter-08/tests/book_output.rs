//! The output chapter 8 of the book shows, made for real and compared with
//! the files in `tests/output/` (see `tests/support/book_output.rs` at the
//! root of the repository): what a caller of the [`Client`] is told when it
//! cannot even start, a setting that cannot work, seeds where nothing
//! answers, or a certificate the cluster does not allow.
//!
//! `harness = false` (Cargo.toml): [`run_tests`] is the `main`, so that the
//! executable can also run as a node (the last case needs a server).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

#[path = "../../../tests/support/book_output.rs"]
mod book_output;

use chapter_05::testing::free_addr;
use chapter_07::process_tests;
use chapter_07::testing::{TestCluster, client_tls, run_tests};
use chapter_08::{Client, ClientConfig, Error};

fn main() {
    run_tests(process_tests![
        book_shows_what_a_client_that_cannot_start_is_told
    ]);
}

/// A port changes from run to run: shown as `<port>`.
fn without_ports(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("127.0.0.1:") {
        let (before, after) = rest.split_at(at + "127.0.0.1:".len());
        out.push_str(before);
        let digits = after.chars().take_while(char::is_ascii_digit).count();
        if digits > 0 {
            out.push_str("<port>");
        }
        rest = &after[digits..];
    }
    out.push_str(rest);
    out
}

/// The error as the caller sees it: which variant, and its one line.
fn describe(case: &str, error: &Error) -> String {
    let variant = match error {
        Error::NoServer { .. } => "NoServer",
        Error::GaveUp { .. } => "GaveUp",
        Error::Refused(_) => "Refused",
        Error::InvalidConfig(_) => "InvalidConfig",
    };
    format!(
        "# {case}\n{variant}: {}\n",
        without_ports(&error.to_string())
    )
}

// ANCHOR: cases
async fn book_shows_what_a_client_that_cannot_start_is_told() {
    let mut out = Vec::new();

    let no_seeds = ClientConfig::new(Vec::<String>::new(), client_tls("root"));
    let error = Client::connect(no_seeds).await.unwrap_err();
    out.push(describe("Connect with no seed", &error));

    let mut too_wide = ClientConfig::new(["127.0.0.1:1"], client_tls("root"));
    too_wide.window = 100_000;
    let error = Client::connect(too_wide).await.unwrap_err();
    out.push(describe("Connect with a window of 100,000 records", &error));

    let nowhere = vec![free_addr().to_string(), free_addr().to_string()];
    let error = Client::connect(ClientConfig::new(nowhere, client_tls("root")))
        .await
        .unwrap_err();
    out.push(describe(
        "Connect to two addresses where nothing listens",
        &error,
    ));

    let cluster = TestCluster::start(1, |_| {}).await;
    let as_nobody = ClientConfig::new(cluster.seeds(), client_tls("nobody"));
    let error = Client::connect(as_nobody).await.unwrap_err();
    out.push(describe(
        "Connect to a running cluster with the certificate of `nobody`",
        &error,
    ));

    book_output::assert_output(env!("CARGO_MANIFEST_DIR"), "client_errors", &out.join("\n"));
}
// ANCHOR_END: cases
