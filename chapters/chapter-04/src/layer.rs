//! Authorization as a tower layer: a cross-cutting concern added in front of
//! the service without touching it.
//!
//! For every request the layer reads the gRPC method from the HTTP/2 path
//! (`/log.v1.Log/Produce`), maps it to an action ([`Routes`]), takes the
//! caller's identity from the request's extensions (chapter 3 put it there
//! at the handshake), and asks the [`Authorizer`]. A refused request is
//! answered right here, with a status, before the service sees it: a denied
//! stream is refused before a single record is read or written. The check
//! runs once per call, not per streamed message.

use std::sync::Arc;
use std::task::{Context, Poll};

use chapter_03::Identity;
use futures_util::future::{Either, Ready, ready};
use tonic::Status;
use tonic::body::Body;
use tower::{Layer, Service};

use crate::authorizer::{Authorizer, OBJECT_LOG};
use crate::error::Error;
use crate::routes::{Route, Routes};

// ANCHOR: layer
/// A tower layer that authorizes every RPC with `A`, by the [`Routes`].
#[derive(Debug)]
pub struct AuthorizationLayer<A> {
    authorizer: Arc<A>,
    routes: Arc<Routes>,
}

impl<A> Clone for AuthorizationLayer<A> {
    fn clone(&self) -> Self {
        AuthorizationLayer {
            authorizer: Arc::clone(&self.authorizer),
            routes: Arc::clone(&self.routes),
        }
    }
}

impl<A: Authorizer> AuthorizationLayer<A> {
    /// A layer that asks `authorizer` about the Log service's RPCs
    /// ([`Routes::log`]).
    pub fn new(authorizer: Arc<A>) -> Self {
        AuthorizationLayer::with_routes(authorizer, Routes::log())
    }

    /// A layer that asks `authorizer` about the RPCs in `routes`.
    pub fn with_routes(authorizer: Arc<A>, routes: Routes) -> Self {
        AuthorizationLayer {
            authorizer,
            routes: Arc::new(routes),
        }
    }
}
// ANCHOR_END: layer

// ANCHOR: authorization
impl<S, A> Layer<S> for AuthorizationLayer<A> {
    type Service = Authorization<S, A>;

    fn layer(&self, inner: S) -> Self::Service {
        Authorization {
            inner,
            authorizer: Arc::clone(&self.authorizer),
            routes: Arc::clone(&self.routes),
        }
    }
}

/// The service the layer wraps around the inner one.
#[derive(Debug)]
pub struct Authorization<S, A> {
    inner: S,
    authorizer: Arc<A>,
    routes: Arc<Routes>,
}

impl<S: Clone, A> Clone for Authorization<S, A> {
    fn clone(&self) -> Self {
        Authorization {
            inner: self.inner.clone(),
            authorizer: Arc::clone(&self.authorizer),
            routes: Arc::clone(&self.routes),
        }
    }
}
// ANCHOR_END: authorization

// ANCHOR: check
impl<S, A> Authorization<S, A>
where
    A: Authorizer,
{
    /// Whether the request may go on, or the error that refuses it.
    fn check(&self, path: &str, identity: Option<&Identity>) -> Result<(), Error> {
        let route = self.routes.route(path);
        if route == Route::Open {
            return Ok(());
        }
        let subject = identity.ok_or(Error::Unauthenticated)?.as_str();
        let denied = |action: &str| Error::PermissionDenied {
            subject: subject.to_string(),
            action: action.to_string(),
            object: OBJECT_LOG.to_string(),
        };
        let action = match route {
            Route::Authorize(action) => action,
            // Nothing to authorize, and nothing the service would do.
            Route::UnknownMethod => {
                return Err(Error::Unimplemented {
                    method: path.to_string(),
                });
            }
            Route::UnknownService | Route::Open => return Err(denied(path)),
        };
        match self
            .authorizer
            .authorize(subject, OBJECT_LOG, action.as_str())
        {
            Ok(true) => Ok(()),
            Ok(false) => Err(denied(action.as_str())),
            Err(error) => {
                tracing::error!(%error, subject, action = action.as_str(), "ACL evaluation failed; refusing");
                Err(error)
            }
        }
    }
}
// ANCHOR_END: check

// ANCHOR: service
impl<S, A, B> Service<http::Request<B>> for Authorization<S, A>
where
    S: Service<http::Request<B>, Response = http::Response<Body>>,
    A: Authorizer,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Either<Ready<Result<Self::Response, Self::Error>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        match self.check(
            request.uri().path(),
            Identity::from_extensions(request.extensions()),
        ) {
            Ok(()) => Either::Right(self.inner.call(request)),
            // A gRPC error is an HTTP 200 with the status in its headers.
            Err(refusal) => Either::Left(ready(Ok(Status::from(refusal).into_http()))),
        }
    }
}
// ANCHOR_END: service

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::Action;

    // ANCHOR: allow_one
    /// An authorizer that allows exactly one (subject, action).
    struct Allow(&'static str, &'static str);

    impl Authorizer for Allow {
        fn authorize(&self, subject: &str, object: &str, action: &str) -> crate::Result<bool> {
            Ok(subject == self.0 && object == OBJECT_LOG && action == self.1)
        }
    }

    fn check(path: &str, identity: Option<&str>) -> Result<(), Error> {
        let layer = Authorization {
            inner: (),
            authorizer: Arc::new(Allow("root", Action::PRODUCE.as_str())),
            routes: Arc::new(Routes::log()),
        };
        layer.check(path, identity.map(Identity::new).as_ref())
    }
    // ANCHOR_END: allow_one

    // ANCHOR: decides
    // Allowed, denied, unknown method, unknown service and no identity,
    // decided before the service runs.
    #[test]
    fn decides_before_the_service_runs() {
        assert!(check("/log.v1.Log/Produce", Some("root")).is_ok());
        assert!(matches!(
            check("/log.v1.Log/Consume", Some("root")),
            Err(Error::PermissionDenied { .. })
        ));
        let unknown = check("/log.v1.Log/Truncate", Some("root")).unwrap_err();
        assert_eq!(
            unknown.to_string(),
            "/log.v1.Log/Truncate is not a method of this server"
        );
        assert!(matches!(
            check("/log.v1.Log/Truncate", None),
            Err(Error::Unauthenticated)
        ));
        assert!(matches!(
            check("/raft.v1.Raft/Vote", Some("root")),
            Err(Error::PermissionDenied { .. })
        ));
        assert!(matches!(
            check("/log.v1.Log/Produce", None),
            Err(Error::Unauthenticated)
        ));
        assert!(
            check("/grpc.health.v1.Health/Check", None).is_ok(),
            "health needs no identity"
        );
    }
    // ANCHOR_END: decides
}
