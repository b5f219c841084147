//! Runtime support shared by every generated SDK in this workspace: client construction,
//! credentials, request/response hooks and error inspection.
//!
//! Why it exists: progenitor's generated `Client::new` unwraps, sends an `api-version`
//! header, serialises array query parameters as repeated keys, and turns an error response
//! whose body is not the declared JSON into `InvalidResponsePayload`, losing the status and
//! the `Retry-After` header a caller needs to back off. This module fixes each of those
//! without touching the generated code.

use std::time::{Duration, SystemTime};

use progenitor_client::{ClientHooks, ClientInfo, OperationInfo};
use reqwest::header::{self, HeaderMap, HeaderValue};

use crate::generated::{
    Client, Error, JSON_QUERY_PARAMS, REQUEST_BODY_MEDIA_TYPES, REQUEST_TIMEOUTS, types::ApiError,
};

/// The default `User-Agent`: this crate's name and version.
pub const DEFAULT_USER_AGENT: &str =
    concat!(env!("CARGO_PKG_NAME"), "/", env!("CARGO_PKG_VERSION"));

/// Default timeout for establishing a connection.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Default timeout for a whole request, body included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Longest error body kept as a message, in bytes (HTML error pages can be large).
const MAX_ERROR_TEXT: usize = 2048;

/// What a client needs to know about its API to read its configuration.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ApiInfo {
    /// Environment variable holding the bearer token.
    pub token_var: &'static str,
    /// Whether requests need a bearer token.
    pub token_required: bool,
    /// Environment variable holding the base URL.
    pub base_url_var: &'static str,
    /// Environment variable holding an instance name, and the URL template it expands
    /// into (`{instance}` is replaced), for APIs with one host per customer.
    pub instance: Option<(&'static str, &'static str)>,
    /// The base URL when none is configured (the spec's first absolute server).
    pub default_base_url: Option<&'static str>,
    /// Where an API key goes, and the environment variable holding it.
    pub api_key: Option<(ApiKeyIn, &'static str)>,
    /// Environment variables holding HTTP basic credentials (user, password).
    pub basic_vars: Option<(&'static str, &'static str)>,
}

