//! Recorded requests (authorization redacted), for tests that count and inspect what a client sent.

#[allow(clippy::wildcard_imports)]
use super::*;

/// A request the simulator received, as recorded when it arrived.
///
/// The `Authorization` header is recorded as `Bearer <redacted>` (or `<redacted>` for
/// another scheme): the token itself is never stored.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// The HTTP method, e.g. `GET`.
    pub method: String,
    /// The path as received (still percent-encoded), API prefix included, e.g.
    /// `/omni/v1/jobs/<id>/status`.
    pub path: String,
    /// The raw (percent-encoded) query string, without the `?`.
    pub query: Option<String>,
    /// Every header, names lower-case, values lossily decoded as UTF-8, in arrival order;
    /// `authorization` redacted.
    pub headers: Vec<(String, String)>,
    /// The body, as received; empty when there was none, while it is still being read, or
    /// when it could not be read whole (over 1 MiB, or the client went away).
    pub body: Vec<u8>,
    /// Whether the request passed authentication.
    pub authorized: bool,
    /// When it arrived.
    pub at: std::time::Instant,
    /// The status answered; `None` while the request is still being answered (a held long
    /// poll), or if the client went away before the answer.
    pub status: Option<u16>,
}

impl RecordedRequest {
    /// The first value of a header (name case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The percent-decoded query, `+` read as a space.
    pub fn decoded_query(&self) -> Option<String> {
        self.query.as_deref().map(decode)
    }

    /// The body parsed as JSON, if it is JSON.
    pub fn body_json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }
}
