//! Seeds given by DNS name. chitchat takes IP-address seeds as they are and
//! keeps gossiping with them until they answer. A name is different: in
//! Kubernetes, a StatefulSet's pods find each other through a headless
//! service, and a pod's name appears in DNS only once the pod is running,
//! so at start the name of a peer may not resolve *yet*. This task resolves
//! each name again every `seed_resolve_interval`, logs when it does not
//! resolve, and opens a gossip round with every address it gets that is not
//! already a live member.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chitchat::ChitchatHandle;

use crate::subscription::lock;
use crate::view::View;

/// A seed given by name: the host name, and the port.
pub(crate) type SeedName = (String, u16);

/// Resolves `names` (host, port) forever, every `every`, and gossips with
/// the addresses that are not live members and not `own`.
// ANCHOR: resolve_seeds
// ANCHOR: seeds_resolve
pub(crate) async fn resolve_seeds(
    names: Vec<SeedName>,
    own: SocketAddr,
    every: Duration,
    chitchat: Arc<ChitchatHandle>,
    view: Arc<Mutex<View>>,
) {
    // Whether each name resolved last time: log a change, not every failure.
    let mut resolved: BTreeMap<&str, bool> = BTreeMap::new();
    let mut ticks = tokio::time::interval(every);
    loop {
        ticks.tick().await;
        for (host, port) in &names {
            let addrs: Vec<SocketAddr> = match tokio::net::lookup_host((host.as_str(), *port)).await
            {
                Ok(addrs) => addrs.collect(),
                Err(error) => {
                    if resolved.insert(host, false) != Some(false) {
                        tracing::warn!(seed = %host, %error, "seed does not resolve (yet); will retry");
                    }
                    continue;
                }
            };
            if resolved.insert(host, true) != Some(true) {
                tracing::info!(seed = %host, ?addrs, "seed resolved");
            }
            // ANCHOR_END: seeds_resolve
            // ANCHOR: seeds_gossip
            let live: Vec<SocketAddr> = lock(&view).live().map(|m| m.gossip_addr).collect();
            // Same address family as our socket: a socket bound to an IPv4
            // address cannot send to an IPv6 one (and localhost is often both).
            let peers = addrs
                .into_iter()
                .filter(|addr| addr.is_ipv4() == own.is_ipv4() && *addr != own)
                .filter(|addr| !live.contains(addr));
            for addr in peers {
                // Fails only once gossip has stopped, and then so do we.
                if chitchat.gossip(addr).is_err() {
                    return;
                }
            }
        }
    }
}
// ANCHOR_END: seeds_gossip
// ANCHOR_END: resolve_seeds
