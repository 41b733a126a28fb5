//! acme/hello: an `http.handle` module. `GET` on its route greets the world, and below
//! it (`/hello/<name>`, or wherever the config's `routes` put it) greets a visitor by
//! name and counts their visits in the module's `kv`. `HEAD` is answered as `GET`,
//! without counting a visit. It asks the
//! HTTP host who it is through the host's own group `http.host`, bound with
//! [`wasmod_sdk::import_group!`].

use serde::{Deserialize, Serialize};
use wasmod_sdk::{Json, Result, config, function, kv};

wasmod_sdk::import_group! {
    mod http_host = "http.host" @ 1 { info }
}

/// A request as the HTTP host passes it (JSON).
#[derive(Deserialize)]
pub struct Request {
    method: String,
    path: String,
    /// What the route's prefix leaves of the path (`/ann`), empty on an exact route.
    path_info: String,
}

/// The answer the HTTP host sends back (JSON).
#[derive(Serialize)]
pub struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

/// What `http.host.info` answers (postcard).
#[derive(Deserialize)]
pub struct HostInfo {
    server: String,
    requests: u64,
}

fn text(status: u16, body: String) -> Json<Response> {
    Json(Response { status, headers: vec![("content-type".into(), "text/plain; charset=utf-8".into())], body })
}

/// Answers one request.
#[function]
pub fn handle(Json(request): Json<Request>) -> Result<Json<Response>> {
    if request.method != "GET" && request.method != "HEAD" {
        let mut refusal = text(405, format!("{} is not allowed here; use GET\n", request.method));
        refusal.0.headers.push(("allow".into(), "GET, HEAD".into()));
        return Ok(refusal);
    }
    let greeting: String = config::get("greeting")?.unwrap_or_else(|| "Hello".into());
    let info: HostInfo = http_host::info_typed(&())?;
    let name = request.path_info.trim_matches('/');
    if name.is_empty() {
        return Ok(text(200, format!("{greeting}, world! ({} has served {} requests)\n", info.server, info.requests)));
    }
    if name.contains('/') || name.len() > 64 {
        return Ok(text(404, format!("no greeting at {}\n", request.path)));
    }
    let key = format!("visits/{name}");
    let visits = kv::get_value::<u64>(&key)?.unwrap_or(0) + 1;
    // A HEAD is answered as a GET but is no visit.
    if request.method == "GET" {
        kv::set_value(&key, &visits)?;
    }
    Ok(text(200, format!("{greeting}, {name}! Visit number {visits}.\n")))
}
