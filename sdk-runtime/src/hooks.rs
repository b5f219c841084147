//! The request hooks every generated client runs: credentials in the query, JSON-array
//! query parameters, per-operation timeouts and media types, credentials from a provider,
//! automatic retries, and error bodies made JSON.

use std::sync::Arc;
use std::time::{Duration, Instant};

use progenitor_client::OperationInfo;
use reqwest::header::{self, HeaderValue};

use crate::config::{DEFAULT_TIMEOUT, Token};
use crate::credentials::{CredentialSource, failed_request};
use crate::retry::{ATTEMPTS_HEADER, RetryPolicy, is_connection_error, retries_suppressed};

/// Longest error body kept as a message, in bytes (HTML error pages can be large).
const MAX_ERROR_TEXT: usize = 2048;

/// Per-client state the request hooks need; every generated `Client` carries one (it is
/// progenitor's "inner type"). Its `Debug` output never shows a credential.
///
/// ```
/// let inner = sdk_runtime::Inner::default();
/// assert_eq!(inner.credential_key(), 0);
/// ```
#[derive(Clone)]
pub struct Inner {
    pub(crate) query_key: Option<(&'static str, Token)>,
    pub(crate) credential_key: u64,
    /// `credential_fingerprint`: hex, stable across processes.
    pub(crate) credential_fingerprint: String,
    pub(crate) retry: RetryPolicy,
    /// The client's request timeout: the time budget of a request and its retries when
    /// the operation sets none.
    pub(crate) timeout: Duration,
    pub(crate) credentials: Option<Arc<CredentialSource>>,
    /// `ClientBuilder::operation_timeout`: `(operation id, timeout)`, applied after the
    /// generated table.
    pub(crate) operation_timeouts: Vec<(String, Duration)>,
    /// `ClientBuilder::stream_idle_timeout`.
    pub(crate) stream_idle_timeout: Option<Duration>,
}

impl Default for Inner {
    /// No credentials of its own, the default [`RetryPolicy`] and [`DEFAULT_TIMEOUT`].
    fn default() -> Self {
        Self {
            query_key: None,
            credential_key: 0,
            credential_fingerprint: credential_fingerprint("", &[]),
            retry: RetryPolicy::default(),
            timeout: DEFAULT_TIMEOUT,
            credentials: None,
            operation_timeouts: Vec::new(),
            stream_idle_timeout: None,
        }
    }
}

impl Inner {
    /// A number that is the same for every client of this process that sends the same
    /// credentials to the same base URL, and differs (but for a 64-bit hash collision)
    /// otherwise.
    ///
    /// Why: rate limits are per credential, not per client object. A process that builds
    /// several clients with one token shares one limit, and code that paces requests (such
    /// as `poll-helpers`' shared rate budgets) needs a key for "the same credential". The
    /// hash is keyed with a random per-process secret: it reveals nothing about the
    /// credential and means nothing outside this process. Generated clients expose it as
    /// `Client::credential_key()`.
    ///
    /// ```
    /// assert_eq!(sdk_runtime::Inner::default().credential_key(), 0);
    /// ```
    pub fn credential_key(&self) -> u64 {
        self.credential_key
    }

    /// A name for "this credential at this base URL" that is the same in every process on
    /// every machine: 32 hex digits of an HMAC-SHA256 over the base URL and the secrets the
    /// client sends, keyed with a fixed domain string.
    ///
    /// Why: a rate limit per API key is shared by every process that uses the key, so a
    /// budget held outside the process (poll-helpers' Redis budget) needs a key that all
    /// of them compute alike, and that never contains the token: the HMAC cannot be
    /// reversed and names nothing but itself. [`credential_key`](Self::credential_key),
    /// keyed with a random per-process secret, cannot serve (it differs between processes).
    /// A client whose token comes from a credential provider has no fixed secret: its
    /// fingerprint covers the base URL (and any fixed key) only, so every such client of
    /// one base URL shares one fingerprint: the cautious side of a shared limit.
    ///
    /// ```
    /// let a = sdk_runtime::Inner::default().credential_fingerprint().to_owned();
    /// assert_eq!(a.len(), 32);
    /// assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
    /// ```
    pub fn credential_fingerprint(&self) -> &str {
        &self.credential_fingerprint
    }

