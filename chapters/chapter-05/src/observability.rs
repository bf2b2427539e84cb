//! Seeing what the server does: log lines (tracing, as text or JSON), one
//! event per RPC with its method, subject, status code and duration, and
//! Prometheus metrics.
//!
//! The RPC event and metrics come from one tower layer. A gRPC call's status
//! arrives at its *end*: in the response headers when the call fails at once
//! ("trailers-only"), otherwise in the trailers after the last message. So
//! the layer wraps the response body and records the call when the trailers
//! pass through, or when the body is dropped (a client that went away:
//! `CANCELLED`). A stream is counted as open from the call until then.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use chapter_03::Identity;
use futures_util::future::BoxFuture;
use http_body::{Body as HttpBody, Frame, SizeHint};
use tonic::body::Body;
use tower::{Layer, Service};

use crate::cli::LogFormat;

// ANCHOR: init_tracing
/// Installs the global tracing subscriber: `RUST_LOG` filters (default
/// `info`), lines go to standard error as text or JSON.
pub fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    // `try_init`: a second call (tests) keeps the first subscriber.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
// ANCHOR_END: init_tracing

// ANCHOR: layer
/// The RPC layer: one log event and a set of metrics per call.
#[derive(Debug, Clone, Default)]
pub struct RpcObservabilityLayer;

impl<S> Layer<S> for RpcObservabilityLayer {
    type Service = RpcObservability<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RpcObservability { inner }
    }
}

/// The service the layer wraps around the inner one.
#[derive(Debug, Clone)]
pub struct RpcObservability<S> {
    inner: S,
}
// ANCHOR_END: layer

// ANCHOR: call
/// What is known about a call in flight.
#[derive(Debug)]
struct Call {
    method: Arc<str>,
    subject: Option<String>,
    started: Instant,
    streaming: bool,
}

impl Call {
    /// Records the finished call: the log event and the metrics.
    fn finish(self, code: &str) {
        let duration = self.started.elapsed();
        let method = self.method.to_string();
        metrics::counter!("proglog_rpcs_total", "method" => method.clone(), "code" => code.to_string()).increment(1);
        metrics::histogram!("proglog_rpc_duration_seconds", "method" => method.clone())
            .record(duration.as_secs_f64());
        if self.streaming {
            metrics::gauge!("proglog_open_streams").decrement(1.0);
        }
        let subject = self.subject.as_deref().unwrap_or("-");
        let duration_ms = duration.as_micros() as f64 / 1000.0; // to the microsecond
        if code == "OK" && ROUTINE.contains(&&*self.method) {
            tracing::debug!(target: "proglog::rpc", method = %self.method, subject, code, duration_ms, "rpc");
        } else {
            tracing::info!(target: "proglog::rpc", method = %self.method, subject, code, duration_ms, "rpc");
        }
    }
}

/// Calls a server makes or answers many times a second when all is well:
/// Raft's heartbeats and replication, votes, health checks, and clients
/// asking who leads. When they succeed they are logged at DEBUG, so that
/// they do not drown the calls a person reads the log for; when they fail,
/// at INFO like every other call. (The metrics count them all.)
const ROUTINE: [&str; 4] = ["AppendEntries", "Vote", "Check", "GetServers"];
// ANCHOR_END: call

// ANCHOR: service_head
impl<S, B> Service<http::Request<B>> for RpcObservability<S>
where
    S: Service<http::Request<B>, Response = http::Response<Body>>,
    S::Future: Send + 'static,
    S::Error: 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    // ANCHOR_END: service_head
    // ANCHOR: service_call
    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let method: Arc<str> = method_label(request.uri().path()).into();
        let streaming = method.ends_with("Stream") || method.as_ref() == "Watch";
        if streaming {
            metrics::gauge!("proglog_open_streams").increment(1.0);
        }
        let call = Call {
            method,
            subject: Identity::from_extensions(request.extensions())
                .map(|identity| identity.as_str().to_string()),
            started: Instant::now(),
            streaming,
        };
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await;
            Ok(match response {
                Ok(response) => match status_code(response.headers()) {
                    // Trailers-only: the call is over before any body.
                    Some(code) => {
                        call.finish(&code);
                        response
                    }
                    None => response.map(|body| {
                        Body::new(ObservedBody {
                            inner: body,
                            call: Some(call),
                        })
                    }),
                },
                Err(error) => {
                    call.finish("UNKNOWN");
                    return Err(error);
                }
            })
        })
    }
}
// ANCHOR_END: service_call

