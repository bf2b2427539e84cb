//! Ending, at shutdown, the streams that would never end on their own.
//!
//! A graceful shutdown waits for the calls in flight. The Log service ends
//! its own streams when told to (chapter 2), but two others never end by
//! themselves: gRPC health's `Watch`, which a load balancer keeps open to
//! hear of changes, and reflection's `ServerReflectionInfo`, which a tool
//! like grpcurl keeps open for its session. Left alone, either holds the
//! shutdown for the whole drain timeout. So this layer wraps every response
//! body but the Log service's, and when the drain begins it ends the body
//! there, with the status `UNAVAILABLE` in its trailers: the client learns
//! why, and may reconnect elsewhere. The request side of such a stream is
//! ended too (as if the client had finished sending), so that the service
//! lets go of it and the connection can close.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::future::BoxFuture;
use http_body::{Body as HttpBody, Frame, SizeHint};
use tokio::sync::watch;
use tonic::Status;
use tonic::body::Body;
use tower::{Layer, Service};

// ANCHOR: drain_layer
/// The path prefix of the Log service, whose streams end themselves.
const LOG_SERVICE: &str = "/log.v1.Log/";

/// A tower layer that ends other services' streams when `draining` turns true.
#[derive(Debug, Clone)]
pub struct DrainLayer {
    draining: watch::Receiver<bool>,
}

impl DrainLayer {
    /// A layer that ends streams once `draining` says `true`.
    pub fn new(draining: watch::Receiver<bool>) -> DrainLayer {
        DrainLayer { draining }
    }
}

impl<S> Layer<S> for DrainLayer {
    type Service = Drain<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Drain {
            inner,
            draining: self.draining.clone(),
        }
    }
}

/// The service [`DrainLayer`] wraps around the inner one.
#[derive(Debug, Clone)]
pub struct Drain<S> {
    inner: S,
    draining: watch::Receiver<bool>,
}
// ANCHOR_END: drain_layer

impl<S> Service<http::Request<Body>> for Drain<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    // ANCHOR: drain_call
    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        if request.uri().path().starts_with(LOG_SERVICE) {
            return Box::pin(self.inner.call(request));
        }
        let drained = |draining: &watch::Receiver<bool>| -> BoxFuture<'static, ()> {
            let mut draining = draining.clone();
            Box::pin(async move {
                // An error means the sender is gone: the server is going too.
                let _ = draining.wait_for(|draining| *draining).await;
            })
        };
        let request = request.map(|inner| {
            Body::new(DrainedBody {
                inner,
                drained: drained(&self.draining),
                ended: false,
                end_with: None,
            })
        });
        let response = self.inner.call(request);
        let draining = self.draining.clone();
        Box::pin(async move {
            let response = response.await?;
            let mut trailers = http::HeaderMap::new();
            let _ = Status::unavailable("the server is shutting down").add_header(&mut trailers);
            Ok(response.map(|inner| {
                Body::new(DrainedBody {
                    inner,
                    drained: drained(&draining),
                    ended: false,
                    end_with: Some(trailers),
                })
            }))
        })
    }
    // ANCHOR_END: drain_call
}

// ANCHOR: drained_body
// ANCHOR: drained_struct
/// A body that ends when the drain begins: a response's with `UNAVAILABLE`
/// in its trailers, a request's as if the client had finished sending.
struct DrainedBody {
    inner: Body,
    drained: BoxFuture<'static, ()>,
    ended: bool,
    /// The trailers to end with (a response), or none (a request).
    end_with: Option<http::HeaderMap>,
}
// ANCHOR_END: drained_struct

// ANCHOR: drained_poll
impl HttpBody for DrainedBody {
    type Data = <Body as HttpBody>::Data;
    type Error = <Body as HttpBody>::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        if self.ended {
            return Poll::Ready(None);
        }
        if self.drained.as_mut().poll(cx).is_ready() {
            self.ended = true;
            return Poll::Ready(
                self.end_with
                    .take()
                    .map(|trailers| Ok(Frame::trailers(trailers))),
            );
        }
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(None) = &polled {
            self.ended = true;
        }
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && frame.is_trailers()
        {
            self.ended = true;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.ended || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
// ANCHOR_END: drained_poll
// ANCHOR_END: drained_body