    /// The request timeout set for `operation` (its operationId in snake case, the
    /// generated method's name) with `ClientBuilder::operation_timeout`, if any.
    ///
    /// ```
    /// assert_eq!(sdk_runtime::Inner::default().operation_timeout("query_run"), None);
    /// ```
    pub fn operation_timeout(&self, operation: &str) -> Option<Duration> {
        self.operation_timeouts
            .iter()
            .rev()
            .find(|(op, _)| op == operation)
            .map(|(_, timeout)| *timeout)
    }

    /// The longest a streamed body (a file download, an NDJSON answer) may go without a
    /// byte before its reader gives up: `ClientBuilder::stream_idle_timeout`, by default
    /// [`DEFAULT_TIMEOUT`] (60 s). Readers of streams (such as
    /// `poll-helpers`) apply it instead of a total timeout, so that a large file that
    /// keeps arriving is never cut off.
    ///
    /// ```
    /// assert_eq!(sdk_runtime::Inner::default().stream_idle_timeout(), sdk_runtime::DEFAULT_TIMEOUT);
    /// ```
    pub fn stream_idle_timeout(&self) -> Duration {
        self.stream_idle_timeout
            .unwrap_or(crate::config::DEFAULT_TIMEOUT)
    }
}

/// What the generator knows per operation and the hooks apply: tables emitted into each
/// generated file, keyed by operationId.
///
/// ```
/// let none = sdk_runtime::OperationTables::EMPTY;
/// assert!(none.request_timeouts.is_empty());
/// ```
#[derive(Debug, Clone, Copy)]
pub struct OperationTables {
    /// `(operation, parameter, required)`: array query parameters sent as one JSON array.
    pub json_query_params: &'static [(&'static str, &'static str, bool)],
    /// `(operation, seconds)`: a request timeout other than the client's (long polls).
    pub request_timeouts: &'static [(&'static str, u64)],
    /// `(operation, media type)`: the `Content-Type` a body generated as JSON, text or
    /// bytes is declared with (`application/merge-patch+json`, `application/xml`, ...).
    pub request_body_media_types: &'static [(&'static str, &'static str)],
}

impl OperationTables {
    /// No per-operation behaviour.
    pub const EMPTY: OperationTables = OperationTables {
        json_query_params: &[],
        request_timeouts: &[],
        request_body_media_types: &[],
    };
}

/// The `pre` hook of every generated client: drops progenitor's `api-version` header, adds
/// an API key that goes in the query, re-encodes JSON-array query parameters, and applies
/// the per-operation timeout and body media type.
///
/// ```
/// # let info = progenitor_client::OperationInfo { operation_id: "op" };
/// let mut request = reqwest::Request::new(reqwest::Method::GET, "http://h/x?ids=a&ids=b".parse().unwrap());
/// let tables = sdk_runtime::OperationTables {
///     json_query_params: &[("op", "ids", true)],
///     ..sdk_runtime::OperationTables::EMPTY
/// };
/// sdk_runtime::hooks::pre(&sdk_runtime::Inner::default(), &mut request, &info, &tables);
/// assert_eq!(request.url().query(), Some("ids=%5B%22a%22%2C%22b%22%5D"));
/// ```
pub fn pre(
    inner: &Inner,
    request: &mut reqwest::Request,
    info: &OperationInfo,
    tables: &OperationTables,
) {
    // Progenitor always sends `api-version: <info.version>`; no API we know documents it.
    request.headers_mut().remove("api-version");
    if let Some((name, Token(key))) = &inner.query_key {
        request.url_mut().query_pairs_mut().append_pair(name, key);
    }
    for (operation, name, required) in tables.json_query_params {
        if *operation == info.operation_id {
            encode_json_query(request.url_mut(), name, *required);
        }
    }
    // Long polls: the server holds the request open longer than an ordinary one.
    for (operation, seconds) in tables.request_timeouts {
        if *operation == info.operation_id {
            *request.timeout_mut() = Some(Duration::from_secs(*seconds));
        }
    }
    // The client's own settings win over the generated table.
    if let Some(timeout) = inner.operation_timeout(info.operation_id) {
        *request.timeout_mut() = Some(timeout);
    }
    // Bodies generated as JSON, text or bytes but declared with another media type: send
    // the declared one.
    for (operation, media_type) in tables.request_body_media_types {
        if *operation == info.operation_id
            && let Ok(value) = HeaderValue::from_str(media_type)
        {
            request.headers_mut().insert(header::CONTENT_TYPE, value);
        }
    }
}

