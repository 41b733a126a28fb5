//! The two listeners. The public one hands every request to the module whose route
//! matches; the admin one serves `GET /metrics`, `GET /admin/routes` and
//! `POST /admin/reload`. Module calls run on tokio's blocking threads, at most
//! `max_calls` at once; a request that waits longer than `queue_timeout` for a slot
//! gets `503`.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::Semaphore;
use wasmod::{Error, Implementation};

use crate::metrics;
use crate::site::Site;
use crate::wire::{HandlerRequest, HandlerResponse};

/// The response header naming the module that answered, `name@version`.
pub const SERVED_BY: &str = "wasmod-module";

/// How requests are served.
#[derive(Clone, Copy, Debug)]
pub struct ServeOptions {
    /// The largest request body accepted, in bytes; a larger one gets `413`.
    pub max_body_bytes: usize,
    /// Module calls running at once.
    pub max_calls: usize,
    /// How long a request may wait for a call slot before it gets `503`.
    pub queue_timeout: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions { max_body_bytes: 1 << 20, max_calls: 64, queue_timeout: Duration::from_secs(5) }
    }
}

/// What the handlers share.
#[derive(Debug)]
struct App {
    site: Arc<Site>,
    options: ServeOptions,
    slots: Arc<Semaphore>,
}

/// The public router: every path goes to [`serve`].
pub fn public(site: Arc<Site>, options: ServeOptions) -> Router {
    let slots = Arc::new(Semaphore::new(options.max_calls.max(1)));
    Router::new().fallback(serve).with_state(Arc::new(App { site, options, slots }))
}

/// The admin router.
pub fn admin(site: Arc<Site>) -> Router {
    Router::new()
        .route("/metrics", get(metrics_text))
        .route("/admin/routes", get(routes))
        .route("/admin/reload", post(reload))
        .with_state(site)
}

/// Runs a reload off the async threads, logging its result, as `SIGHUP` and
/// `POST /admin/reload` both do.
pub async fn reload_now(site: Arc<Site>) -> Result<crate::site::Reloaded, String> {
    let result = tokio::task::spawn_blocking(move || site.reload()).await;
    match result {
        Ok(Ok(report)) => {
            tracing::info!(generation = report.generation, "reloaded: {}", report.active.join(", "));
            Ok(report)
        }
        Ok(Err(e)) => {
            tracing::warn!("reload failed, still serving the previous activation: {e}");
            Err(e.to_string())
        }
        Err(e) => Err(format!("the reload did not finish: {e}")),
    }
}

async fn reload(State(site): State<Arc<Site>>) -> Response {
    match reload_now(site).await {
        Ok(report) => axum_json(StatusCode::OK, &report),
        Err(message) => {
            (StatusCode::CONFLICT, format!("reload failed; still serving the previous activation: {message}\n"))
                .into_response()
        }
    }
}

async fn routes(State(site): State<Arc<Site>>) -> Response {
    let live = site.live();
    let routes: Vec<(String, String)> = live.routes.routes().into_iter().map(|(p, h)| (p, h.to_string())).collect();
    axum_json(StatusCode::OK, &routes)
}

async fn metrics_text(State(site): State<Arc<Site>>) -> Response {
    let text = metrics::render(&site.host().statistics(), &site.counts());
    ([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], text).into_response()
}

