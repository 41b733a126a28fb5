//! A module's answer as an HTTP response, and a failed call as one. Public responses to
//! failures say which module failed and how (the error kind), and the module's own error
//! message; the full account (trap text, host errors) goes to the log only.

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::Response;
use wasmod::{Error, ErrorKind, Implementation};

use crate::serve::text;
use crate::wire::{FRAMING_HEADERS, HandlerResponse};

/// Why a handler's output is not a response the host sends.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum BadResponse {
    /// The output is not a JSON `HandlerResponse`.
    #[error("{0}")]
    NotJson(String),
    /// The status is outside 200 to 599.
    #[error("status {0} is not 200 to 599")]
    Status(u16),
    /// A header name or value is not valid HTTP.
    #[error("the header `{0}` is not a valid header")]
    Header(String),
    /// A header that frames the message, which the host sets.
    #[error("the header `{0}` frames the message and is the host's to set")]
    Framing(String),
}

/// The HTTP response of a handler's output: `502` when it is not a response the host
/// sends ([`BadResponse`]).
pub(crate) fn module_response(handler: &Implementation, output: &[u8]) -> Response {
    match to_response(output) {
        Ok(response) => response,
        Err(why) => {
            tracing::warn!("{handler} returned no valid response: {why}");
            text(StatusCode::BAD_GATEWAY, format!("{handler} returned no valid response: {why}\n"))
        }
    }
}

/// The response a handler's output describes.
///
/// # Errors
/// [`BadResponse`] naming the first problem.
pub fn to_response(output: &[u8]) -> Result<Response, BadResponse> {
    let answer: HandlerResponse = serde_json::from_slice(output).map_err(|e| BadResponse::NotJson(e.to_string()))?;
    let status = match StatusCode::from_u16(answer.status) {
        Ok(status) if (200..=599).contains(&answer.status) => status,
        _ => return Err(BadResponse::Status(answer.status)),
    };
    let mut response = Response::new(Body::from(answer.body));
    *response.status_mut() = status;
    for (name, value) in answer.headers {
        let (Ok(header_name), Ok(header_value)) =
            (HeaderName::try_from(name.as_str()), HeaderValue::try_from(value.as_str()))
        else {
            return Err(BadResponse::Header(name));
        };
        if FRAMING_HEADERS.contains(&header_name.as_str()) {
            return Err(BadResponse::Framing(header_name.as_str().to_owned()));
        }
        response.headers_mut().append(header_name, header_value);
    }
    Ok(response)
}

/// The HTTP response of a failed call: `503` while quarantined (with `Retry-After`),
/// `500` for the module's own error and for the host's failures, `504` past its
/// deadline, `502` for any other failure of the guest.
pub(crate) fn failure(handler: &Implementation, error: &Error) -> Response {
    tracing::warn!("{handler}: {error}");
    match error {
        Error::Quarantined { retry_after, failures, .. } => {
            let body = format!("{handler} is quarantined after {failures} failures in a row; try again later\n");
            let mut response = text(StatusCode::SERVICE_UNAVAILABLE, body);
            let seconds = (retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0)).max(1);
            if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            response
        }
        Error::Call(call) => match &call.kind {
            ErrorKind::GuestError { message } => {
                text(StatusCode::INTERNAL_SERVER_ERROR, format!("{handler} failed: {message}\n"))
            }
            kind => {
                let status = match kind {
                    ErrorKind::DeadlineExceeded { .. } => StatusCode::GATEWAY_TIMEOUT,
                    ErrorKind::Internal { .. } | ErrorKind::Link { .. } => StatusCode::INTERNAL_SERVER_ERROR,
                    _ => StatusCode::BAD_GATEWAY,
                };
                text(status, format!("{handler} failed ({})\n", kind.name()))
            }
        },
        _ => text(StatusCode::INTERNAL_SERVER_ERROR, format!("{handler} could not be called\n")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_valid_answer_becomes_the_response() {
        let r = to_response(br#"{"status": 201, "headers": [["x-a", "1"]], "body": "made"}"#).unwrap();
        assert_eq!(r.status(), 201);
        assert_eq!(r.headers()["x-a"], "1");
    }

    #[test]
    fn a_status_outside_200_to_599_is_refused() {
        for status in [100, 101, 199, 600, 999] {
            let output = format!(r#"{{"status": {status}}}"#);
            assert_eq!(to_response(output.as_bytes()).unwrap_err(), BadResponse::Status(status));
        }
    }

    #[test]
    fn a_header_that_is_not_http_is_refused() {
        let e = to_response(br#"{"status": 200, "headers": [["bad name", "v"]]}"#).unwrap_err();
        assert_eq!(e, BadResponse::Header("bad name".into()));
        let e = to_response(br#"{"status": 200, "headers": [["x-ok", "line\nbreak"]]}"#).unwrap_err();
        assert_eq!(e, BadResponse::Header("x-ok".into()));
    }

    #[test]
    fn every_framing_header_is_refused() {
        for name in FRAMING_HEADERS {
            let output = format!(r#"{{"status": 200, "headers": [["{}", "5"]]}}"#, name.to_uppercase());
            assert_eq!(to_response(output.as_bytes()).unwrap_err(), BadResponse::Framing(name.to_owned()), "{name}");
        }
    }
}
