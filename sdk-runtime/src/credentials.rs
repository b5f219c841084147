//! Rotating credentials: a [`CredentialProvider`] the client asks for the current secret,
//! cached until it expires or the server answers 401.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{self, HeaderName, HeaderValue};

/// A secret from a [`CredentialProvider`], and how long it may be used. Its `Debug` output
/// never shows the secret.
///
/// ```
/// use std::time::Duration;
/// let credential = sdk_runtime::Credential::new("not-a-real-token").valid_for(Duration::from_secs(300));
/// assert!(!format!("{credential:?}").contains("not-a-real-token"));
/// ```
#[derive(Clone)]
pub struct Credential {
    secret: String,
    valid_until: Option<Instant>,
}

impl Credential {
    /// A secret that is used until the server refuses it (401).
    ///
    /// ```
    /// let credential = sdk_runtime::Credential::new("not-a-real-token");
    /// # let _ = credential;
    /// ```
    pub fn new(secret: impl Into<String>) -> Self {
        Self {
            secret: secret.into(),
            valid_until: None,
        }
    }

    /// Asks the provider again once `ttl` has passed (e.g. the `expires_in` of an OAuth
    /// token, minus a margin).
    ///
    /// ```
    /// let c = sdk_runtime::Credential::new("t").valid_for(std::time::Duration::from_secs(60));
    /// # let _ = c;
    /// ```
    pub fn valid_for(self, ttl: Duration) -> Self {
        let valid_until = Instant::now().checked_add(ttl);
        Self {
            valid_until,
            ..self
        }
    }

    /// Asks the provider again from `instant` on.
    ///
    /// ```
    /// let c = sdk_runtime::Credential::new("t").valid_until(std::time::Instant::now());
    /// # let _ = c;
    /// ```
    pub fn valid_until(self, instant: Instant) -> Self {
        Self {
            valid_until: Some(instant),
            ..self
        }
    }
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("secret", &"<redacted>")
            .field("valid_until", &self.valid_until)
            .finish()
    }
}

/// Why a [`CredentialProvider`] could not give a credential. A request that needed it
/// fails with a communication error whose source chain (`ErrorExt::message`, `{:#}`)
/// includes this message; write messages without the secret.
///
/// ```
/// let e = sdk_runtime::CredentialError::new("the vault answered 503");
/// assert_eq!(e.to_string(), "the credential provider failed: the vault answered 503");
/// ```
#[derive(Debug, thiserror::Error)]
#[error("the credential provider failed: {0}")]
pub struct CredentialError(Box<dyn std::error::Error + Send + Sync>);

impl CredentialError {
    /// Wraps any error or message.
    ///
    /// ```
    /// let io = std::io::Error::other("token file missing");
    /// let e = sdk_runtime::CredentialError::new(io);
    /// assert!(e.to_string().contains("token file missing"));
    /// ```
    pub fn new(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self(error.into())
    }
}

/// Where the client gets its secret when it changes over time (short-lived OAuth tokens,
/// a secret manager, a file a sidecar rewrites). Set it with
/// [`ClientBuilder::credential_provider`](crate::ClientBuilder::credential_provider).
///
/// Why: a fixed token needs a new client to rotate it, and every request in flight fails
/// with 401 meanwhile. With a provider the client asks for the secret when it has none or
/// when the one it has expired ([`Credential::valid_for`]), one request at a time (the
/// others wait for its answer), and caches it. A 401 answer drops the cached secret, asks
/// the provider once more and sends the request once more, whatever the method (the server
/// did not process it); a second 401 is returned. With a fixed token a 401 is never retried.
///
/// ```
/// use sdk_runtime::{Credential, CredentialError, CredentialProvider};
///
/// struct FromFile(std::path::PathBuf);
///
/// impl CredentialProvider for FromFile {
///     async fn credential(&self) -> Result<Credential, CredentialError> {
///         let token = std::fs::read_to_string(&self.0).map_err(CredentialError::new)?;
///         Ok(Credential::new(token.trim()).valid_for(std::time::Duration::from_secs(300)))
///     }
/// }
/// ```
pub trait CredentialProvider: Send + Sync + 'static {
    /// The current secret.
    fn credential(&self) -> impl Future<Output = Result<Credential, CredentialError>> + Send;
}

type CredentialFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Credential, CredentialError>> + Send + 'a>>;

/// [`CredentialProvider`] made object-safe.
pub(crate) trait DynProvider: Send + Sync {
    fn credential(&self) -> CredentialFuture<'_>;
}

impl<P: CredentialProvider> DynProvider for P {
    fn credential(&self) -> CredentialFuture<'_> {
        Box::pin(CredentialProvider::credential(self))
    }
}

/// How a provider's secret is sent.
#[derive(Debug, Clone)]
pub(crate) enum Scheme {
    /// `Authorization: Bearer <secret>`.
    Bearer,
    /// The secret alone, in this header (an `apiKey` scheme in a header).
    Header(HeaderName),
}

struct Cached {
    value: Option<(HeaderValue, Option<Instant>)>,
    generation: u64,
}

/// A provider, its cache and how its secret is sent: shared by the clients built from one
/// builder.
pub(crate) struct CredentialSource {
    provider: Arc<dyn DynProvider>,
    scheme: Scheme,
    cache: tokio::sync::Mutex<Cached>,
}

impl std::fmt::Debug for CredentialSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialProvider")
            .field("scheme", &self.scheme)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl CredentialSource {
    pub(crate) fn new(provider: Arc<dyn DynProvider>, scheme: Scheme) -> Self {
        Self {
            provider,
            scheme,
            cache: tokio::sync::Mutex::new(Cached {
                value: None,
                generation: 0,
            }),
        }
    }

    pub(crate) fn header_name(&self) -> HeaderName {
        match &self.scheme {
            Scheme::Bearer => header::AUTHORIZATION,
            Scheme::Header(name) => name.clone(),
        }
    }

    /// The header value to send and the generation it belongs to (for [`Self::invalidate`]).
    pub(crate) async fn current(&self) -> Result<(HeaderValue, u64), CredentialError> {
        let mut cache = self.cache.lock().await;
        if let Some((value, valid_until)) = &cache.value
            && valid_until.is_none_or(|until| Instant::now() < until)
        {
            return Ok((value.clone(), cache.generation));
        }
        let credential = self.provider.credential().await?;
        let value = self.header_value(&credential.secret)?;
        cache.generation = cache.generation.wrapping_add(1);
        cache.value = Some((value.clone(), credential.valid_until));
        tracing::debug!(target: "sdk_runtime::credentials", generation = cache.generation, "new credential from the provider");
        Ok((value, cache.generation))
    }

    /// Drops the cached secret if it is still the one of `generation` (a 401 answered it;
    /// another request may have refreshed it already).
    pub(crate) async fn invalidate(&self, generation: u64) {
        let mut cache = self.cache.lock().await;
        if cache.generation == generation {
            cache.value = None;
        }
    }

    fn header_value(&self, secret: &str) -> Result<HeaderValue, CredentialError> {
        let secret = secret.trim();
        if secret.is_empty() {
            return Err(CredentialError::new("it returned an empty secret"));
        }
        let text = match self.scheme {
            Scheme::Bearer => format!("Bearer {secret}"),
            Scheme::Header(_) => secret.to_owned(),
        };
        let mut value = HeaderValue::from_str(&text).map_err(|_| {
            CredentialError::new(
                "it returned a secret with characters that cannot be sent in an HTTP header",
            )
        })?;
        value.set_sensitive(true);
        Ok(value)
    }
}

/// A failed request whose error has `error` as its source: the only way an `exec` hook can
/// fail a request (its signature returns `reqwest::Result`). The error is a body error of
/// an empty local response; `ErrorExt::message` and `{:#}` show the whole chain.
pub(crate) async fn failed_request(error: CredentialError) -> reqwest::Result<reqwest::Response> {
    let stream = futures_util::stream::once(async move { Err::<bytes::Bytes, _>(error) });
    let response = reqwest::Response::from(http::Response::new(reqwest::Body::wrap_stream(stream)));
    response.bytes().await?;
    // Not reached (the body yields only the error); still an error, without the cause.
    let mut fallback = http::Response::new(reqwest::Body::from(""));
    *fallback.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
    reqwest::Response::from(fallback).error_for_status()
}
