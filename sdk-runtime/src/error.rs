//! Errors as callers read them: the one error body every generated client decodes, and
//! [`ErrorExt`] over progenitor's `Error`.

use std::time::{Duration, SystemTime};

use progenitor_client::Error;
use reqwest::header::{self, HeaderMap};

use crate::hooks::error_text;

/// An error body as servers actually send it. Every field is optional and loosely typed:
/// APIs answer `{error, message}`, `{detail, status}`, FastAPI validation lists in
/// `detail`, or a non-JSON body, which the client wraps as `{"message": <text>}`. Use
/// [`ApiError::text`] for the human-readable part. Any other field is kept in `extra`
/// (e.g. the `remaining_job_ids` of a timeout).
///
/// Why one type for every API: the generator makes every 4xx/5xx response of every
/// operation decode into it (progenitor allows one error type per operation, and real
/// servers rarely send what their documents declare), so code that handles errors — such
/// as `poll-helpers` — works with any generated client.
///
/// ```
/// let e: sdk_runtime::ApiError = serde_json::from_str(r#"{"error": "Not found", "job": 1}"#)?;
/// assert_eq!(e.extra["job"], 1);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(serde::Deserialize, serde::Serialize, Clone, Debug, Default, PartialEq)]
pub struct ApiError {
    /// Error detail: a string, or (FastAPI) a list of validation errors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<serde_json::Value>,
    /// Error code or short error text, when the server sends one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<serde_json::Value>,
    /// Detailed error description, or the raw body of a non-JSON error response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<serde_json::Value>,
    /// The HTTP status as the server repeated it in the body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<serde_json::Value>,
    /// Every other field of the body.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl ApiError {
    /// The human-readable text of the error: `message`, else `detail`, else `error`
    /// (strings as they are, other JSON values rendered as JSON). `None` if the body had
    /// none of them.
    ///
    /// ```
    /// let e: sdk_runtime::ApiError =
    ///     serde_json::from_str(r#"{"detail": "Job with id 1 does not exist", "status": 404}"#)?;
    /// assert_eq!(e.text().as_deref(), Some("Job with id 1 does not exist"));
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn text(&self) -> Option<String> {
        [&self.message, &self.detail, &self.error]
            .into_iter()
            .flatten()
            .find(|v| !v.is_null())
            .map(|v| match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            })
    }
}

/// The response headers a request id is read from, in this order: `x-request-id` (the
/// common one), `x-amzn-requestid` (AWS API Gateway), `request-id` (Stripe-style APIs),
/// `x-correlation-id`.
///
/// ```
/// assert_eq!(sdk_runtime::REQUEST_ID_HEADERS[0], "x-request-id");
/// ```
pub const REQUEST_ID_HEADERS: &[&str] = &[
    "x-request-id",
    "x-amzn-requestid",
    "request-id",
    "x-correlation-id",
];

/// The request id the server sent in `headers` (the first of [`REQUEST_ID_HEADERS`] that
/// is present, non-empty and text), for code that holds headers rather than an error.
///
/// Why: a support ticket that quotes the server's request id gets answered; one that
/// quotes a timestamp does not.
///
/// ```
/// let mut headers = reqwest::header::HeaderMap::new();
/// headers.insert("x-amzn-requestid", "abc-123".parse().unwrap());
/// assert_eq!(sdk_runtime::request_id(&headers).as_deref(), Some("abc-123"));
/// ```
pub fn request_id(headers: &HeaderMap) -> Option<String> {
    REQUEST_ID_HEADERS.iter().find_map(|name| {
        let value = headers.get(*name)?.to_str().ok()?.trim();
        (!value.is_empty()).then(|| value.to_owned())
    })
}

