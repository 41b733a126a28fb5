//! The admin router, on a listener of its own: `GET /metrics` (Prometheus text),
//! `GET /healthz` (the server answers), `GET /admin/routes` (JSON) and
//! `POST /admin/reload` (`200` with what the reload did, `409` with why it failed).

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::metrics;
use crate::serve::text;
use crate::site::{Reloaded, Site, SiteError};

/// The admin router.
pub fn admin(site: Arc<Site>) -> Router {
    Router::new()
        .route("/metrics", get(metrics_text))
        .route("/healthz", get(healthz))
        .route("/admin/routes", get(routes))
        .route("/admin/reload", post(reload))
        .with_state(site)
}

/// Runs a reload off the async threads, logging its result, as `SIGHUP` and
/// `POST /admin/reload` both do.
///
/// # Errors
/// The reload's [`SiteError`].
pub async fn reload_now(site: Arc<Site>) -> Result<Reloaded, SiteError> {
    let result = match tokio::task::spawn_blocking(move || site.reload()).await {
        Ok(result) => result,
        Err(e) => Err(SiteError::Interrupted(e)),
    };
    match &result {
        Ok(report) => tracing::info!(generation = report.generation, "reloaded: {}", report.active.join(", ")),
        Err(e) => tracing::warn!("reload failed, still serving the previous activation: {e}"),
    }
    result
}

async fn reload(State(site): State<Arc<Site>>) -> Response {
    match reload_now(site).await {
        Ok(report) => json(StatusCode::OK, &report),
        Err(e) => text(StatusCode::CONFLICT, format!("reload failed; still serving the previous activation: {e}\n")),
    }
}

async fn healthz(State(site): State<Arc<Site>>) -> Response {
    text(StatusCode::OK, format!("serving generation {}\n", site.live().generation))
}

async fn routes(State(site): State<Arc<Site>>) -> Response {
    json(StatusCode::OK, &site.live().routes.described())
}

async fn metrics_text(State(site): State<Arc<Site>>) -> Response {
    let text = metrics::render(&site.host().statistics(), &site.counts());
    ([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], text).into_response()
}

fn json(status: StatusCode, value: &impl serde::Serialize) -> Response {
    match serde_json::to_string_pretty(value) {
        Ok(text) => (status, [(header::CONTENT_TYPE, "application/json")], text + "\n").into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}
