//! The one place where a refusal becomes a gRPC status.
//!
//! `UNAUTHENTICATED` means "I do not know who you are": come back with a
//! certificate. `PERMISSION_DENIED` means "I know who you are, and you may
//! not": retrying will not help, an operator must change the policy. The
//! details say who, what and on what, for programs; the localized message
//! says it for people.

use std::collections::HashMap;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::error::Error;

/// The `ErrorInfo` domain of authorization errors.
pub const ERROR_DOMAIN: &str = "proglog.log.v1";
/// The `ErrorInfo` reason of a denial.
pub const PERMISSION_DENIED: &str = "PERMISSION_DENIED";

// ANCHOR: status
impl From<Error> for Status {
    fn from(error: Error) -> Status {
        match error {
            Error::Unauthenticated => Status::unauthenticated(Error::Unauthenticated.to_string()),
            Error::PermissionDenied {
                subject,
                action,
                object,
            } => {
                let message = format!("{subject} is not permitted to {action} to {object}");
                let metadata = HashMap::from([
                    ("subject".to_string(), subject),
                    ("action".to_string(), action),
                    ("object".to_string(), object),
                ]);
                let mut details = ErrorDetails::new();
                details.set_error_info(PERMISSION_DENIED, ERROR_DOMAIN, metadata);
                details.set_localized_message("en-US", message.clone());
                Status::with_error_details(Code::PermissionDenied, message, details)
            }
            Error::Unimplemented { method } => {
                Status::unimplemented(Error::Unimplemented { method }.to_string())
            }
            // Fail closed: an ACL that cannot be evaluated allows nothing.
            Error::Enforcement(_) => Status::internal("authorization could not be decided"),
            Error::File { .. } | Error::Model { .. } | Error::Policy { .. } | Error::Server(_) => {
                Status::internal("the server's authorization is misconfigured")
            }
        }
    }
}
// ANCHOR_END: status
