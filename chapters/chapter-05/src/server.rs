//! `proglog serve`: the composition root, where every chapter's layer is
//! wired together, and the process's lifecycle:
//!
//! 1. resolve and check the settings (one clear line for anything wrong);
//! 2. open (and, after a crash, recover) the log, load TLS and the ACL, bind
//!    the address: every failure here exits non-zero before serving;
//! 3. serve the Log service behind the RPC observability and authorization
//!    layers, with gRPC health and reflection beside it;
//! 4. on SIGHUP, reload the ACL policy (all or nothing);
//! 5. on SIGINT or SIGTERM: report NOT_SERVING, end the streams, drain the
//!    calls in flight, sync and close the log, exit 0.

use std::sync::Arc;

use anyhow::Context;
use chapter_01::Log;
use chapter_02::api::v1::FILE_DESCRIPTOR_SET;
use chapter_02::status::CodecErrorLayer;
use chapter_02::{FollowableLog, LogService, ServiceConfig};
use chapter_04::{AuthorizationLayer, CasbinAuthorizer};
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;
use tower::util::option_layer;

use crate::cli::ServeArgs;
use crate::drain::DrainLayer;
use crate::metered_log::MeteredLog;
use crate::observability::{
    RpcObservabilityLayer, init_tracing, install_metrics, report_log_gauges,
};
use crate::settings::{Security, Settings};

/// The gRPC service name health reports on (and "", the whole server).
pub const LOG_SERVICE_NAME: &str = "log.v1.Log";

// ANCHOR: run
/// Runs `proglog serve` until SIGINT or SIGTERM.
///
/// # Errors
/// A bad setting, an unusable file or address, or a failure while serving.
pub async fn run(args: &ServeArgs) -> anyhow::Result<()> {
    let settings = Settings::resolve(args).map_err(anyhow::Error::msg)?;
    if settings.cluster.is_some() {
        anyhow::bail!(
            "the config file's [cluster] table is for chapter 9's proglog: this server runs alone"
        );
    }
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
    serve(settings, shutdown, reload).await
}
// ANCHOR_END: run

// ANCHOR: serve_start
/// Serves with `settings` until `shutdown` completes; `reload` fires to
/// reload the ACL policy.
///
/// # Errors
/// As [`run`].
pub async fn serve(
    settings: Settings,
    shutdown: impl Future<Output = ()>,
    reload: tokio::signal::unix::Signal,
) -> anyhow::Result<()> {
    warn_if_unprotected(&settings);

    let log = open_log(&settings)?;
    let (tls, authorizer) = match &settings.security {
        Security::Insecure => (None, None),
        Security::Mtls {
            tls,
            acl_model,
            acl_policy,
        } => {
            let tls = chapter_03::server_config(tls)?;
            let authorizer = Arc::new(CasbinAuthorizer::open(acl_model, acl_policy).await?);
            (Some(tls), Some(authorizer))
        }
    };
    // ANCHOR_END: serve_start
    // ANCHOR: serve_bind
    let listener = TcpListener::bind(settings.addr)
        .await
        .with_context(|| format!("cannot listen on {}", settings.addr))?;
    if let Some(addr) = settings.metrics_addr {
        install_metrics(addr)?;
    }

    let service_config = ServiceConfig {
        max_record_bytes: settings.max_record_bytes as usize,
        ..ServiceConfig::default()
    };
    let service = LogService::new(
        Arc::new(FollowableLog::new(MeteredLog(Arc::clone(&log)))),
        service_config,
    )?;
    let (health, health_service) = tonic_health::server::health_reporter();
    set_serving_status(&health, ServingStatus::Serving).await;
    let reflection = || {
        // Reflection in both versions: grpcurl speaks v1; evans and Postman v1alpha.
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection_v1 = reflection()
        .build_v1()
        .context("building gRPC reflection")?;
    let reflection_v1alpha = reflection()
        .build_v1alpha()
        .context("building gRPC reflection")?;
    // ANCHOR_END: serve_bind

    // ANCHOR: serve_background
    let background = spawn_log_upkeep(&log, &settings);
    let reloader = spawn_acl_reloader(authorizer.clone(), reload);
    // ANCHOR_END: serve_background

    // ANCHOR: serve_router
    // ANCHOR: serve_layers
    // Outermost first: every call is observed, even one the ACL refuses;
    // tonic's own decoding errors get their proper status innermost.
    let (start_draining, draining) = watch::channel(false);
    let router = Server::builder()
        .max_concurrent_streams(Some(service.config().max_concurrent_streams))
        .layer(RpcObservabilityLayer)
        .layer(option_layer(authorizer.map(AuthorizationLayer::new)))
        .layer(DrainLayer::new(draining))
        .layer(CodecErrorLayer)
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(service.clone().into_server());
    // ANCHOR_END: serve_layers
    // ANCHOR: serve_grace
    let grace = settings.shutdown_grace;
    let shutdown = async move {
        shutdown.await;
        // Health checkers that watch (or poll) see NOT_SERVING now, while
        // the server still serves: a load balancer has `grace` to stop
        // sending before the drain refuses new calls.
        set_serving_status(&health, ServingStatus::NotServing).await;
        tracing::info!(?grace, "NOT_SERVING; draining after the grace period");
        tokio::time::sleep(grace).await;
        // Streams that never end by themselves (health's Watch,
        // reflection) end now, with the Log's (chapter 2).
        start_draining.send_replace(true);
    };
    tracing::info!(
        addr = %settings.addr,
        data_dir = %settings.data_dir.display(),
        tls = tls.is_some(),
        sync = ?settings.sync,
        max_record_bytes = settings.max_record_bytes,
        segment_bytes = settings.segment_bytes,
        retention = ?settings.retention,
        metrics = ?settings.metrics_addr,
        "serving"
    );
    // ANCHOR_END: serve_grace
    // ANCHOR_END: serve_router
    // ANCHOR: serve_end
    let served = match tls {
        Some(tls) => {
            let incoming = chapter_03::tls_incoming(listener, tls);
            chapter_02::serve_gracefully(&service, shutdown, |drain| {
                router.serve_with_incoming_shutdown(incoming, drain)
            })
            .await
        }
        None => {
            let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
            chapter_02::serve_gracefully(&service, shutdown, |drain| {
                router.serve_with_incoming_shutdown(incoming, drain)
            })
            .await
        }
    };
    for task in background.iter().chain(reloader.iter()) {
        task.abort();
    }
    served.context("serving")?;
    drop(service);
    close_log(log).await
}
// ANCHOR_END: serve_end

// ANCHOR: sync_on_a_timer
/// Under `--sync interval=D`, the log syncs on the first append at least `D`
/// after the previous sync; this timer also syncs a log that went idle, so
/// no acknowledged record waits longer than about `D` for the disk.
pub async fn sync_on_a_timer(log: Arc<Log>, policy: chapter_01::SyncPolicy) {
    let chapter_01::SyncPolicy::Interval(interval) = policy else {
        return;
    };
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let log = Arc::clone(&log);
        match tokio::task::spawn_blocking(move || log.sync()).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::error!(%error, "syncing the log failed"),
            Err(error) => tracing::error!(%error, "the sync task failed"),
        }
    }
}
// ANCHOR_END: sync_on_a_timer