// ANCHOR: status_code
// ANCHOR: method_label
/// The `method` label of a call's metrics: the method's name for the
/// methods this server has, and `unknown` for any other path. A path comes
/// from the client, before any check: used as a label as it is, every
/// client with a certificate could create new metric series at will.
fn method_label(path: &str) -> &'static str {
    const KNOWN: [&str; 12] = [
        "/log.v1.Log/Produce",
        "/log.v1.Log/ProduceStream",
        "/log.v1.Log/Consume",
        "/log.v1.Log/ConsumeStream",
        "/log.v1.Log/GetServers",
        // The Raft service a cluster serves on the same port (chapter 7).
        "/raft.v1.Raft/AppendEntries",
        "/raft.v1.Raft/Vote",
        "/raft.v1.Raft/InstallSnapshot",
        "/raft.v1.Raft/Identify",
        "/grpc.health.v1.Health/Check",
        "/grpc.health.v1.Health/Watch",
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    ];
    let v1alpha = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo";
    match KNOWN.iter().find(|known| **known == path) {
        Some(known) => known.rsplit('/').next().unwrap_or(known),
        None if path == v1alpha => "ServerReflectionInfo",
        None => "unknown",
    }
}
// ANCHOR_END: method_label

/// The gRPC status code in a header map, as gRPC names it.
fn status_code(headers: &http::HeaderMap) -> Option<String> {
    let code = headers
        .get("grpc-status")?
        .to_str()
        .ok()?
        .parse::<i32>()
        .ok()?;
    Some(crate::client::code_name(tonic::Code::from_i32(code)))
}
// ANCHOR_END: status_code

// ANCHOR: body
/// A response body that reports its call when the trailers go by, or when it
/// is dropped before they did.
struct ObservedBody {
    inner: Body,
    call: Option<Call>,
}

impl HttpBody for ObservedBody {
    type Data = <Body as HttpBody>::Data;
    type Error = <Body as HttpBody>::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(trailers) = frame.trailers_ref()
        {
            let code = status_code(trailers).unwrap_or_else(|| "OK".to_string());
            if let Some(call) = self.call.take() {
                call.finish(&code);
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
// ANCHOR_END: body

// ANCHOR: drop
impl Drop for ObservedBody {
    fn drop(&mut self) {
        if let Some(call) = self.call.take() {
            call.finish("CANCELLED");
        }
    }
}
// ANCHOR_END: drop

// ANCHOR: install_metrics
/// Starts the Prometheus exporter on `addr` (`GET /metrics`).
///
/// # Errors
/// When the address cannot be bound, or a recorder is already installed.
pub fn install_metrics(addr: std::net::SocketAddr) -> anyhow::Result<()> {
    // Buckets make the latency a Prometheus histogram, which (unlike a
    // summary) can be added up across servers: 50 µs to 10 s.
    let buckets = [
        0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
        1.0, 2.5, 10.0,
    ];
    let latency = metrics_exporter_prometheus::Matcher::Full("proglog_rpc_duration_seconds".into());
    metrics_exporter_prometheus::PrometheusBuilder::new()
        .set_buckets_for_metric(latency, &buckets)
        .map_err(|error| anyhow::anyhow!("metrics buckets: {error}"))?
        .with_http_listener(addr)
        .install()
        .map_err(|error| anyhow::anyhow!("metrics endpoint {addr}: {error}"))?;
    // ANCHOR_END: install_metrics
    metrics::describe_counter!(
        "proglog_records_appended_total",
        "Records appended to the log."
    );
    metrics::describe_counter!(
        "proglog_bytes_appended_total",
        "Bytes of record values appended to the log."
    );
    metrics::describe_counter!(
        "proglog_rpcs_total",
        "Finished RPCs, by method and status code."
    );
    metrics::describe_histogram!(
        "proglog_rpc_duration_seconds",
        "RPC durations (a stream's, until it ends)."
    );
    metrics::describe_gauge!("proglog_lowest_offset", "The lowest offset in the log.");
    metrics::describe_gauge!(
        "proglog_next_offset",
        "The offset the next record will get."
    );
    metrics::describe_gauge!(
        "proglog_segments",
        "Segments in the log, sealed and active."
    );
    metrics::describe_gauge!("proglog_log_bytes", "Bytes of store files in the log.");
    metrics::describe_gauge!("proglog_open_streams", "Streaming RPCs in progress.");
    metrics::describe_gauge!(
        "proglog_log_syncs",
        "Times the log has forced a store to disk (fdatasync) since the server started."
    );
    Ok(())
}

// ANCHOR: gauges
/// Updates the log gauges every second until aborted.
pub async fn report_log_gauges(log: Arc<chapter_01::Log>) {
    let mut ticks = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        ticks.tick().await;
        metrics::gauge!("proglog_lowest_offset").set(log.lowest_offset() as f64);
        metrics::gauge!("proglog_next_offset").set(log.next_offset() as f64);
        metrics::gauge!("proglog_segments").set(log.segment_count() as f64);
        metrics::gauge!("proglog_log_bytes").set(log.size_bytes() as f64);
        metrics::gauge!("proglog_log_syncs").set(log.sync_count() as f64);
    }
}
// ANCHOR_END: gauges