/// The `exec` hook of every generated client: applies the credential provider's secret,
/// sends the request, sends it again as the [`RetryPolicy`] and a 401 with a credential
/// provider allow (see [`crate::retry`]), strips URLs from errors when an API key travels
/// in the query, and makes every 4xx/5xx body a JSON object (an empty, HTML or text body
/// becomes `{"message": <text>}`, status and headers kept).
///
/// ```no_run
/// # async fn f() -> reqwest::Result<()> {
/// let request = reqwest::Request::new(reqwest::Method::GET, "http://127.0.0.1:1/x".parse().unwrap());
/// let response = sdk_runtime::hooks::exec(&sdk_runtime::Inner::default(), &reqwest::Client::new(), request).await?;
/// # Ok(()) }
/// ```
pub async fn exec(
    inner: &Inner,
    client: &reqwest::Client,
    request: reqwest::Request,
) -> reqwest::Result<reqwest::Response> {
    let has_query_key = inner.query_key.is_some();
    // With a key in the query, an error's URL would show it: strip URLs from errors.
    let strip = |e: reqwest::Error| if has_query_key { e.without_url() } else { e };
    let policy = if retries_suppressed() {
        RetryPolicy::none()
    } else {
        inner.retry
    };
    let retry_safe = policy.retries_method(request.method());
    // The request's own timeout is the budget of all its attempts.
    let deadline = Instant::now() + request.timeout().copied().unwrap_or(inner.timeout);
    let method = request.method().clone();
    let path = request.url().path().to_owned();
    let mut request = request;
    let mut attempt = 1u32;
    let mut refreshed = false;
    loop {
        let generation = match &inner.credentials {
            Some(source) => match tokio::time::timeout_at(deadline.into(), source.current())
                .await
                .unwrap_or_else(|_| {
                    Err(crate::CredentialError::new(
                        "it did not answer within the request's timeout",
                    ))
                }) {
                Ok((value, generation)) => {
                    request.headers_mut().insert(source.header_name(), value);
                    Some(generation)
                }
                Err(e) => {
                    tracing::warn!(target: "sdk_runtime::credentials", %method, path, error = %e, "no credential for the request");
                    return failed_request(e).await;
                }
            },
            None => None,
        };
        let may_retry =
            (retry_safe && attempt < policy.attempts()) || (generation.is_some() && !refreshed);
        let spare = if may_retry { request.try_clone() } else { None };
        let outcome = client.execute(request).await;
        let Some(mut next) = spare else {
            return finish(outcome, attempt, strip).await;
        };
        let status = outcome.as_ref().ok().map(|r| r.status().as_u16());
        let wait = match (&outcome, generation) {
            (Ok(_), Some(generation)) if status == Some(401) && !refreshed => {
                if let Some(source) = &inner.credentials {
                    source.invalidate(generation).await;
                }
                refreshed = true;
                tracing::warn!(target: "sdk_runtime::credentials", %method, path, attempt, "401: refreshing the credential and sending the request once more");
                Duration::ZERO
            }
            (Ok(response), _)
                if retry_safe
                    && attempt < policy.attempts()
                    && RetryPolicy::retries_status(response.status().as_u16()) =>
            {
                crate::error::retry_after(response.headers())
                    .unwrap_or_else(|| policy.backoff_for(attempt))
            }
            (Err(e), _) if retry_safe && attempt < policy.attempts() && is_connection_error(e) => {
                policy.backoff_for(attempt)
            }
            _ => return finish(outcome, attempt, strip).await,
        };
        let remaining = deadline.saturating_duration_since(Instant::now());
        if wait >= remaining {
            tracing::warn!(target: "sdk_runtime::retry", %method, path, attempt, ?status, wait_ms = wait.as_millis() as u64, remaining_ms = remaining.as_millis() as u64, "not retrying: the wait would end after the request's timeout");
            return finish(outcome, attempt, strip).await;
        }
        match &outcome {
            Ok(_) => {
                tracing::warn!(target: "sdk_runtime::retry", %method, path, attempt, ?status, wait_ms = wait.as_millis() as u64, "retrying")
            }
            Err(e) => {
                tracing::warn!(target: "sdk_runtime::retry", %method, path, attempt, error = %strip_ref(e, has_query_key), wait_ms = wait.as_millis() as u64, "retrying after a connection error")
            }
        }
        drop(outcome);
        tokio::time::sleep(wait).await;
        *next.timeout_mut() = Some(deadline.saturating_duration_since(Instant::now()));
        request = next;
        attempt += 1;
    }
}

