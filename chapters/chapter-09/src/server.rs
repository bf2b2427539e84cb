//! `proglog serve`: the composition root of a server of a cluster. The
//! same lifecycle as chapter 5's server (settings checked first, SIGHUP
//! reloads the ACL, SIGTERM reports NOT_SERVING, drains and exits 0), with
//! chapter 7's node in place of a lone log:
//!
//! ```text
//!   one port (--addr), mutual TLS, then the layers, outermost first:
//!     RPC log line + metrics (ch. 5) → ACL (ch. 4, + replicate) → drain (ch. 5) → codec errors (ch. 2)
//!       log.v1.Log        the replicated service (ch. 7): produce on the leader, reads anywhere
//!       raft.v1.Raft      Raft between the servers, for the `peer` identity only
//!       grpc.health.v1    SERVING / NOT_SERVING; also plaintext on --health-addr
//!       reflection        for grpcurl
//!   UDP (--gossip-addr): membership by gossip (ch. 6)
//! ```

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use chapter_02::status::CodecErrorLayer;
use chapter_04::{AuthorizationLayer, CasbinAuthorizer};
use chapter_05::drain::DrainLayer;
use chapter_05::observability::{RpcObservabilityLayer, init_tracing, install_metrics};
use chapter_05::server::{set_serving_status, spawn_acl_reloader, spawn_log_upkeep};
use chapter_05::settings::{Security, Settings};
use chapter_06::MembershipConfig;
use chapter_07::{ClusterNode, NodeConfig};
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;
use tower::util::option_layer;

use crate::cli::ServerArgs;
use crate::settings::{ClusterSettings, Formation};

// ANCHOR: run
/// Runs `proglog serve` until SIGINT or SIGTERM.
///
/// # Errors
/// A bad setting, an unusable file or address, or a failure while serving.
pub async fn run(args: &ServerArgs) -> anyhow::Result<()> {
    let settings = Settings::resolve(&args.server).map_err(anyhow::Error::msg)?;
    let cluster = ClusterSettings::resolve(&args.cluster, &settings).map_err(anyhow::Error::msg)?;
    init_tracing(settings.log_format);
    let mut terminate =
        signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let reload = signal(SignalKind::hangup()).context("installing the SIGHUP handler")?;
    let shutdown = async move {
        tokio::select! {
            _ = terminate.recv() => tracing::info!("SIGTERM: shutting down"),
            _ = interrupt.recv() => tracing::info!("SIGINT: shutting down"),
        }
    };
    serve(settings, cluster, shutdown, reload).await
}
// ANCHOR_END: run

// ANCHOR: node_config
/// What chapter 7's node needs, from the settings.
async fn node_config(settings: &Settings, cluster: &ClusterSettings) -> anyhow::Result<NodeConfig> {
    let peer_tls = match (&settings.security, &cluster.peer_identity) {
        (Security::Mtls { tls, .. }, Some((cert, key))) => Some(
            chapter_03::client_config(&tls.client_ca, Some((cert, key)))
                .context("the peer certificate")?,
        ),
        _ => None,
    };
    let mut gossip = MembershipConfig::new(
        cluster.node_id.to_string(),
        cluster.gossip_addr,
        cluster.advertise_addr.clone(),
    )
    .with_seeds(cluster.join.iter().cloned());
    gossip.cluster_id = cluster.cluster_id.clone();
    gossip.advertise_addr = advertised_gossip(cluster).await?;
    let mut config = NodeConfig::new(
        cluster.node_id,
        &settings.data_dir,
        cluster.advertise_addr.clone(),
        gossip,
        peer_tls,
    );
    config.bootstrap = cluster.formation == Formation::Alone;
    config.bootstrap_expect = match cluster.formation {
        Formation::Expect(count) => Some(count),
        _ => None,
    };
    config.timing = cluster.timing;
    config.service.max_record_bytes = settings.max_record_bytes as usize;
    config.records = settings.log_config();
    Ok(config)
}
// ANCHOR_END: node_config