/// What a caller needs from any failed request: the HTTP status, how long the server
/// asked us to wait, the server's message, its request id and how many times the request
/// was sent.
///
/// ```
/// use sdk_runtime::ErrorExt;
/// # fn f(err: progenitor_client::Error<sdk_runtime::ApiError>) {
/// if err.http_status() == Some(429) {
///     let wait = err.retry_after().unwrap_or(std::time::Duration::from_secs(1));
///     eprintln!("rate limited ({}), retrying in {wait:?}", err.message());
/// }
/// # }
/// ```
pub trait ErrorExt {
    /// The HTTP status of the response, if there was one.
    fn http_status(&self) -> Option<u16>;
    /// The server's `Retry-After` (delta-seconds or HTTP-date) or `retry-after-ms`.
    fn retry_after(&self) -> Option<Duration>;
    /// The response headers, if there was a response.
    fn response_headers(&self) -> Option<&HeaderMap>;
    /// The server's message, or a description of what failed.
    fn message(&self) -> String;
    /// The request id the server sent with the answer (see [`REQUEST_ID_HEADERS`]), to
    /// quote when asking its operators. `Display` of the error shows it too (among the
    /// response headers).
    ///
    /// ```
    /// use sdk_runtime::ErrorExt;
    /// # fn f(err: progenitor_client::Error<sdk_runtime::ApiError>) {
    /// if let Some(id) = err.request_id() {
    ///     eprintln!("request {id} failed: {}", err.message());
    /// }
    /// # }
    /// ```
    fn request_id(&self) -> Option<String> {
        self.response_headers().and_then(request_id)
    }
    /// How many times the request was sent, when the client sent it more than once (its
    /// [`RetryPolicy`](crate::RetryPolicy), or a 401 with a credential provider): read
    /// from the [`ATTEMPTS_HEADER`](crate::retry::ATTEMPTS_HEADER) the runtime adds to the
    /// answer it returns. `None` when it was sent once, and when the last attempt got no
    /// answer (a connection error: the retries are in the `tracing` log).
    ///
    /// ```
    /// use sdk_runtime::ErrorExt;
    /// # fn f(err: progenitor_client::Error<sdk_runtime::ApiError>) {
    /// if let Some(n) = err.attempts() {
    ///     eprintln!("gave up after {n} attempts: {}", err.message());
    /// }
    /// # }
    /// ```
    fn attempts(&self) -> Option<u32> {
        self.response_headers()?
            .get(crate::retry::ATTEMPTS_HEADER)?
            .to_str()
            .ok()?
            .parse()
            .ok()
    }
}

impl ErrorExt for Error<ApiError> {
    fn http_status(&self) -> Option<u16> {
        self.status().map(|s| s.as_u16())
    }

    fn retry_after(&self) -> Option<Duration> {
        self.response_headers().and_then(retry_after)
    }

    fn response_headers(&self) -> Option<&HeaderMap> {
        match self {
            Error::ErrorResponse(rv) => Some(rv.headers()),
            Error::UnexpectedResponse(r) => Some(r.headers()),
            _ => None,
        }
    }

    fn message(&self) -> String {
        match self {
            Error::ErrorResponse(rv) => rv.text().unwrap_or_else(|| {
                rv.status()
                    .canonical_reason()
                    .unwrap_or("error response")
                    .to_owned()
            }),
            Error::UnexpectedResponse(r) => format!("unexpected response status {}", r.status()),
            Error::InvalidResponsePayload(body, e) => format!(
                "response body is not the expected JSON ({e}): {}",
                error_text(body, reqwest::StatusCode::OK)
            ),
            Error::CommunicationError(e) => format!("request failed: {}", error_chain(e)),
            Error::ResponseBodyError(e) => {
                format!("reading the response failed: {}", error_chain(e))
            }
            Error::InvalidUpgrade(e) => format!("connection upgrade failed: {}", error_chain(e)),
            Error::InvalidRequest(s) => format!("invalid request: {s}"),
            Error::Custom(s) => s.clone(),
        }
    }
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// Parses `retry-after-ms`, then `Retry-After` as delta-seconds or an HTTP-date.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    if let Some(ms) = headers
        .get("retry-after-ms")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .and_then(|ms| Duration::try_from_secs_f64(ms / 1000.0).ok())
    {
        return Some(ms);
    }
    let value = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let at = SystemTime::UNIX_EPOCH
        .checked_add(Duration::from_secs(u64::try_from(date.timestamp()).ok()?))?;
    Some(
        at.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn retry_after_reads_ms_seconds_and_dates() {
        assert_eq!(
            retry_after(&headers(&[("retry-after-ms", "1500")])),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            retry_after(&headers(&[("retry-after", "3")])),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            retry_after(&headers(&[(
                "retry-after",
                "Wed, 21 Oct 2015 07:28:00 GMT"
            )])),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after(&headers(&[("retry-after", "soon")])), None);
        assert_eq!(retry_after(&headers(&[("retry-after-ms", "1e400")])), None);
        assert_eq!(retry_after(&HeaderMap::new()), None);
    }

    #[test]
    fn request_ids_follow_the_documented_order() {
        let both = headers(&[("x-correlation-id", "corr"), ("x-request-id", "req")]);
        assert_eq!(request_id(&both).as_deref(), Some("req"));
        let empty = headers(&[("x-request-id", " "), ("request-id", "r2")]);
        assert_eq!(request_id(&empty).as_deref(), Some("r2"));
        assert_eq!(request_id(&HeaderMap::new()), None);
    }

    #[test]
    fn text_prefers_message_then_detail_then_error() {
        let e: ApiError =
            serde_json::from_str(r#"{"error": "E", "detail": [1], "message": null}"#).unwrap();
        assert_eq!(e.text().as_deref(), Some("[1]"));
        let none: ApiError = serde_json::from_str("{}").unwrap();
        assert_eq!(none.text(), None);
    }

    #[test]
    fn messages_say_what_failed() {
        let e: Error<ApiError> = Error::InvalidRequest("missing job_id".into());
        assert_eq!(e.message(), "invalid request: missing job_id");
        assert_eq!(e.http_status(), None);
        assert!(e.retry_after().is_none());
    }
}
