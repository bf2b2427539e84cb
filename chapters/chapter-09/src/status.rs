//! `proglog cluster status`: every server of the cluster, as each one says
//! of itself. The list comes from any server (`GetServers`); then each
//! server is asked directly, because only it knows how far it has applied
//! the log. A server that does not answer is shown as unreachable.
//!
//! ```text
//! ID  GRPC             GOSSIP           ROLE      NEXT OFFSET  APPLIED  LAG
//! 1   127.0.0.1:8400   127.0.0.1:8400   leader    1500         1503     0
//! 2   127.0.0.1:8410   127.0.0.1:8410   follower  1500         1503     0
//! 3   127.0.0.1:8420   127.0.0.1:8420   -         -            -        unreachable
//! ```

use std::fmt::Write as _;
use std::time::Duration;

use chapter_02::api::v1::log_client::LogClient;
use chapter_02::api::v1::{GetServersRequest, Server};

use crate::cli::StatusArgs;
use crate::client::{config, connect, explain};

/// How long a server has to answer for itself.
const ASK_TIMEOUT: Duration = Duration::from_secs(2);

// ANCHOR: row
/// One server, as it says of itself (or as the others list it, if it does
/// not answer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// As the cluster lists it.
    pub listed: Server,
    /// What it says of itself; `None`: it did not answer.
    pub itself: Option<Server>,
}
// ANCHOR_END: row

/// Runs `proglog cluster status`.
///
/// # Errors
/// No server reachable.
pub async fn run(args: &StatusArgs) -> anyhow::Result<()> {
    print!("{}", table(&rows(args).await?));
    Ok(())
}

// ANCHOR: rows
/// Every server of the cluster, each asked about itself.
///
/// # Errors
/// No server reachable.
pub async fn rows(args: &StatusArgs) -> anyhow::Result<Vec<Row>> {
    let client = connect(&args.cluster).await?;
    let listed = client.refresh().await.map_err(explain)?;
    let tls = config(&args.cluster)?;
    let mut rows = Vec::with_capacity(listed.len());
    for server in listed {
        let itself = ask_itself(&server, &tls).await;
        rows.push(Row {
            listed: server,
            itself,
        });
    }
    rows.sort_by_key(|row| row.listed.id.parse::<u64>().unwrap_or(u64::MAX));
    Ok(rows)
}
// ANCHOR_END: rows

// ANCHOR: ask_itself
/// What `server` says of itself, if it answers in time.
async fn ask_itself(server: &Server, config: &chapter_08::ClientConfig) -> Option<Server> {
    let channel = match &config.tls {
        Some(tls) => {
            let name = config
                .server_name
                .clone()
                .or_else(|| chapter_07::network::host_of(&server.rpc_addr).map(str::to_string))?;
            chapter_03::client::lazy_tls_channel(&server.rpc_addr, tls.clone(), &name, ASK_TIMEOUT)
                .ok()?
        }
        None => tonic::transport::Endpoint::from_shared(format!("http://{}", server.rpc_addr))
            .ok()?
            .connect_timeout(ASK_TIMEOUT)
            .connect_lazy(),
    };
    let answer = tokio::time::timeout(
        ASK_TIMEOUT,
        LogClient::new(channel).get_servers(GetServersRequest {}),
    )
    .await
    .ok()?
    .ok()?;
    answer
        .into_inner()
        .servers
        .into_iter()
        .find(|listed| listed.id == server.id)
}
// ANCHOR_END: ask_itself

// ANCHOR: table_header
/// The rows as a table: lag is how many records a server's log is behind
/// the leader's.
pub fn table(rows: &[Row]) -> String {
    let leader_next = rows
        .iter()
        .filter_map(|row| row.itself.as_ref())
        .find(|server| server.is_leader)
        .and_then(|server| server.next_offset);
    let mut lines = vec![
        [
            "ID",
            "GRPC",
            "GOSSIP",
            "ROLE",
            "NEXT OFFSET",
            "APPLIED",
            "LAG",
        ]
        .map(str::to_string),
    ];
    // ANCHOR_END: table_header
    // ANCHOR: table_cells
    for row in rows {
        let (role, next, applied, lag) = match &row.itself {
            None => ("-".into(), "-".into(), "-".into(), "unreachable".into()),
            Some(server) => (
                if server.is_leader {
                    "leader"
                } else {
                    "follower"
                }
                .to_string(),
                server
                    .next_offset
                    .map_or("-".into(), |next| next.to_string()),
                server
                    .applied_index
                    .map_or("-".into(), |index| index.to_string()),
                match (leader_next, server.next_offset) {
                    (Some(leader), Some(next)) => leader.saturating_sub(next).to_string(),
                    _ => "-".into(),
                },
            ),
        };
        // ANCHOR_END: table_cells
        let gossip = row
            .itself
            .as_ref()
            .map_or(&row.listed.gossip_addr, |server| &server.gossip_addr);
        let gossip = if gossip.is_empty() {
            "-".to_string()
        } else {
            gossip.clone()
        };
        lines.push([
            row.listed.id.clone(),
            row.listed.rpc_addr.clone(),
            gossip,
            role,
            next,
            applied,
            lag,
        ]);
    }
    let widths: Vec<usize> = (0..7)
        .map(|column| {
            lines
                .iter()
                .map(|line| line[column].len())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for line in &lines {
        let cells: Vec<String> = line
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        let _ = writeln!(out, "{}", cells.join("  ").trim_end());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(id: &str, leader: bool, next: Option<u64>) -> Server {
        Server {
            id: id.into(),
            rpc_addr: format!("127.0.0.1:84{id}0"),
            is_leader: leader,
            gossip_addr: format!("127.0.0.1:84{id}0"),
            next_offset: next,
            applied_index: next.map(|next| next + 3),
        }
    }

    // ANCHOR: test_table
    // The lag is against the leader's log; a server that did not answer is
    // unreachable, whatever the others say of it.
    #[test]
    fn shows_roles_and_lag() {
        let rows = vec![
            Row {
                listed: server("1", true, None),
                itself: Some(server("1", true, Some(1500))),
            },
            Row {
                listed: server("2", false, None),
                itself: Some(server("2", false, Some(1490))),
            },
            Row {
                listed: server("3", false, None),
                itself: None,
            },
        ];
        let table = table(&rows);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(
            lines[0],
            "ID  GRPC            GOSSIP          ROLE      NEXT OFFSET  APPLIED  LAG"
        );
        assert_eq!(
            lines[1],
            "1   127.0.0.1:8410  127.0.0.1:8410  leader    1500         1503     0"
        );
        assert_eq!(
            lines[2],
            "2   127.0.0.1:8420  127.0.0.1:8420  follower  1490         1493     10"
        );
        assert_eq!(
            lines[3],
            "3   127.0.0.1:8430  127.0.0.1:8430  -         -            -        unreachable"
        );
    }
    // ANCHOR_END: test_table
}
