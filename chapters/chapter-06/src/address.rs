//! Addresses given as text, `host:port`: where to join (a seed) and where
//! a member serves gRPC. A host is an IP address or a DNS name, because in
//! Kubernetes a peer is known by a name (`proglog-0.proglog.ns.svc:8401`)
//! long before anyone knows its IP address. This file only *parses*; it
//! never resolves a name (see `seeds.rs` for that).

use std::net::SocketAddr;

/// A `host:port` that has been checked for shape.
// ANCHOR: host_port
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPort {
    /// An IP address and port: usable as it is.
    Addr(SocketAddr),
    /// A DNS name and port: usable once the name resolves.
    Name {
        /// The name, e.g. `proglog-0.proglog`.
        host: String,
        /// The port.
        port: u16,
    },
}
// ANCHOR_END: host_port

/// The longest DNS name there is (RFC 1035), in characters.
const MAX_HOST_LEN: usize = 253;

impl HostPort {
    /// Parses `host:port`, `ip:port` or `[ipv6]:port`.
    ///
    /// # Errors
    /// One sentence saying what is wrong, for the caller to put after the
    /// setting's name.
    // ANCHOR: parse
    pub fn parse(text: &str) -> Result<HostPort, String> {
        if let Ok(addr) = text.parse::<SocketAddr>() {
            return if addr.port() == 0 {
                Err(format!("`{text}` has port 0; give the port to dial"))
            } else {
                Ok(HostPort::Addr(addr))
            };
        }
        if let Some((scheme, _)) = text.split_once("://") {
            return Err(format!(
                "`{text}` is a URL; give host:port, without `{scheme}://`"
            ));
        }
        let Some((host, port)) = text.rsplit_once(':') else {
            return Err(format!("`{text}` has no port (expected host:port)"));
        };
        let port = match port.parse::<u16>() {
            Ok(0) | Err(_) => {
                return Err(format!(
                    "`{text}`: the port `{port}` is not a number from 1 to 65535"
                ));
            }
            Ok(port) => port,
        };
        if host.contains(':') {
            return Err(format!(
                "`{text}`: an IPv6 address needs brackets, as in [::1]:{port}"
            ));
        }
        let is_name_char = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_';
        if host.is_empty() || host.len() > MAX_HOST_LEN || !host.chars().all(is_name_char) {
            return Err(format!(
                "`{text}`: `{host}` is not a host name or IP address"
            ));
        }
        Ok(HostPort::Name {
            host: host.to_string(),
            port,
        })
    }
    // ANCHOR_END: parse
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    // ANCHOR: tests
    // ANCHOR: tests_accepted
    // IP addresses, IPv6 in brackets and DNS names with a port are accepted.
    #[rstest]
    #[case("127.0.0.1:7946", HostPort::Addr(([127, 0, 0, 1], 7946).into()))]
    #[case("[::1]:7946", HostPort::Addr("[::1]:7946".parse().unwrap()))]
    #[case("localhost:7946", HostPort::Name { host: "localhost".into(), port: 7946 })]
    #[case(
        "proglog-0.proglog.default.svc.cluster.local:8401",
        HostPort::Name { host: "proglog-0.proglog.default.svc.cluster.local".into(), port: 8401 }
    )]
    fn parses_addresses_and_names(#[case] text: &str, #[case] expected: HostPort) {
        assert_eq!(HostPort::parse(text), Ok(expected));
    }
    // ANCHOR_END: tests_accepted

    // ANCHOR: tests_refused
    // Every malformed address is refused with a sentence that quotes it.
    #[rstest]
    #[case("", "`` has no port (expected host:port)")]
    #[case("localhost", "`localhost` has no port (expected host:port)")]
    #[case(
        "localhost:",
        "`localhost:`: the port `` is not a number from 1 to 65535"
    )]
    #[case(
        "localhost:http",
        "`localhost:http`: the port `http` is not a number from 1 to 65535"
    )]
    #[case(
        "localhost:70000",
        "`localhost:70000`: the port `70000` is not a number from 1 to 65535"
    )]
    #[case("127.0.0.1:0", "`127.0.0.1:0` has port 0; give the port to dial")]
    #[case(":7946", "`:7946`: `` is not a host name or IP address")]
    #[case(
        "::1:7946",
        "`::1:7946`: an IPv6 address needs brackets, as in [::1]:7946"
    )]
    #[case(
        "my host:7946",
        "`my host:7946`: `my host` is not a host name or IP address"
    )]
    #[case("a/b:7946", "`a/b:7946`: `a/b` is not a host name or IP address")]
    #[case(
        "http://proglog-0:8400",
        "`http://proglog-0:8400` is a URL; give host:port, without `http://`"
    )]
    fn refuses_malformed_addresses(#[case] text: &str, #[case] message: &str) {
        assert_eq!(HostPort::parse(text), Err(message.to_string()));
    }
    // ANCHOR_END: tests_refused
    // ANCHOR_END: tests
}