// ANCHOR: open_log
/// Opens the log, reporting what recovery repaired.
fn open_log(settings: &Settings) -> anyhow::Result<Arc<Log>> {
    let log = Log::open(&settings.data_dir, settings.log_config())
        .with_context(|| format!("opening the log in {}", settings.data_dir.display()))?;
    for repair in log.repairs() {
        tracing::warn!(%repair, "recovered from an unclean shutdown");
    }
    tracing::info!(
        lowest_offset = log.lowest_offset(),
        next_offset = log.next_offset(),
        segments = log.segment_count(),
        "log open"
    );
    Ok(Arc::new(log))
}
// ANCHOR_END: open_log

// ANCHOR: close_log
/// Closes the log (sync, trim the active index) once nothing else holds it.
pub async fn close_log(log: Arc<Log>) -> anyhow::Result<()> {
    // Aborted tasks release their handles as they unwind: give them a moment.
    let mut log = log;
    for _ in 0..100 {
        match Arc::try_unwrap(log) {
            Ok(owned) => {
                tokio::task::spawn_blocking(move || owned.close())
                    .await?
                    .context("closing the log")?;
                tracing::info!("log closed; bye");
                return Ok(());
            }
            Err(shared) => {
                log = shared;
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }
    // Still shared (a call that outlived the drain): it was synced; the last
    // holder's drop trims the index.
    tracing::warn!("the log is still in use; it was synced, and closes when the last user lets go");
    Ok(())
}
// ANCHOR_END: close_log

// ANCHOR: warn_if_unprotected
/// Warns, first thing in the log, when the server runs with the public
/// development keys (`--dev`) or with no protection at all (`--insecure`):
/// neither may ever be mistaken for a production setting.
pub fn warn_if_unprotected(settings: &Settings) {
    if let Some(dev) = &settings.dev {
        tracing::warn!(
            files = %dev.dir().display(),
            "development mode: using the development certificates and ACL built into this binary; their keys are public, so anyone can be root: never do this in production"
        );
    }
    if settings.security == Security::Insecure {
        tracing::warn!("INSECURE: serving plaintext with no authentication and no authorization");
    }
}
// ANCHOR_END: warn_if_unprotected

// ANCHOR: upkeep
/// The log's upkeep, each a task of its own: retention, the size gauges,
/// and the sync timer of `--sync interval=...`. (Chapter 9's server runs
/// the same on the log clients read.)
pub fn spawn_log_upkeep(log: &Arc<Log>, settings: &Settings) -> [tokio::task::JoinHandle<()>; 3] {
    [
        tokio::spawn(crate::retention::run(
            Arc::clone(log),
            settings.retention.clone(),
        )),
        tokio::spawn(report_log_gauges(Arc::clone(log))),
        tokio::spawn(sync_on_a_timer(Arc::clone(log), settings.sync)),
    ]
}

/// Reloads the ACL's policy on each `reload` (SIGHUP); a policy that does
/// not load leaves the previous one in force. `None` without an ACL.
pub fn spawn_acl_reloader(
    authorizer: Option<Arc<CasbinAuthorizer>>,
    mut reload: tokio::signal::unix::Signal,
) -> Option<tokio::task::JoinHandle<()>> {
    authorizer.map(|authorizer| {
        tokio::spawn(async move {
            while reload.recv().await.is_some() {
                match authorizer.reload().await {
                    Ok(()) => tracing::info!(policy = %authorizer.policy_path().display(), "SIGHUP: ACL reloaded"),
                    Err(error) => tracing::error!(%error, "SIGHUP: ACL not reloaded; the previous one stays in force"),
                }
            }
        })
    })
}

// ANCHOR_END: upkeep

/// Sets what health checks hear, for the whole server (`""`) and for the
/// Log service alike.
pub async fn set_serving_status(
    health: &tonic_health::server::HealthReporter,
    status: ServingStatus,
) {
    for name in ["", LOG_SERVICE_NAME] {
        health.set_service_status(name, status).await;
    }
}