/// The error's text for a log line, without its URL when a key travels in the query.
fn strip_ref(e: &reqwest::Error, has_query_key: bool) -> String {
    if !has_query_key {
        return e.to_string();
    }
    // reqwest's own message names the URL; its causes do not.
    let mut out = String::from("connection error");
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// The last outcome, as the caller gets it: attempts recorded when there were several,
/// URLs stripped from errors, error bodies made JSON.
async fn finish(
    outcome: reqwest::Result<reqwest::Response>,
    attempts: u32,
    strip: impl Fn(reqwest::Error) -> reqwest::Error,
) -> reqwest::Result<reqwest::Response> {
    let mut response = outcome.map_err(&strip)?;
    if attempts > 1 {
        response.headers_mut().insert(
            header::HeaderName::from_static(ATTEMPTS_HEADER),
            HeaderValue::from(attempts),
        );
    }
    json_error_body(response).await.map_err(strip)
}

/// The HMAC key of [`Inner::credential_fingerprint`]: fixed, so that every process and
/// machine computes the same fingerprint for one credential. Changing it changes every
/// fingerprint (and so every Redis budget key): it names its version.
const FINGERPRINT_DOMAIN: &[u8] = b"sdk-runtime credential fingerprint v1";

/// [`Inner::credential_fingerprint`] of `base_url` and `secrets`.
pub(crate) fn credential_fingerprint(base_url: &str, secrets: &[&[u8]]) -> String {
    use hmac::Mac;
    use std::fmt::Write;
    // A key of any length is accepted by HMAC: `new_from_slice` cannot fail here.
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(FINGERPRINT_DOMAIN) else {
        return String::new();
    };
    let mut field = |bytes: &[u8]| {
        // Length-prefixed, so that no two lists of fields give the same input.
        mac.update(&(bytes.len() as u64).to_be_bytes());
        mac.update(bytes);
    };
    field(base_url.trim_end_matches('/').as_bytes());
    for secret in secrets {
        field(secret);
    }
    mac.finalize().into_bytes()[..16]
        .iter()
        .fold(String::with_capacity(32), |mut hex, b| {
            let _ = write!(hex, "{b:02x}");
            hex
        })
}

/// Keyed hash of what identifies a credential: the base URL and every secret sent.
pub(crate) fn credential_key(base_url: &str, secrets: &[&[u8]]) -> u64 {
    use std::hash::{BuildHasher, Hash, Hasher};
    static KEY: std::sync::OnceLock<std::collections::hash_map::RandomState> =
        std::sync::OnceLock::new();
    let mut hasher = KEY
        .get_or_init(std::collections::hash_map::RandomState::new)
        .build_hasher();
    base_url.trim_end_matches('/').hash(&mut hasher);
    for secret in secrets {
        secret.hash(&mut hasher);
    }
    hasher.finish()
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inner")
            .field(
                "query_key",
                &self
                    .query_key
                    .as_ref()
                    .map(|(name, _)| (name, "<redacted>")),
            )
            .field("retry", &self.retry)
            .field("timeout", &self.timeout)
            .field("credential_provider", &self.credentials)
            .finish()
    }
}

