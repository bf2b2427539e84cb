//! Connecting a client of the cluster: chapter 5's TLS settings, chapter
//! 8's `Client`, the seeds from `--addr` and `--seeds`.

use anyhow::Context;
use chapter_08::{Client, ClientConfig};

use crate::cli::ClusterClientArgs;

// ANCHOR: connect
/// A client of the cluster `args` point at.
///
/// # Errors
/// A missing TLS setting or file, or no server answering (one line naming
/// every address tried).
pub async fn connect(args: &ClusterClientArgs) -> anyhow::Result<Client> {
    Client::connect(config(args)?)
        .await
        .context("connecting to the cluster")
}

/// The client configuration `args` ask for.
///
/// # Errors
/// A missing TLS setting, or a file that cannot be read.
pub fn config(args: &ClusterClientArgs) -> anyhow::Result<ClientConfig> {
    let mut seeds = vec![args.client.addr.to_string()];
    seeds.extend(args.seeds.iter().cloned());
    let mut config = ClientConfig::new(seeds, chapter_05::client::client_tls(&args.client)?);
    // Each server's certificate is checked against that server's own host
    // (a cluster's servers are not all "localhost"), unless another name
    // than chapter 5's default is given.
    config.server_name =
        (args.client.server_name != "localhost").then(|| args.client.server_name.clone());
    Ok(config)
}
// ANCHOR_END: connect

/// A client error as one line: a refused call as chapter 5 describes a
/// status (code, message, details), anything else as it is.
pub fn explain(error: chapter_08::Error) -> anyhow::Error {
    match &error {
        chapter_08::Error::Refused(status) => anyhow::anyhow!(chapter_05::client::describe(status)),
        chapter_08::Error::GaveUp { last, .. } => {
            anyhow::anyhow!("{error} ({})", chapter_05::client::describe(last))
        }
        _ => error.into(),
    }
}
