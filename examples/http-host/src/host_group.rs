//! The group this host gives its handlers, `http.host` version 1. Its one function,
//! `info`, takes nothing and answers [`HostInfo`] (postcard, the sdk's `info_typed`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;
use wasmod::{GroupBuilder, HostGroup};

/// The group's name.
pub const GROUP: &str = "http.host";

/// What `http.host.info` answers.
#[derive(Clone, Debug, Serialize)]
pub struct HostInfo {
    /// `wasmod-http-host/<version>`.
    pub server: String,
    /// Requests this server has answered before the one being served.
    pub requests: u64,
}

/// The group, reading the request count from `requests`.
pub fn http_host_group(requests: Arc<AtomicU64>) -> Arc<dyn HostGroup> {
    let server = format!("wasmod-http-host/{}", env!("CARGO_PKG_VERSION"));
    GroupBuilder::new(GROUP, 1, "What the HTTP host tells the modules that serve its routes.")
        .typed("info", "The server's name and the number of requests it has answered.", move |_cx, (): ()| {
            Ok(HostInfo { server: server.clone(), requests: requests.load(Ordering::Relaxed) })
        })
        .build()
}
