//! An HTTP server whose routes are served by wasmod modules: a complete embedder of the
//! `wasmod` crate, and the host of the example module `acme/hello`.
//!
//! - **The extension point** `http.handle` (cardinality `many`): each active module
//!   implementing it serves the paths of its config key `routes` ([`routes`]). It is
//!   called with a [`wire::HandlerRequest`] as JSON and returns a
//!   [`wire::HandlerResponse`] as JSON.
//! - **Its own group**, `http.host` ([`host_group`]), which handlers import with the
//!   sdk's `import_group!`.
//! - **Calls off the async threads**: every module call runs on tokio's blocking pool,
//!   bounded ([`serve::ServeOptions`]), and so is every client: connections, the time to
//!   send headers, a connection's lifetime ([`listen`]), the time to send the body and
//!   its size ([`serve`]).
//! - **Failures**: the module's own error is `500`, a trap or limit `502`, a deadline
//!   `504`, a quarantined function `503` with `Retry-After`, an answer that is not a
//!   valid response `502` ([`respond`]).
//! - **`/metrics`** on the admin listener, in the Prometheus text format, from
//!   `Host::statistics` ([`metrics`]), with `/healthz` and the reload ([`admin`]).
//! - **Reload**: `SIGHUP` or `POST /admin/reload` installs new packages and
//!   re-activates beside the serving activation, and swaps only on success ([`site`]).

#![deny(missing_docs)]

pub mod admin;
pub mod host_group;
pub mod listen;
pub mod metrics;
pub mod respond;
pub mod routes;
pub mod serve;
pub mod site;
pub mod wire;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use wasmod::{HostBuilder, QuarantinePolicy, SubsystemDef};

/// The groups a handler may import.
pub const HANDLER_GROUPS: [&str; 6] = ["config", "kv", "log", "clock", "modules", host_group::GROUP];

/// A host builder with this server's policy: the `http.handle` extension point, the
/// `init` hook, the `http.host` group reading `requests`, and `quarantine`. The caller
/// sets the store (and the artifact key, limits, …).
pub fn host_builder(requests: Arc<AtomicU64>, quarantine: QuarantinePolicy) -> HostBuilder {
    let mut policy = wasmod::HostPolicy::new();
    policy.quarantine = quarantine;
    let handle = SubsystemDef::new(
        &HANDLER_GROUPS,
        "Answer an HTTP request: a JSON HandlerRequest in, a JSON HandlerResponse out.",
    );
    wasmod::Host::builder()
        .policy(policy)
        .extension_point(routes::SUBSYSTEM, handle)
        .subsystem("init", &["config", "log", "kv"], "Runs once per activation, dependencies first.")
        .custom_group(host_group::http_host_group(requests))
}
