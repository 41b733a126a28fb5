//! What crosses the `http.handle` extension point, as JSON: the request a handler is
//! called with and the response it returns. Bodies are UTF-8 text; a request whose body
//! is not is refused by the host with `400` before any module runs.

use serde::{Deserialize, Serialize};

/// Headers a handler may not set: they say how the message is framed on the connection
/// (`content-length` from the body, `transfer-encoding`, keep-alive), which the host
/// decides.
pub const FRAMING_HEADERS: [&str; 8] =
    ["connection", "content-length", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"];

/// The request a handler gets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandlerRequest {
    /// The method, upper case (`GET`, `POST`, …).
    pub method: String,
    /// The path, percent-encoding kept (`/hello/ann`).
    pub path: String,
    /// The route that matched, as the handler's `routes` wrote it (`/hello/*`).
    pub route: String,
    /// What of the path the route's prefix leaves, from its `/` on (`/ann`); empty
    /// when the route is an exact path.
    pub path_info: String,
    /// The query string without its `?`, empty when there is none.
    pub query: String,
    /// The headers in the order received, names lower case.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: String,
}

/// The response a handler returns. Only `status` is required. The host refuses (`502`)
/// a status outside 200 to 599, a header that is not valid HTTP, and the headers that
/// frame the message, which are the host's to set ([`FRAMING_HEADERS`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandlerResponse {
    /// The status code, 200 to 599.
    pub status: u16,
    /// Headers to send, in order.
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// The body.
    #[serde(default)]
    pub body: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_response_needs_only_its_status() {
        let r: HandlerResponse = serde_json::from_str(r#"{"status": 204}"#).unwrap();
        assert_eq!(r, HandlerResponse { status: 204, headers: vec![], body: String::new() });
    }

    #[test]
    fn a_response_without_status_is_refused() {
        let e = serde_json::from_str::<HandlerResponse>(r#"{"body": "x"}"#).unwrap_err();
        assert!(e.to_string().contains("missing field `status`"), "{e}");
    }
}