// ANCHOR: advertised_gossip
/// Where the others should gossip with this server: the advertised host,
/// on the gossip port (if the advertised host is not the bound one).
async fn advertised_gossip(cluster: &ClusterSettings) -> anyhow::Result<Option<SocketAddr>> {
    let host = chapter_07::network::host_of(&cluster.advertise_addr).unwrap_or_default();
    if host.parse::<std::net::IpAddr>().ok() == Some(cluster.gossip_addr.ip()) {
        return Ok(None);
    }
    let resolved = tokio::net::lookup_host((host, cluster.gossip_addr.port()))
        .await
        .with_context(|| format!("resolving the --advertise-addr host {host:?}"))?
        .next()
        .with_context(|| format!("the --advertise-addr host {host:?} has no address"))?;
    Ok(Some(resolved))
}
// ANCHOR_END: advertised_gossip

/// How long a server alone may take to elect itself before it serves.
const ALONE_ELECTION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

// ANCHOR: refuse_a_single_server_log
/// A chapter 5 data directory holds segment files at its top; a cluster
/// server keeps two logs in `raft/` and `records/` under it.
fn refuse_a_single_server_log(settings: &Settings) -> anyhow::Result<()> {
    let Ok(entries) = std::fs::read_dir(&settings.data_dir) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        if entry
            .path()
            .extension()
            .is_some_and(|extension| extension == "store")
        {
            anyhow::bail!(
                "{} holds a single server's log (chapter 5's proglog-single): a cluster server keeps its logs in raft/ and records/; give it another --data-dir",
                settings.data_dir.display()
            );
        }
    }
    Ok(())
}
// ANCHOR_END: refuse_a_single_server_log

