//! # Chapter 4: authorization
//!
//! Chapter 3 told us *who* is calling; this chapter decides what they *may
//! do*, with an access control list evaluated by casbin, enforced by a tower
//! layer in front of the unchanged service. The major components are:
//!
//! * [`authorizer`]: the [`Authorizer`] trait and [`CasbinAuthorizer`], an
//!   ACL loaded from `policies/model.conf` and `policies/policy.csv`.
//! * [`routes`]: [`Routes`], which RPC needs which [`Action`]; default deny.
//! * [`layer`]: [`AuthorizationLayer`], which maps each RPC to an action
//!   and refuses what the ACL does not allow before the service sees it.
//! * [`server`]: [`serve`], chapter 3's mutual-TLS server with the layer in
//!   front.
//! * [`error`] and [`status`]: what can go wrong, and the one place where a
//!   refusal becomes `UNAUTHENTICATED` or `PERMISSION_DENIED`.

pub mod authorizer;
pub mod error;
pub mod layer;
pub mod routes;
pub mod server;
pub mod status;

pub use authorizer::{Authorizer, CasbinAuthorizer, OBJECT_LOG};
pub use error::{Error, Result};
pub use layer::AuthorizationLayer;
pub use routes::{Action, Route, Routes};
pub use server::serve;