/// Where an API's key is sent (its `securitySchemes` entry of type `apiKey`).
#[derive(Debug, Clone, Copy)]
#[allow(dead_code)] // each SDK uses the variant its spec declares
pub(crate) enum ApiKeyIn {
    /// In this request header.
    Header(&'static str),
    /// In this query parameter (the spec requires it; errors never show the URL).
    Query(&'static str),
}

/// Per-client state the request hook needs; the generated `Client` carries it. Its
/// `Debug` output never shows a credential.
#[derive(Clone, Default)]
pub struct Inner {
    query_key: Option<(&'static str, Token)>,
    credential_key: u64,
}

impl Client {
    /// A number that is the same for every client of this process that sends the same
    /// credentials to the same base URL, and differs (but for a 64-bit hash collision)
    /// otherwise.
    ///
    /// Why: rate limits are per credential, not per client object. A process that builds
    /// several clients with one token shares one limit, and code that paces requests (such
    /// as `poll-helpers`' shared rate budgets) needs a key for "the same credential". The
    /// hash is keyed with a random per-process secret: it reveals nothing about the
    /// credential and means nothing outside this process.
    ///
    /// ```
    /// let a = __CRATE__::Client::builder().base_url("https://a.example/api").bearer_token("t1").build()?;
    /// let b = __CRATE__::Client::builder().base_url("https://a.example/api").bearer_token("t1").build()?;
    /// let c = __CRATE__::Client::builder().base_url("https://a.example/api").bearer_token("t2").build()?;
    /// assert_eq!(a.credential_key(), b.credential_key());
    /// assert_ne!(a.credential_key(), c.credential_key());
    /// # Ok::<(), __CRATE__::ConfigError>(())
    /// ```
    pub fn credential_key(&self) -> u64 {
        self.inner.credential_key
    }
}

/// Keyed hash of what identifies a credential: the base URL and every secret sent.
fn credential_key(base_url: &str, secrets: &[&[u8]]) -> u64 {
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
            .finish()
    }
}

/// Why a client could not be configured. Messages name the setting or environment
/// variable at fault and never contain a token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A required setting is missing.
    #[error("{what} is not set: {hint}")]
    Missing {
        /// The setting, e.g. `OMNI_API_TOKEN`.
        what: &'static str,
        /// How to provide it.
        hint: &'static str,
    },
    /// An environment variable is set but is not valid Unicode.
    #[error("environment variable {variable} is not valid Unicode")]
    NotUnicode {
        /// The variable.
        variable: &'static str,
    },
    /// A base URL (or the URL an instance name expands into) is not usable.
    #[error("invalid base URL {url:?} (from {source_name}): {reason}")]
    InvalidBaseUrl {
        /// Where the value came from: a builder method or an environment variable.
        source_name: &'static str,
        /// The offending value (base URLs are not secret; credentials in them are refused).
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An instance name is not a valid host label.
    #[error("invalid instance name {instance:?} (from {source_name}): {reason}")]
    InvalidInstance {
        /// Where the value came from.
        source_name: &'static str,
        /// The offending value.
        instance: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The token cannot be sent in an HTTP header (empty, or has control characters).
    /// The token itself is never shown.
    #[error("the API token (from {source_name}) is not usable: {reason}")]
    InvalidToken {
        /// Where the token came from.
        source_name: &'static str,
        /// What is wrong with it, without showing it.
        reason: &'static str,
    },
    /// The `User-Agent` is not a valid header value.
    #[error("invalid user agent {0:?}: not a valid HTTP header value")]
    InvalidUserAgent(String),
    /// The HTTP client could not be built (TLS initialisation).
    #[error("cannot build the HTTP client: {0}")]
    Http(#[source] reqwest::Error),
}

/// An API token. Its `Debug` output is redacted; it leaves the process only in the
/// `Authorization` header, marked sensitive.
#[derive(Clone)]
pub(crate) struct Token(String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// Builds a [`Client`] with a base URL, credentials and timeouts.
///
/// Unlike the generated `Client::new`, building never panics: every problem is a
/// [`ConfigError`].
///
/// ```
/// use std::time::Duration;
/// let client = __CRATE__::Client::builder()
///     .base_url("https://example.test/api")
///     .bearer_token("not-a-real-token")
///     .timeout(Duration::from_secs(30))
///     .build()?;
/// # Ok::<(), __CRATE__::ConfigError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct ClientBuilder {
    pub(crate) base_url: Option<(String, &'static str)>,
    pub(crate) instance: Option<(String, &'static str)>,
    token: Option<(Token, &'static str)>,
    api_key: Option<(Token, &'static str)>,
    basic: Option<(String, Token, &'static str)>,
    connect_timeout: Option<Duration>,
    timeout: Option<Duration>,
    user_agent: Option<String>,
}

impl ClientBuilder {
    /// Sets the base URL that operation paths are appended to. A trailing `/` is ignored.
    ///
    /// ```
    /// let builder = __CRATE__::Client::builder().base_url("http://127.0.0.1:8080/");
    /// ```
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some((url.into(), "ClientBuilder::base_url"));
        self
    }

    /// Sets the API token, sent as `Authorization: Bearer <token>`.
    ///
    /// ```
    /// let builder = __CRATE__::Client::builder().bearer_token("not-a-real-token");
    /// ```
    pub fn bearer_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some((Token(token.into()), "ClientBuilder::bearer_token"));
        self
    }

    /// Sets the API key, for APIs whose spec declares an `apiKey` security scheme; it goes
    /// in the header or query parameter the spec names. Other APIs refuse it at `build`.
    ///
    /// ```
    /// let builder = __CRATE__::Client::builder().api_key("not-a-real-key");
    /// ```
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some((Token(key.into()), "ClientBuilder::api_key"));
        self
    }

    /// Sets HTTP basic credentials, for APIs whose spec declares `http`/`basic`.
    ///
    /// ```
    /// let builder = __CRATE__::Client::builder().basic_auth("user", "not-a-real-password");
    /// ```
    pub fn basic_auth(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.basic = Some((
            user.into(),
            Token(password.into()),
            "ClientBuilder::basic_auth",
        ));
        self
    }

    /// Sets the timeout for establishing a connection (default 10 s).
    ///
    /// ```
    /// let builder = __CRATE__::Client::builder().connect_timeout(std::time::Duration::from_secs(2));
    /// ```
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// Sets the timeout for a whole request, reading the body included (default 60 s).
    ///
    /// ```
    /// let builder = __CRATE__::Client::builder().timeout(std::time::Duration::from_secs(120));
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Replaces the `User-Agent` header (default `<crate>/<version>`).
    ///
    /// ```
    /// let builder = __CRATE__::Client::builder().user_agent("my-pipeline/1.2");
    /// ```
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = Some(user_agent.into());
        self
    }

    /// Fills every setting not yet given from the environment.
    pub(crate) fn with_env(mut self, api: &ApiInfo) -> Result<Self, ConfigError> {
        if self.token.is_none()
            && let Some(token) = env_var(api.token_var)?
        {
            self.token = Some((Token(token), api.token_var));
        }
        if self.api_key.is_none()
            && let Some((_, var)) = api.api_key
            && let Some(key) = env_var(var)?
        {
            self.api_key = Some((Token(key), var));
        }
        if self.basic.is_none()
            && let Some((user_var, password_var)) = api.basic_vars
            && let (Some(user), Some(password)) = (env_var(user_var)?, env_var(password_var)?)
        {
            self.basic = Some((user, Token(password), password_var));
        }
        if self.base_url.is_none() && self.instance.is_none() {
            if let Some(url) = env_var(api.base_url_var)? {
                self.base_url = Some((url, api.base_url_var));
            } else if let Some((instance_var, _)) = api.instance
                && let Some(instance) = env_var(instance_var)?
            {
                self.instance = Some((instance, instance_var));
            }
        }
        Ok(self)
    }

    /// Validates the settings and builds the client.
    pub(crate) fn build_for(self, api: &ApiInfo) -> Result<Client, ConfigError> {
        let (base_url, source_name) = self.resolve_base_url(api)?;
        let base_url = validate_base_url(&base_url, source_name)?;

        let mut headers = HeaderMap::new();
        let mut inner = Inner::default();
        match (self.token, &self.basic) {
            (Some((Token(token), source_name)), _) => {
                headers.insert(header::AUTHORIZATION, auth_header(&token, source_name)?);
            }
            (None, Some((user, Token(password), source_name))) => {
                headers.insert(
                    header::AUTHORIZATION,
                    basic_header(user, password, source_name)?,
                );
            }
            (None, None) if api.token_required => {
                return Err(ConfigError::Missing {
                    what: api.token_var,
                    hint: "set it in the environment (in code: ClientBuilder::bearer_token)",
                });
            }
            (None, None) => {}
        }
        if let Some((Token(key), source_name)) = self.api_key {
            let key = key.trim().to_owned();
            let invalid = |reason| ConfigError::InvalidToken {
                source_name,
                reason,
            };
            if key.is_empty() {
                return Err(invalid("it is empty"));
            }
            match api.api_key {
                Some((ApiKeyIn::Header(name), _)) => {
                    let name = header::HeaderName::from_static(name);
                    let mut value = HeaderValue::from_str(&key).map_err(|_| {
                        invalid("it contains characters that cannot be sent in an HTTP header")
                    })?;
                    value.set_sensitive(true);
                    headers.insert(name, value);
                }
                Some((ApiKeyIn::Query(name), _)) => inner.query_key = Some((name, Token(key))),
                None => return Err(invalid("this API declares no API key security scheme")),
            }
        }
        let user_agent = self
            .user_agent
            .unwrap_or_else(|| DEFAULT_USER_AGENT.to_owned());
        let user_agent = HeaderValue::from_str(&user_agent)
            .map_err(|_| ConfigError::InvalidUserAgent(user_agent.clone()))?;
        headers.insert(header::USER_AGENT, user_agent);

        let query_secret = inner.query_key.as_ref().map(|(_, Token(k))| k.as_bytes());
        inner.credential_key = credential_key(
            &base_url,
            &[
                headers
                    .get(header::AUTHORIZATION)
                    .map_or(&b""[..], HeaderValue::as_bytes),
                query_secret.unwrap_or_default(),
                // An API key in a header of its own.
                &headers
                    .iter()
                    .filter(|(name, value)| *name != header::AUTHORIZATION && value.is_sensitive())
                    .flat_map(|(_, value)| value.as_bytes().iter().copied())
                    .collect::<Vec<u8>>(),
            ],
        );
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .connect_timeout(self.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT))
            .timeout(self.timeout.unwrap_or(DEFAULT_TIMEOUT))
            .build()
            .map_err(ConfigError::Http)?;
        Ok(Client::new_with_client(&base_url, http, inner))
    }

    fn resolve_base_url(&self, api: &ApiInfo) -> Result<(String, &'static str), ConfigError> {
        if let Some((url, source_name)) = &self.base_url {
            return Ok((url.clone(), source_name));
        }
        match (&self.instance, api.instance) {
            (Some((instance, source_name)), Some((_, template))) => {
                validate_instance(instance, source_name)?;
                Ok((template.replace("{instance}", instance), source_name))
            }
            (_, Some((instance_var, _))) => Err(ConfigError::Missing {
                what: "base URL",
                hint: base_url_hint(api.base_url_var, instance_var),
            }),
            (_, None) => match api.default_base_url {
                Some(url) => Ok((url.to_owned(), "the spec's servers")),
                None => Err(ConfigError::Missing {
                    what: api.base_url_var,
                    hint: "set it in the environment (in code: ClientBuilder::base_url)",
                }),
            },
        }
    }
}

fn base_url_hint(base_url_var: &'static str, instance_var: &'static str) -> &'static str {
    // Static strings for the two variables an instance-based API reads.
    match (base_url_var, instance_var) {
        ("OMNI_BASE_URL", "OMNI_INSTANCE") => {
            "set OMNI_BASE_URL or OMNI_INSTANCE, or call ClientBuilder::base_url or ClientBuilder::instance"
        }
        _ => "set the base URL or instance variable, or call ClientBuilder::base_url",
    }
}

fn env_var(variable: &'static str) -> Result<Option<String>, ConfigError> {
    match std::env::var(variable) {
        Ok(value) if value.trim().is_empty() => Ok(None),
        Ok(value) => Ok(Some(value.trim().to_owned())),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(ConfigError::NotUnicode { variable }),
    }
}

fn auth_header(token: &str, source_name: &'static str) -> Result<HeaderValue, ConfigError> {
    let token = token.trim();
    if token.is_empty() {
        return Err(ConfigError::InvalidToken {
            source_name,
            reason: "it is empty",
        });
    }
    let mut value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
        ConfigError::InvalidToken {
            source_name,
            reason: "it contains characters that cannot be sent in an HTTP header",
        }
    })?;
    value.set_sensitive(true);
    Ok(value)
}

fn basic_header(
    user: &str,
    password: &str,
    source_name: &'static str,
) -> Result<HeaderValue, ConfigError> {
    let encoded = base64_encode(format!("{user}:{password}").as_bytes());
    let mut value = HeaderValue::from_str(&format!("Basic {encoded}")).map_err(|_| {
        ConfigError::InvalidToken {
            source_name,
            reason: "it contains characters that cannot be sent in an HTTP header",
        }
    })?;
    value.set_sensitive(true);
    Ok(value)
}

/// Standard base64 with padding (RFC 4648), for basic credentials.
fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn validate_instance(instance: &str, source_name: &'static str) -> Result<(), ConfigError> {
    let fail = |reason| ConfigError::InvalidInstance {
        source_name,
        instance: instance.to_owned(),
        reason,
    };
    if instance.is_empty() || instance.len() > 63 {
        return Err(fail("must be 1 to 63 characters"));
    }
    if !instance
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-')
        || instance.starts_with('-')
        || instance.ends_with('-')
    {
        return Err(fail(
            "must be a subdomain label: letters, digits and inner hyphens (e.g. `blobsrus`)",
        ));
    }
    Ok(())
}

fn validate_base_url(raw: &str, source_name: &'static str) -> Result<String, ConfigError> {
    let fail = |reason: String| ConfigError::InvalidBaseUrl {
        source_name,
        url: redact_userinfo(raw),
        reason,
    };
    let trimmed = raw.trim().trim_end_matches('/');
    let url = reqwest::Url::parse(trimmed).map_err(|e| fail(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(fail(format!(
            "scheme must be http or https, not {}",
            url.scheme()
        )));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(fail("has no host".to_owned()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(fail(
            "must not carry credentials; use the token setting instead".to_owned(),
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(fail("must not have a query or fragment".to_owned()));
    }
    Ok(trimmed.to_owned())
}

/// `https://user:pw@host/x?key=v` → `https://<redacted>@host/x?<redacted>`: a refused URL
/// is echoed in errors, credentials in it never (user info, and a query, which is where
/// API keys end up).
fn redact_userinfo(raw: &str) -> String {
    let (without_query, had_query) = match raw.split_once(['?', '#']) {
        Some((before, _)) => (before, true),
        None => (raw, false),
    };
    let suffix = if had_query { "?<redacted>" } else { "" };
    let Some(scheme_end) = without_query.find("://").map(|i| i + 3) else {
        return format!("{without_query}{suffix}");
    };
    let authority_end = without_query[scheme_end..]
        .find('/')
        .map_or(without_query.len(), |i| scheme_end + i);
    match without_query[scheme_end..authority_end].rfind('@') {
        Some(at) => format!(
            "{}<redacted>{}{suffix}",
            &without_query[..scheme_end],
            &without_query[scheme_end + at..]
        ),
        None => format!("{without_query}{suffix}"),
    }
}

impl ClientHooks<Inner> for Client {
    async fn pre<E>(
        &self,
        request: &mut reqwest::Request,
        info: &OperationInfo,
    ) -> Result<(), Error<E>> {
        // Progenitor always sends `api-version: <info.version>`; no API we know documents it.
        request.headers_mut().remove("api-version");
        if let Some((name, Token(key))) = &self.inner().query_key {
            request.url_mut().query_pairs_mut().append_pair(name, key);
        }
        for (operation, name, required) in JSON_QUERY_PARAMS {
            if *operation == info.operation_id {
                encode_json_query(request.url_mut(), name, *required);
            }
        }
        // Long polls: the server holds the request open longer than an ordinary one.
        for (operation, seconds) in REQUEST_TIMEOUTS {
            if *operation == info.operation_id {
                *request.timeout_mut() = Some(Duration::from_secs(*seconds));
            }
        }
        // Bodies generated as JSON, text or bytes but declared with another media type
        // (`application/merge-patch+json`, `application/xml`, ...): send the declared one.
        for (operation, media_type) in REQUEST_BODY_MEDIA_TYPES {
            if *operation == info.operation_id
                && let Ok(value) = reqwest::header::HeaderValue::from_str(media_type)
            {
                request
                    .headers_mut()
                    .insert(reqwest::header::CONTENT_TYPE, value);
            }
        }
        Ok(())
    }

    async fn exec(
        &self,
        request: reqwest::Request,
        _info: &OperationInfo,
    ) -> reqwest::Result<reqwest::Response> {
        let has_query_key = self.inner().query_key.is_some();
        // With a key in the query, an error's URL would show it: strip URLs from errors.
        let strip = |e: reqwest::Error| if has_query_key { e.without_url() } else { e };
        let response = self.client().execute(request).await.map_err(strip)?;
        json_error_body(response).await.map_err(strip)
    }
}

/// Replaces the repeated `name=a&name=b` keys progenitor writes for an array with one
/// `name=["a","b"]` (percent-encoded), at the position of the first one. An empty array
/// writes no keys at all: for a `required` parameter, `name=[]` is sent instead.
fn encode_json_query(url: &mut reqwest::Url, name: &str, required: bool) {
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

/// Makes every 4xx/5xx body a JSON object so that it decodes into [`ApiError`]: a body that
/// is empty, HTML, plain text or a JSON non-object becomes `{"message": <text>}`. Status,
/// headers (`Retry-After` among them) and URL are kept.
async fn json_error_body(response: reqwest::Response) -> reqwest::Result<reqwest::Response> {
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

fn error_text(body: &[u8], status: reqwest::StatusCode) -> String {
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

impl ApiError {
    /// The human-readable text of the error: `message`, else `detail`, else `error`
    /// (strings as they are, other JSON values rendered as JSON). `None` if the body had
    /// none of them.
    ///
    /// ```
    /// let e: __CRATE__::types::ApiError =
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

/// What a caller needs from any failed request: the HTTP status, how long the server
/// asked us to wait, and the server's message.
///
/// ```
/// use __CRATE__::ErrorExt;
/// # async fn f(client: &__CRATE__::Client, err: __CRATE__::Error<__CRATE__::types::ApiError>) {
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