// ANCHOR: serve_a
/// Serves with `settings` and `cluster` until `shutdown` completes;
/// `reload` fires to reload the ACL policy.
///
/// # Errors
/// As [`run`].
pub async fn serve(
    settings: Settings,
    cluster: ClusterSettings,
    shutdown: impl Future<Output = ()>,
    reload: tokio::signal::unix::Signal,
) -> anyhow::Result<()> {
    chapter_05::server::warn_if_unprotected(&settings);
    refuse_a_single_server_log(&settings)?;
    // ANCHOR_END: serve_a
    // ANCHOR: serve_b
    let (tls, authorizer) = match &settings.security {
        Security::Insecure => (None, None),
        Security::Mtls {
            tls,
            acl_model,
            acl_policy,
        } => (
            Some(chapter_03::server_config(tls)?),
            Some(Arc::new(
                CasbinAuthorizer::open(acl_model, acl_policy).await?,
            )),
        ),
    };
    let listener = TcpListener::bind(settings.addr)
        .await
        .with_context(|| format!("cannot listen on {}", settings.addr))?;
    if let Some(addr) = settings.metrics_addr {
        install_metrics(addr)?;
    }
    let node = ClusterNode::start(node_config(&settings, &cluster).await?)
        .await
        .context("starting the node")?;
    // ANCHOR_END: serve_b
    // ANCHOR: alone_elects_itself
    if cluster.formation == Formation::Alone {
        // A cluster of one is ready when it listens, as chapter 5's server
        // was: it elects itself (in milliseconds) before it serves. (A
        // server that formed a cluster others have joined since waits for
        // nobody: its leader comes when a majority is back.)
        let id = node.id();
        node.raft()
            .wait(Some(ALONE_ELECTION_TIMEOUT))
            .metrics(
                |metrics| {
                    let mut voters = metrics.membership_config.membership().voter_ids();
                    metrics.current_leader == Some(id) || voters.any(|voter| voter != id)
                },
                "a cluster of one elects itself",
            )
            .await
            .context("a cluster of one did not elect itself")?;
    }
    // ANCHOR_END: alone_elects_itself
    // ANCHOR: serve_services
    let (health, health_service) = tonic_health::server::health_reporter();
    set_serving_status(&health, ServingStatus::Serving).await;
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(chapter_02::api::v1::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(chapter_07::api::v1::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    // Chapter 5's upkeep, on the log clients read (the state machine's).
    let background = spawn_log_upkeep(node.records().log(), &settings);
    let reloader = spawn_acl_reloader(authorizer.clone(), reload);
    let health_only = match cluster.health_addr {
        Some(addr) => Some(serve_health_only(addr, health_service.clone()).await?),
        None => None,
    };
    // ANCHOR_END: serve_services
    // ANCHOR: serve_router
    let (start_draining, draining) = watch::channel(false);
    let router = Server::builder()
        .max_concurrent_streams(Some(node.service().config().max_concurrent_streams))
        .layer(RpcObservabilityLayer)
        .layer(option_layer(authorizer.map(|authorizer| {
            AuthorizationLayer::with_routes(authorizer, chapter_07::routes())
        })))
        .layer(DrainLayer::new(draining))
        .layer(CodecErrorLayer)
        .add_service(health_service)
        .add_service(
            reflection()
                .build_v1()
                .context("building gRPC reflection")?,
        )
        .add_service(
            reflection()
                .build_v1alpha()
                .context("building gRPC reflection")?,
        )
        .add_service(node.service().clone().into_server())
        .add_service(node.raft_service().clone().into_server());
    // ANCHOR_END: serve_router
    // ANCHOR: serve_shutdown
    let grace = settings.shutdown_grace;
    let drain_timeout = node.service().config().drain_timeout;
    let service = node.service().clone();
    // The server drains when this fires: after the grace period.
    let (drain_now, drain) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async move {
        shutdown.await;
        set_serving_status(&health, ServingStatus::NotServing).await;
        tracing::info!(?grace, "NOT_SERVING; draining after the grace period");
        tokio::time::sleep(grace).await;
        service.stop_streams();
        start_draining.send_replace(true);
        let _ = drain_now.send(());
    };
    let drained = async {
        let _ = drain.await;
    };
    tracing::info!(
        addr = %settings.addr,
        node_id = cluster.node_id,
        advertise = %cluster.advertise_addr,
        gossip = %cluster.gossip_addr,
        join = ?cluster.join,
        formation = ?cluster.formation,
        data_dir = %settings.data_dir.display(),
        tls = tls.is_some(),
        sync = ?settings.sync,
        "serving"
    );
    // ANCHOR_END: serve_shutdown
    // ANCHOR: serve_end
    let server = async {
        match tls {
            Some(tls) => {
                router
                    .serve_with_incoming_shutdown(chapter_03::tls_incoming(listener, tls), drained)
                    .await
            }
            None => {
                let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
                router.serve_with_incoming_shutdown(incoming, drained).await
            }
        }
    };
    tokio::pin!(server);
    let served = tokio::select! {
        served = &mut server => served,
        () = shutdown => match tokio::time::timeout(drain_timeout, &mut server).await {
            Ok(served) => served,
            Err(_) => {
                tracing::warn!(?drain_timeout, "calls still in flight after the drain timeout; dropping them");
                Ok(())
            }
        },
    };
    for task in background
        .iter()
        .chain(reloader.iter())
        .chain(health_only.iter())
    {
        task.abort();
    }
    // ANCHOR_END: serve_end
    // ANCHOR: serve_leave
    // A server that leaves is taken out of the voters (a restart is not);
    // if it cannot leave in time it stops anyway, and says so.
    if cluster.leave_on_shutdown {
        if let Err(error) = node.leave().await {
            tracing::warn!(%error, "could not leave the cluster; stopped without leaving");
        }
    } else {
        node.stop().await;
    }
    served.context("serving")?;
    tracing::info!("stopped; bye");
    Ok(())
}
// ANCHOR_END: serve_leave

// ANCHOR: health_only
/// Serves gRPC health, and nothing else, in plaintext on `addr`: for
/// probes that cannot present a client certificate.
async fn serve_health_only(
    addr: SocketAddr,
    health: tonic_health::pb::health_server::HealthServer<
        impl tonic_health::pb::health_server::Health,
    >,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on --health-addr {addr}"))?;
    Ok(tokio::spawn(async move {
        let served = Server::builder()
            .add_service(health)
            .serve_with_incoming(TcpIncoming::from(listener))
            .await;
        if let Err(error) = served {
            tracing::error!(%error, "the health endpoint failed");
        }
    }))
}
// ANCHOR_END: health_only
