//! The public router: every request goes to the module whose route matches its path.
//! The body is read within a deadline and a size limit; the module call runs on tokio's
//! blocking threads, at most `max_calls` at once, and a request that waits longer than
//! `queue_timeout` for a slot gets `503`. The slot is held by the call itself, so a
//! client that goes away does not free it while its call still runs.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Router;
use axum::body::to_bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use crate::respond::{failure, module_response};
use crate::site::Site;
use crate::wire::HandlerRequest;

/// The response header naming the module that answered, `name@version`.
pub const SERVED_BY: &str = "wasmod-module";

/// How requests are served.
#[derive(Clone, Copy, Debug)]
pub struct ServeOptions {
    /// The largest request body accepted, in bytes; a larger one gets `413`.
    pub max_body_bytes: usize,
    /// How long reading the body may take; a slower one gets `408`.
    pub body_timeout: Duration,
    /// Module calls running at once.
    pub max_calls: usize,
    /// How long a request may wait for a call slot before it gets `503`.
    pub queue_timeout: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            max_body_bytes: 256 << 10,
            body_timeout: Duration::from_secs(10),
            max_calls: 64,
            queue_timeout: Duration::from_secs(5),
        }
    }
}

/// What the handlers share.
#[derive(Debug)]
struct App {
    site: Arc<Site>,
    options: ServeOptions,
    slots: Arc<Semaphore>,
}

/// The public router: every path goes to the handler whose route matches it.
pub fn public(site: Arc<Site>, options: ServeOptions) -> Router {
    let slots = Arc::new(Semaphore::new(options.max_calls.max(1)));
    Router::new().fallback(serve).with_state(Arc::new(App { site, options, slots }))
}

/// A plain-text response of the host's own (not a module's).
pub(crate) fn text(status: StatusCode, body: String) -> Response {
    let headers = [(header::CONTENT_TYPE, "text/plain; charset=utf-8"), (header::X_CONTENT_TYPE_OPTIONS, "nosniff")];
    (status, headers, body).into_response()
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
    let Some(matched) = live.routes.lookup(&path) else {
        app.site.unrouted.fetch_add(1, Ordering::Relaxed);
        return text(StatusCode::NOT_FOUND, format!("no module serves {path}\n"));
    };
    let handler = matched.handler.clone();
    let (route, path_info) = (matched.route, matched.path_info);
    let input = match handler_request(request, route, path_info, &app.options).await {
        Ok(input) => input,
        Err(refusal) => return refusal,
    };
    let Ok(Ok(slot)) = tokio::time::timeout(app.options.queue_timeout, app.slots.clone().acquire_owned()).await else {
        let mut busy = text(StatusCode::SERVICE_UNAVAILABLE, "every module call slot is busy; try again\n".into());
        busy.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return busy;
    };
    let called = handler.clone();
    let site = app.site.clone();
    let result = tokio::task::spawn_blocking(move || {
        // The slot and the in-flight count go with the call, not with the request.
        let _slot = slot;
        let _counted = InFlight::enter(&site);
        live.activation.call(called.module.as_str(), &called.function, &input).map(|outcome| outcome.output)
    })
    .await;
    let mut response = match result {
        Ok(Ok(output)) => module_response(&handler, &output),
        Ok(Err(error)) => failure(&handler, &error),
        Err(e) => {
            tracing::error!("{handler}: the call's thread failed: {e}");
            text(StatusCode::INTERNAL_SERVER_ERROR, format!("{handler} could not be called\n"))
        }
    };
    if let Ok(value) = HeaderValue::from_str(&format!("{}@{}", handler.module, handler.version)) {
        response.headers_mut().insert(HeaderName::from_static(SERVED_BY), value);
    }
    response
}

/// A call counted in `calls_in_flight` until it is dropped, however the call ends.
struct InFlight<'a>(&'a Site);

impl<'a> InFlight<'a> {
    fn enter(site: &'a Site) -> InFlight<'a> {
        site.calls_in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(site)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.calls_in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The JSON a handler is called with, or the response refusing the request.
async fn handler_request(
    request: Request,
    route: String,
    path_info: String,
    options: &ServeOptions,
) -> Result<Vec<u8>, Response> {
    let (parts, body) = request.into_parts();
    let limit = options.max_body_bytes;
    let too_large = || text(StatusCode::PAYLOAD_TOO_LARGE, format!("the body is larger than {limit} bytes\n"));
    // A declared length over the limit is refused before anything is read.
    let declared = parts.headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let bytes = match tokio::time::timeout(options.body_timeout, to_bytes(body, limit)).await {
        Err(_) => return Err(text(StatusCode::REQUEST_TIMEOUT, "the body did not arrive in time\n".into())),
        Ok(Err(e)) if is_too_large(&e) => return Err(too_large()),
        Ok(Err(e)) => return Err(text(StatusCode::BAD_REQUEST, format!("the body could not be read: {e}\n"))),
        Ok(Ok(bytes)) => bytes,
    };
    let body = String::from_utf8(Vec::from(bytes))
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
        route,
        path_info,
        query: parts.uri.query().unwrap_or("").to_owned(),
        headers,
        body,
    };
    serde_json::to_vec(&request).map_err(|e| text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

/// Whether reading a body failed on the size limit (and not on the connection).
fn is_too_large(error: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = e.source();
    }
    false
}