/// Replaces the repeated `name=a&name=b` keys progenitor writes for an array with one
/// `name=["a","b"]` (percent-encoded), at the position of the first one. An empty array
/// writes no keys at all: for a `required` parameter, `name=[]` is sent instead.
pub(crate) fn encode_json_query(url: &mut reqwest::Url, name: &str, required: bool) {
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let values: Vec<&str> = pairs
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .collect();
    if values.is_empty() {
        if required {
            url.query_pairs_mut().append_pair(name, "[]");
        }
        return;
    }
    let json = serde_json::Value::from(values).to_string();
    let mut written = false;
    let mut query = url.query_pairs_mut();
    query.clear();
    for (k, v) in &pairs {
        if k != name {
            query.append_pair(k, v);
        } else if !written {
            query.append_pair(name, &json);
            written = true;
        }
    }
}

/// Makes every 4xx/5xx body a JSON object so that it decodes into [`crate::ApiError`]: a body that
/// is empty, HTML, plain text or a JSON non-object becomes `{"message": <text>}`. Status,
/// headers (`Retry-After` among them) and URL are kept.
pub(crate) async fn json_error_body(
    response: reqwest::Response,
) -> reqwest::Result<reqwest::Response> {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return Ok(response);
    }
    let version = response.version();
    let url = response.url().clone();
    let mut headers = response.headers().clone();
    let body = response.bytes().await?;
    let parsed = serde_json::from_slice::<serde_json::Value>(&body).ok();
    let body = match parsed {
        Some(serde_json::Value::Object(_)) => body,
        other => {
            let message = match other {
                Some(serde_json::Value::String(s)) => s,
                Some(serde_json::Value::Null) | None => error_text(&body, status),
                Some(value) => value.to_string(),
            };
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            serde_json::json!({ "message": message }).to_string().into()
        }
    };
    headers.remove(header::CONTENT_LENGTH);
    headers.remove(header::CONTENT_ENCODING);
    headers.remove(header::TRANSFER_ENCODING);
    use reqwest::ResponseBuilderExt;
    let mut builder = http::Response::builder()
        .status(status)
        .version(version)
        .url(url);
    if let Some(h) = builder.headers_mut() {
        *h = headers;
    }
    // Status and version come from a response, so the builder cannot fail; if it ever
    // did, a bare response with the same body is still better than an error.
    let rebuilt = builder
        .body(body.clone())
        .unwrap_or_else(|_| http::Response::new(body));
    Ok(reqwest::Response::from(rebuilt))
}

