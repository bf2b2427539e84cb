//! What every client command shares: connecting with the right TLS
//! settings, and turning a failed call into one readable line.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use chapter_02::api::v1::log_client::LogClient;
use tonic::transport::Channel;
use tonic_types::StatusExt;

use crate::cli::ClientArgs;
use crate::dev::DevFiles;

// ANCHOR: connect
// ANCHOR: connect_fn
/// Connects as `args` says: plaintext with `--insecure`, the development
/// `root` client with `--dev`, else the given CA, certificate and key.
///
/// # Errors
/// A missing TLS setting, a bad file, or a failed connection, in one line.
pub async fn connect(args: &ClientArgs) -> anyhow::Result<LogClient<Channel>> {
    match client_tls(args)? {
        None => chapter_02::connect(args.addr)
            .await
            .map_err(|error| unreachable_server(args.addr, &error)),
        Some(tls) => chapter_03::client::connect_with_config(args.addr, tls, &args.server_name)
            .await
            .map_err(|error| unreachable_server(args.addr, &error)),
    }
}
// ANCHOR_END: connect_fn

// ANCHOR: client_tls
/// The TLS configuration `args` ask for: `None` with `--insecure`; the
/// development CA and `root` certificate with `--dev`; else the files
/// given.
///
/// # Errors
/// A missing TLS setting, or a file that cannot be read.
pub fn client_tls(args: &ClientArgs) -> anyhow::Result<Option<Arc<rustls::ClientConfig>>> {
    if args.insecure {
        return Ok(None);
    }
    // The files stay on disk only until the client's TLS configuration is
    // built from them.
    let dev = match args.dev {
        true => Some(DevFiles::unpack().context("--dev: cannot unpack the development files")?),
        false => None,
    };
    let dev_file = |name: &str| {
        dev.as_ref()
            .map(|files| files.path(&format!("certs/{name}")))
    };
    let setting = |flag: &str, value: &Option<PathBuf>, dev_default: Option<PathBuf>| {
        value.clone().or(dev_default).with_context(|| {
            format!("missing --{flag}: a client needs the CA, its certificate and key (or --dev, or --insecure)")
        })
    };
    let ca = setting("tls-ca", &args.tls_ca, dev_file("ca.pem"))?;
    let cert = setting("tls-cert", &args.tls_cert, dev_file("root-client.pem"))?;
    let key = setting("tls-key", &args.tls_key, dev_file("root-client-key.pem"))?;
    Ok(Some(chapter_03::client_config(&ca, Some((&cert, &key)))?))
}
// ANCHOR_END: client_tls

// ANCHOR: unreachable_server
/// A failed connection as one line that says where, and what to check: a
/// refused connection usually means no server is running there.
fn unreachable_server(
    addr: std::net::SocketAddr,
    error: &(dyn std::error::Error + 'static),
) -> anyhow::Error {
    let mut cause = Some(error);
    while let Some(error) = cause {
        if let Some(io) = error.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::ConnectionRefused
        {
            return anyhow::anyhow!(
                "cannot connect to {addr}: connection refused (is proglog serve running there?)"
            );
        }
        cause = error.source();
    }
    anyhow::anyhow!("cannot connect to {addr}: {}", crate::one_line(error))
}
// ANCHOR_END: unreachable_server
// ANCHOR_END: connect

// ANCHOR: describe
/// A failed call as one line: the status code, the message, and the
/// google.rpc details a program would act on.
pub fn describe(status: &tonic::Status) -> String {
    let mut line = format!("{}: {}", code_name(status.code()), status.message());
    let details = status.get_error_details();
    if let Some(info) = details.error_info() {
        let metadata: BTreeMap<_, _> = info.metadata.iter().collect();
        let pairs: Vec<String> = metadata
            .iter()
            .map(|(key, value)| format!("{key}={value}"))
            .collect();
        line.push_str(&format!(" [{} {}]", info.reason, pairs.join(" ")));
    }
    if let Some(bad_request) = details.bad_request() {
        for violation in &bad_request.field_violations {
            line.push_str(&format!(
                " [{}: {}]",
                violation.field, violation.description
            ));
        }
    }
    line
}
// ANCHOR_END: describe

/// A status code as gRPC documents it: `PermissionDenied` → `PERMISSION_DENIED`.
pub fn code_name(code: tonic::Code) -> String {
    let mut name = String::new();
    for (n, c) in format!("{code:?}").chars().enumerate() {
        if c.is_uppercase() && n > 0 {
            name.push('_');
        }
        name.push(c.to_ascii_uppercase());
    }
    name
}

/// Fails with the status described in one line.
///
/// # Errors
/// Always: that is the point.
pub fn fail(status: tonic::Status) -> anyhow::Result<()> {
    bail!(describe(&status))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_written_as_grpc_names_them() {
        assert_eq!(
            code_name(tonic::Code::PermissionDenied),
            "PERMISSION_DENIED"
        );
        assert_eq!(code_name(tonic::Code::Unavailable), "UNAVAILABLE");
        let status = tonic::Status::out_of_range("offset 9 is out of range");
        assert_eq!(describe(&status), "OUT_OF_RANGE: offset 9 is out of range");
    }
}
