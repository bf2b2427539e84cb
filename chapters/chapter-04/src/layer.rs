//! Authorization as a tower layer: a cross-cutting concern added in front of
//! the service without touching it.
//!
//! For every request the layer reads the gRPC method from the HTTP/2 path
//! (`/log.v1.Log/Produce`), maps it to an action, takes the caller's
//! identity from the request's extensions (chapter 3 put it there at the
//! handshake), and asks the [`Authorizer`]. A refused request is answered
//! right here, with a status, before the service sees it: a denied stream is
//! refused before a single record is read or written. The check runs once
//! per call, not per streamed message.

use std::sync::Arc;
use std::task::{Context, Poll};

use chapter_03::Identity;
use futures_util::future::{Either, Ready, ready};
use tonic::Status;
use tonic::body::Body;
use tower::{Layer, Service};

use crate::authorizer::{Authorizer, OBJECT_LOG};
use crate::error::Error;

/// The path prefix of the Log service's methods.
const LOG_SERVICE: &str = "/log.v1.Log/";

// ANCHOR: action
/// What a request asks to do, as the ACL names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Append records: `Produce`, `ProduceStream`.
    Produce,
    /// Read records: `Consume`, `ConsumeStream`.
    Consume,
}

impl Action {
    /// The action's name in the policy.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Produce => "produce",
            Action::Consume => "consume",
        }
    }
}

/// How the layer treats a request path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    /// A Log method, checked against the ACL as this action.
    Log(Action),
    /// A Log method with no action: denied whoever asks (default deny).
    UnknownLogMethod,
    /// Another service (gRPC health, reflection): no authorization needed.
    NotTheLog,
}

fn route(path: &str) -> Route {
    match path.strip_prefix(LOG_SERVICE) {
        Some("Produce" | "ProduceStream") => Route::Log(Action::Produce),
        Some("Consume" | "ConsumeStream") => Route::Log(Action::Consume),
        Some(_) => Route::UnknownLogMethod,
        None => Route::NotTheLog,
    }
}
// ANCHOR_END: action

// ANCHOR: layer
/// A tower layer that authorizes every Log RPC with `A`.
#[derive(Debug)]
pub struct AuthorizationLayer<A> {
    authorizer: Arc<A>,
}

impl<A> Clone for AuthorizationLayer<A> {
    fn clone(&self) -> Self {
        AuthorizationLayer {
            authorizer: Arc::clone(&self.authorizer),
        }
    }
}

impl<A: Authorizer> AuthorizationLayer<A> {
    /// A layer that asks `authorizer`.
    pub fn new(authorizer: Arc<A>) -> Self {
        AuthorizationLayer { authorizer }
    }
}

impl<S, A> Layer<S> for AuthorizationLayer<A> {
    type Service = Authorization<S, A>;

    fn layer(&self, inner: S) -> Self::Service {
        Authorization {
            inner,
            authorizer: Arc::clone(&self.authorizer),
        }
    }
}
// ANCHOR_END: layer

// ANCHOR: authorization
/// The service the layer wraps around the inner one.
#[derive(Debug)]
pub struct Authorization<S, A> {
    inner: S,
    authorizer: Arc<A>,
}
// ANCHOR_END: authorization

impl<S: Clone, A> Clone for Authorization<S, A> {
    fn clone(&self) -> Self {
        Authorization {
            inner: self.inner.clone(),
            authorizer: Arc::clone(&self.authorizer),
        }
    }
}

// ANCHOR: check
impl<S, A> Authorization<S, A>
where
    A: Authorizer,
{
    /// Whether the request may go on, or the error that refuses it.
    fn check(&self, path: &str, identity: Option<&Identity>) -> Result<(), Error> {
        let action = match route(path) {
            Route::NotTheLog => return Ok(()),
            Route::Log(action) => Some(action),
            Route::UnknownLogMethod => None,
        };
        let subject = identity.ok_or(Error::Unauthenticated)?.as_str();
        let denied = |action: &str| Error::PermissionDenied {
            subject: subject.to_string(),
            action: action.to_string(),
            object: OBJECT_LOG.to_string(),
        };
        let Some(action) = action else {
            return Err(denied(path.strip_prefix(LOG_SERVICE).unwrap_or(path)));
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
            authorizer: Arc::new(Allow("root", "produce")),
        };
        layer.check(path, identity.map(Identity::new).as_ref())
    }
    // ANCHOR_END: allow_one

    // Each Log RPC maps to its action; other services are not the ACL's business.
    #[test]
    fn maps_every_rpc_to_its_action() {
        assert_eq!(route("/log.v1.Log/Produce"), Route::Log(Action::Produce));
        assert_eq!(
            route("/log.v1.Log/ProduceStream"),
            Route::Log(Action::Produce)
        );
        assert_eq!(route("/log.v1.Log/Consume"), Route::Log(Action::Consume));
        assert_eq!(
            route("/log.v1.Log/ConsumeStream"),
            Route::Log(Action::Consume)
        );
        assert_eq!(route("/log.v1.Log/Truncate"), Route::UnknownLogMethod);
        assert_eq!(route("/grpc.health.v1.Health/Check"), Route::NotTheLog);
    }

    // ANCHOR: decides
    // Allowed, denied, unknown method and no identity, decided before the service runs.
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
            "root is not permitted to Truncate to *"
        );
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