pub(crate) fn error_text(body: &[u8], status: reqwest::StatusCode) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return status
            .canonical_reason()
            .unwrap_or("error response with an empty body")
            .to_owned();
    }
    let mut end = text.len().min(MAX_ERROR_TEXT);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn url(query: &str) -> reqwest::Url {
        format!("http://h/x?{query}").parse().unwrap()
    }

    #[test]
    fn repeated_keys_become_one_json_array_in_place() {
        let mut u = url("a=1&ids=x&b=2&ids=y");
        encode_json_query(&mut u, "ids", false);
        let pairs: Vec<(String, String)> = u.query_pairs().into_owned().collect();
        assert_eq!(
            pairs,
            [
                ("a".into(), "1".into()),
                ("ids".into(), r#"["x","y"]"#.into()),
                ("b".into(), "2".into())
            ]
        );
    }

    #[test]
    fn an_empty_array_is_sent_only_when_required() {
        let mut optional = url("a=1");
        encode_json_query(&mut optional, "ids", false);
        assert_eq!(optional.query(), Some("a=1"));
        let mut required = url("a=1");
        encode_json_query(&mut required, "ids", true);
        assert_eq!(required.query(), Some("a=1&ids=%5B%5D"));
    }

    #[test]
    fn credential_fingerprints_are_stable_and_follow_base_url_and_secrets_only() {
        let a = credential_fingerprint("https://h/api", &[b"Bearer t"]);
        // Fixed: another process or machine computes the same (this value is the key's
        // name in every shared Redis budget; changing it splits fleets mid-upgrade).
        // Computed independently: Python's hmac over the same length-prefixed fields.
        assert_eq!(a, "48d4cef37383e7eb80fb8c2515a08bf1");
        assert_eq!(a, credential_fingerprint("https://h/api/", &[b"Bearer t"]));
        assert_ne!(a, credential_fingerprint("https://h/api", &[b"Bearer u"]));
        assert_ne!(
            a,
            credential_fingerprint("https://other/api", &[b"Bearer t"])
        );
        // Field boundaries count: ("ab", "") is not ("a", "b").
        assert_ne!(
            credential_fingerprint("x", &[b"ab", b""]),
            credential_fingerprint("x", &[b"a", b"b"])
        );
    }

    #[test]
    fn credential_keys_follow_base_url_and_secrets_only() {
        let a = credential_key("https://h/api", &[b"Bearer t"]);
        assert_eq!(a, credential_key("https://h/api/", &[b"Bearer t"]));
        assert_ne!(a, credential_key("https://h/api", &[b"Bearer u"]));
        assert_ne!(a, credential_key("https://other/api", &[b"Bearer t"]));
    }

    #[test]
    fn an_operation_timeout_of_the_client_wins_over_the_generated_table() {
        let tables = OperationTables {
            request_timeouts: &[("query_run", 120), ("wait_for_query", 120)],
            ..OperationTables::EMPTY
        };
        let inner = Inner {
            operation_timeouts: vec![("query_run".into(), Duration::from_secs(130))],
            ..Inner::default()
        };
        let timeout_of = |operation_id: &'static str| {
            let mut request = reqwest::Request::new(reqwest::Method::GET, url(""));
            pre(
                &inner,
                &mut request,
                &OperationInfo { operation_id },
                &tables,
            );
            request.timeout().copied()
        };
        assert_eq!(timeout_of("query_run"), Some(Duration::from_secs(130)));
        assert_eq!(timeout_of("wait_for_query"), Some(Duration::from_secs(120)));
        assert_eq!(timeout_of("other"), None);
    }

    #[test]
    fn the_query_key_is_redacted_in_debug() {
        let inner = Inner {
            query_key: Some(("api_key", Token("sk-secret".into()))),
            credential_key: 1,
            ..Inner::default()
        };
        let shown = format!("{inner:?}");
        assert!(!shown.contains("sk-secret"), "{shown}");
        assert!(shown.contains("api_key"), "{shown}");
    }

    fn response(status: u16, content_type: &str, body: &'static str) -> reqwest::Response {
        reqwest::Response::from(
            http::Response::builder()
                .status(status)
                .header("content-type", content_type)
                .header("retry-after", "7")
                .body(body)
                .unwrap(),
        )
    }

    #[tokio::test]
    async fn error_bodies_become_json_objects_and_keep_status_and_headers() {
        let html = json_error_body(response(502, "text/html", "<h1>Bad gateway</h1>"))
            .await
            .unwrap();
        assert_eq!(html.status(), 502);
        assert_eq!(html.headers()["retry-after"], "7");
        let body: serde_json::Value = html.json().await.unwrap();
        assert_eq!(body, serde_json::json!({"message": "<h1>Bad gateway</h1>"}));

        let empty = json_error_body(response(429, "text/plain", ""))
            .await
            .unwrap();
        let body: serde_json::Value = empty.json().await.unwrap();
        assert_eq!(body, serde_json::json!({"message": "Too Many Requests"}));

        let object = json_error_body(response(404, "application/json", r#"{"detail":"gone"}"#))
            .await
            .unwrap();
        assert_eq!(object.text().await.unwrap(), r#"{"detail":"gone"}"#);

        let ok = json_error_body(response(200, "text/plain", "fine"))
            .await
            .unwrap();
        assert_eq!(ok.text().await.unwrap(), "fine");
    }
}
