//! Configuration: what an API needs from its environment, and why a client could not be
//! configured.

use std::time::Duration;

use reqwest::header::HeaderValue;

/// Default timeout for establishing a connection.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Default timeout for a whole request, body included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// What a client needs to know about its API to read its configuration: each SDK
/// declares one (from its document's `servers` and `securitySchemes`).
///
/// ```
/// let api = sdk_runtime::ApiInfo {
///     token_required: true,
///     ..sdk_runtime::ApiInfo::new("OMNI_API_TOKEN", "OMNI_BASE_URL", "omni-sdk/0.1.0")
/// };
/// assert_eq!(api.base_url_var, "OMNI_BASE_URL");
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ApiInfo {
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
    /// The default `User-Agent` (`<crate>/<version>` of the SDK).
    pub user_agent: &'static str,
    /// What to say when no base URL is configured.
    pub base_url_hint: &'static str,
}

impl ApiInfo {
    /// An API configured by a token variable and a base URL variable, with no instance,
    /// default base URL, API key or basic credentials; the token is optional.
    ///
    /// ```
    /// let api = sdk_runtime::ApiInfo::new("X_API_TOKEN", "X_BASE_URL", "x-sdk/1.0");
    /// assert!(!api.token_required);
    /// ```
    pub const fn new(
        token_var: &'static str,
        base_url_var: &'static str,
        user_agent: &'static str,
    ) -> ApiInfo {
        ApiInfo {
            token_var,
            token_required: false,
            base_url_var,
            instance: None,
            default_base_url: None,
            api_key: None,
            basic_vars: None,
            user_agent,
            base_url_hint: "set the base URL variable, or call ClientBuilder::base_url",
        }
    }
}

/// Where an API's key is sent (its `securitySchemes` entry of type `apiKey`).
///
/// ```
/// let api = sdk_runtime::ApiInfo {
///     api_key: Some((sdk_runtime::ApiKeyIn::Header("x-api-key"), "X_API_KEY")),
///     ..sdk_runtime::ApiInfo::new("X_API_TOKEN", "X_BASE_URL", "x-sdk/1.0")
/// };
/// # let _ = api;
/// ```
#[derive(Debug, Clone, Copy)]
pub enum ApiKeyIn {
    /// In this request header.
    Header(&'static str),
    /// In this query parameter (the spec requires it; errors never show the URL).
    Query(&'static str),
}

/// Why a client could not be configured. Messages name the setting or environment
/// variable at fault and never contain a token.
///
/// ```
/// let err = sdk_runtime::ConfigError::Missing { what: "X_BASE_URL", hint: "set it" };
/// assert_eq!(err.to_string(), "X_BASE_URL is not set: set it");
/// ```
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
pub(crate) struct Token(pub(crate) String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

pub(crate) fn base_url_hint(api: &ApiInfo, _instance_var: &'static str) -> &'static str {
    api.base_url_hint
}

pub(crate) fn env_var(variable: &'static str) -> Result<Option<String>, ConfigError> {
    match std::env::var(variable) {
        Ok(value) if value.trim().is_empty() => Ok(None),
        Ok(value) => Ok(Some(value.trim().to_owned())),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(ConfigError::NotUnicode { variable }),
    }
}

pub(crate) fn auth_header(
    token: &str,
    source_name: &'static str,
) -> Result<HeaderValue, ConfigError> {
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

pub(crate) fn basic_header(
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
pub(crate) fn base64_encode(bytes: &[u8]) -> String {
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

pub(crate) fn validate_instance(
    instance: &str,
    source_name: &'static str,
) -> Result<(), ConfigError> {
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

pub(crate) fn validate_base_url(
    raw: &str,
    source_name: &'static str,
) -> Result<String, ConfigError> {
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
pub(crate) fn redact_userinfo(raw: &str) -> String {
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn credentials_and_queries_in_refused_urls_are_redacted() {
        assert_eq!(
            redact_userinfo("https://user:pw@h/x?key=v"),
            "https://<redacted>@h/x?<redacted>"
        );
        assert_eq!(redact_userinfo("https://h/x"), "https://h/x");
    }

    #[test]
    fn base64_matches_rfc_4648() {
        for (input, expected) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("user:pw", "dXNlcjpwdw=="),
        ] {
            assert_eq!(base64_encode(input.as_bytes()), expected, "{input}");
        }
    }

    #[test]
    fn instances_must_be_host_labels() {
        assert!(validate_instance("blobs-r-us", "t").is_ok());
        for bad in ["", "-a", "a-", "a.b", "a b"] {
            assert!(validate_instance(bad, "t").is_err(), "{bad:?}");
        }
    }

    #[test]
    fn tokens_are_sensitive_and_never_shown() {
        let value = auth_header(" t0k ", "test").unwrap();
        assert!(value.is_sensitive());
        assert_eq!(value, "Bearer t0k");
        let err = auth_header("bad\ntoken", "test").unwrap_err().to_string();
        assert!(!err.contains("token\n") && !err.contains("bad"), "{err}");
        assert_eq!(format!("{:?}", Token("secret".into())), "Token(<redacted>)");
    }
}
