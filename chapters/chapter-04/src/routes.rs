//! Which permission each RPC needs: a table from gRPC method to ACL action.
//!
//! A gRPC request names its method in the HTTP/2 path:
//! `/log.v1.Log/Produce` is the method `Produce` of the service
//! `log.v1.Log`. The table maps every method of every service the server
//! offers to the action the ACL must allow. What is not in the table is
//! refused (default deny), except the services that carry no data and that
//! load balancers and tools must reach without a client certificate: gRPC
//! health and reflection.
//!
//! ```text
//!   /log.v1.Log/Produce          ─▶ Authorize("produce")
//!   /log.v1.Log/Truncate         ─▶ UnknownMethod     (UNIMPLEMENTED, if you may be here at all)
//!   /grpc.health.v1.Health/Check ─▶ Open              (no identity needed)
//!   /some.Other/Thing            ─▶ UnknownService    (PERMISSION_DENIED)
//! ```
//!
//! Later chapters add services (Raft's, in chapter 7) with
//! [`Routes::service`].

// ANCHOR: action
/// What a request asks to do, as the ACL names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Action(&'static str);

impl Action {
    /// Append records: `Produce`, `ProduceStream`.
    pub const PRODUCE: Action = Action("produce");
    /// Read records: `Consume`, `ConsumeStream`.
    pub const CONSUME: Action = Action("consume");
    /// List the cluster's servers: `GetServers` (chapter 7).
    pub const GET_SERVERS: Action = Action("get_servers");

    /// An action of another name (for services added by later chapters).
    pub const fn named(name: &'static str) -> Action {
        Action(name)
    }

    /// The action's name in the policy.
    pub fn as_str(self) -> &'static str {
        self.0
    }
}
// ANCHOR_END: action

// ANCHOR: route_types
/// How the authorization layer treats a request path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// A known method: the caller must be allowed this action.
    Authorize(Action),
    /// A known service, but no such method: `UNIMPLEMENTED` for a caller
    /// with an identity (the service never sees the request).
    UnknownMethod,
    /// A service anyone may use, with or without an identity.
    Open,
    /// No such service in the table: denied (default deny).
    UnknownService,
}

/// The services the server offers, and what each method needs.
#[derive(Debug, Clone)]
pub struct Routes {
    /// (`/package.Service/`, [(method, action)]) for each service.
    services: Vec<(String, Vec<(&'static str, Action)>)>,
    /// The `/package.Service/` prefixes anyone may use.
    open: Vec<&'static str>,
}
// ANCHOR_END: route_types

// ANCHOR: routes
// ANCHOR: routes_log
/// The services open to everyone: gRPC health (for load balancers and
/// Kubernetes probes) and reflection (for grpcurl and friends).
const OPEN_SERVICES: [&str; 3] = [
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1.ServerReflection/",
    "/grpc.reflection.v1alpha.ServerReflection/",
];

impl Routes {
    /// The Log service's four methods, and the open services.
    pub fn log() -> Routes {
        Routes {
            services: Vec::new(),
            open: OPEN_SERVICES.to_vec(),
        }
        .service(
            "log.v1.Log",
            &[
                ("Produce", Action::PRODUCE),
                ("ProduceStream", Action::PRODUCE),
                ("Consume", Action::CONSUME),
                ("ConsumeStream", Action::CONSUME),
                ("GetServers", Action::GET_SERVERS),
            ],
        )
    }
    // ANCHOR_END: routes_log

    // ANCHOR: routes_route
    /// Adds (or extends) a service: `name` is its full name
    /// (`log.v1.Log`), `methods` each method's action.
    pub fn service(mut self, name: &str, methods: &[(&'static str, Action)]) -> Routes {
        let prefix = format!("/{name}/");
        match self.services.iter_mut().find(|(known, _)| *known == prefix) {
            Some((_, known)) => known.extend_from_slice(methods),
            None => self.services.push((prefix, methods.to_vec())),
        }
        self
    }

    /// How to treat a request for `path`.
    pub fn route(&self, path: &str) -> Route {
        if self.open.iter().any(|open| path.starts_with(open)) {
            return Route::Open;
        }
        for (prefix, methods) in &self.services {
            if let Some(method) = path.strip_prefix(prefix.as_str()) {
                return match methods.iter().find(|(name, _)| *name == method) {
                    Some((_, action)) => Route::Authorize(*action),
                    None => Route::UnknownMethod,
                };
            }
        }
        Route::UnknownService
    }
}
// ANCHOR_END: routes_route
// ANCHOR_END: routes

#[cfg(test)]
mod tests {
    use super::*;

    // ANCHOR: test_routes
    // Each Log RPC maps to its action; health and reflection are open;
    // anything else is unknown.
    #[test]
    fn maps_every_rpc_to_its_action() {
        let routes = Routes::log();
        let route = |path| routes.route(path);
        assert_eq!(
            route("/log.v1.Log/Produce"),
            Route::Authorize(Action::PRODUCE)
        );
        assert_eq!(
            route("/log.v1.Log/ProduceStream"),
            Route::Authorize(Action::PRODUCE)
        );
        assert_eq!(
            route("/log.v1.Log/Consume"),
            Route::Authorize(Action::CONSUME)
        );
        assert_eq!(
            route("/log.v1.Log/ConsumeStream"),
            Route::Authorize(Action::CONSUME)
        );
        assert_eq!(
            route("/log.v1.Log/GetServers"),
            Route::Authorize(Action::GET_SERVERS)
        );
        assert_eq!(route("/log.v1.Log/Truncate"), Route::UnknownMethod);
        assert_eq!(route("/log.v1.Log/Produce/extra"), Route::UnknownMethod);
        assert_eq!(route("/log.v1.LogX/Produce"), Route::UnknownService);
        assert_eq!(route("/grpc.health.v1.Health/Check"), Route::Open);
        assert_eq!(
            route("/grpc.health.v1.HealthX/Check"),
            Route::UnknownService
        );
        assert_eq!(route("/raft.v1.Raft/Vote"), Route::UnknownService);
    }
    // ANCHOR_END: test_routes

    // A service added later gets its own actions.
    #[test]
    fn services_can_be_added() {
        let routes = Routes::log().service("raft.v1.Raft", &[("Vote", Action::named("replicate"))]);
        assert_eq!(
            routes.route("/raft.v1.Raft/Vote"),
            Route::Authorize(Action::named("replicate"))
        );
        assert_eq!(routes.route("/raft.v1.Raft/Other"), Route::UnknownMethod);
    }
}