fn axum_json(status: StatusCode, value: &impl serde::Serialize) -> Response {
    match serde_json::to_string_pretty(value) {
        Ok(text) => (status, [(header::CONTENT_TYPE, "application/json")], text + "\n").into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

fn text(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

/// Serves one public request.
async fn serve(State(app): State<Arc<App>>, request: Request) -> Response {
    let response = route(&app, request).await;
    app.site.requests.fetch_add(1, Ordering::Relaxed);
    response
}

async fn route(app: &App, request: Request) -> Response {
    let live = app.site.live();
    let path = request.uri().path().to_owned();
    let Some(handler) = live.routes.lookup(&path).cloned() else {
        app.site.unrouted.fetch_add(1, Ordering::Relaxed);
        return text(StatusCode::NOT_FOUND, format!("no module serves {path}\n"));
    };
    let input = match handler_request(request, app.options.max_body_bytes).await {
        Ok(input) => input,
        Err(refusal) => return refusal,
    };
    let Ok(Ok(_slot)) = tokio::time::timeout(app.options.queue_timeout, app.slots.clone().acquire_owned()).await else {
        return text(StatusCode::SERVICE_UNAVAILABLE, "every module call slot is busy; try again\n".into());
    };
    let called = handler.clone();
    let result = tokio::task::spawn_blocking(move || {
        live.activation.call(called.module.as_str(), &called.function, &input).map(|outcome| outcome.output)
    })
    .await;
    let mut response = match result {
        Ok(Ok(output)) => module_response(&handler, &output),
        Ok(Err(error)) => failure(&handler, &error),
        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, format!("the call did not finish: {e}\n")),
    };
    if let Ok(value) = HeaderValue::from_str(&format!("{}@{}", handler.module, handler.version)) {
        response.headers_mut().insert(HeaderName::from_static(SERVED_BY), value);
    }
    response
}

/// The JSON a handler is called with, or the response refusing the request.
async fn handler_request(request: Request, max_body_bytes: usize) -> Result<Vec<u8>, Response> {
    let (parts, body) = request.into_parts();
    let bytes = to_bytes(body, max_body_bytes).await.map_err(|_| {
        text(StatusCode::PAYLOAD_TOO_LARGE, format!("the body is larger than {max_body_bytes} bytes\n"))
    })?;
    let body = String::from_utf8(bytes.to_vec())
        .map_err(|_| text(StatusCode::BAD_REQUEST, "the body is not UTF-8 text\n".into()))?;
    let mut headers = Vec::with_capacity(parts.headers.len());
    for (name, value) in &parts.headers {
        let Ok(value) = value.to_str() else {
            return Err(text(StatusCode::BAD_REQUEST, format!("the header {name} is not visible ASCII\n")));
        };
        headers.push((name.as_str().to_owned(), value.to_owned()));
    }
    let request = HandlerRequest {
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or("").to_owned(),
        headers,
        body,
    };
    serde_json::to_vec(&request).map_err(|e| text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

/// The HTTP response of a handler's output: `502` when the output is not a response.
fn module_response(handler: &Implementation, output: &[u8]) -> Response {
    let bad = |why: String| text(StatusCode::BAD_GATEWAY, format!("{handler} returned no valid response: {why}\n"));
    let answer: HandlerResponse = match serde_json::from_slice(output) {
        Ok(answer) => answer,
        Err(e) => return bad(e.to_string()),
    };
    let Ok(status) = StatusCode::from_u16(answer.status) else {
        return bad(format!("status {} is not 100 to 599", answer.status));
    };
    let mut response = Response::new(Body::from(answer.body));
    *response.status_mut() = status;
    for (name, value) in answer.headers {
        let (Ok(name), Ok(value)) = (HeaderName::try_from(name.as_str()), HeaderValue::try_from(value.as_str())) else {
            return bad(format!("the header `{name}` is not a valid header"));
        };
        response.headers_mut().append(name, value);
    }
    response
}

/// The HTTP response of a failed call: `503` while quarantined (with `Retry-After`),
/// `500` for the module's own error, `504` past its deadline, `502` for any other
/// failure of the guest.
fn failure(handler: &Implementation, error: &Error) -> Response {
    tracing::warn!("{handler}: {error}");
    match error {
        Error::Quarantined { retry_after, .. } => {
            let mut response = text(StatusCode::SERVICE_UNAVAILABLE, format!("{error}\n"));
            let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
            if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            response
        }
        Error::Call(call) => {
            let status = match call.kind.name() {
                "guest_error" => StatusCode::INTERNAL_SERVER_ERROR,
                "deadline_exceeded" => StatusCode::GATEWAY_TIMEOUT,
                _ => StatusCode::BAD_GATEWAY,
            };
            text(status, format!("{error}\n"))
        }
        other => text(StatusCode::INTERNAL_SERVER_ERROR, format!("{other}\n")),
    }
}
