//! [`ClientBuilder`]: one builder for every generated client.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{self, HeaderMap, HeaderValue};

use crate::config::{
    ApiInfo, ApiKeyIn, ConfigError, DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT, Token, auth_header,
    base_url_hint, basic_header, env_var, validate_base_url, validate_instance,
};
use crate::credentials::{CredentialProvider, CredentialSource, DynProvider, Scheme};
use crate::hooks::{Inner, credential_fingerprint, credential_key};
use crate::retry::RetryPolicy;

/// A credential provider as the builder keeps it, and whether it gives an API key.
#[derive(Clone)]
struct Provider {
    provider: Arc<dyn DynProvider>,
    api_key: bool,
    source_name: &'static str,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.source_name)?;
        f.write_str("(<redacted>)")
    }
}

/// A generated client that [`ClientBuilder`] can build: what its API needs from the
/// environment, and how to make one from a base URL, an HTTP client and the hooks' state.
/// Each SDK crate implements it for its `Client` (in its hand-written `lib.rs`).
///
/// ```
/// use sdk_runtime::{ApiInfo, ClientBuilder, GeneratedClient, Inner};
///
/// struct Demo { base_url: String }
/// impl GeneratedClient for Demo {
///     const API: ApiInfo = ApiInfo::new("DEMO_API_TOKEN", "DEMO_BASE_URL", "demo-sdk/1.0");
///     fn from_parts(base_url: &str, _http: reqwest::Client, _inner: Inner) -> Self {
///         Demo { base_url: base_url.to_owned() }
///     }
/// }
///
/// let demo: Demo = ClientBuilder::<Demo>::default().base_url("http://127.0.0.1:8080/").build()?;
/// assert_eq!(demo.base_url, "http://127.0.0.1:8080");
/// # Ok::<(), sdk_runtime::ConfigError>(())
/// ```
pub trait GeneratedClient: Sized {
    /// How the API is configured.
    const API: ApiInfo;
    /// The client, from a validated base URL (no trailing `/`), an HTTP client carrying
    /// the default headers (credentials, `User-Agent`) and timeouts, and the hooks' state.
    fn from_parts(base_url: &str, http: reqwest::Client, inner: Inner) -> Self;
}

/// Builds a generated client (`C`) with a base URL, credentials and timeouts; each SDK
/// names it `ClientBuilder` (`omni_sdk::ClientBuilder = ClientBuilder<omni_sdk::Client>`)
/// and starts it with `Client::builder()`.
///
/// Unlike progenitor's generated `Client::new`, building never panics: every problem is a
/// [`ConfigError`] that names the setting or variable at fault and never shows a secret.
///
/// ```
/// use std::time::Duration;
/// # use sdk_runtime::{ApiInfo, GeneratedClient, Inner};
/// # #[derive(Debug)] struct Demo;
/// # impl GeneratedClient for Demo {
/// #     const API: ApiInfo = ApiInfo::new("DEMO_API_TOKEN", "DEMO_BASE_URL", "demo-sdk/1.0");
/// #     fn from_parts(_: &str, _: reqwest::Client, _: Inner) -> Self { Demo }
/// # }
/// # type ClientBuilder = sdk_runtime::ClientBuilder<Demo>;
/// let client = ClientBuilder::default()
///     .base_url("https://example.test/api")
///     .bearer_token("not-a-real-token")
///     .timeout(Duration::from_secs(30))
///     .build()?;
/// # Ok::<(), sdk_runtime::ConfigError>(())
/// ```
pub struct ClientBuilder<C> {
    base_url: Option<(String, &'static str)>,
    instance: Option<(String, &'static str)>,
    token: Option<(Token, &'static str)>,
    api_key: Option<(Token, &'static str)>,
    basic: Option<(String, Token, &'static str)>,
    connect_timeout: Option<Duration>,
    timeout: Option<Duration>,
    operation_timeouts: Vec<(String, Duration)>,
    stream_idle_timeout: Option<Duration>,
    user_agent: Option<String>,
    retry: Option<RetryPolicy>,
    provider: Option<Provider>,
    client: PhantomData<fn() -> C>,
}

impl<C> Default for ClientBuilder<C> {
    fn default() -> Self {
        Self {
            base_url: None,
            instance: None,
            token: None,
            api_key: None,
            basic: None,
            connect_timeout: None,
            timeout: None,
            operation_timeouts: Vec::new(),
            stream_idle_timeout: None,
            user_agent: None,
            retry: None,
            provider: None,
            client: PhantomData,
        }
    }
}

impl<C> Clone for ClientBuilder<C> {
    fn clone(&self) -> Self {
        Self {
            base_url: self.base_url.clone(),
            instance: self.instance.clone(),
            token: self.token.clone(),
            api_key: self.api_key.clone(),
            basic: self.basic.clone(),
            connect_timeout: self.connect_timeout,
            timeout: self.timeout,
            operation_timeouts: self.operation_timeouts.clone(),
            stream_idle_timeout: self.stream_idle_timeout,
            user_agent: self.user_agent.clone(),
            retry: self.retry,
            provider: self.provider.clone(),
            client: PhantomData,
        }
    }
}

impl<C> std::fmt::Debug for ClientBuilder<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("base_url", &self.base_url)
            .field("instance", &self.instance)
            .field("token", &self.token)
            .field("api_key", &self.api_key)
            .field("basic", &self.basic)
            .field("connect_timeout", &self.connect_timeout)
            .field("timeout", &self.timeout)
            .field("operation_timeouts", &self.operation_timeouts)
            .field("stream_idle_timeout", &self.stream_idle_timeout)
            .field("user_agent", &self.user_agent)
            .field("retry", &self.retry)
            .field("credential_provider", &self.provider)
            .finish()
    }
}

impl<C: GeneratedClient> ClientBuilder<C> {
    /// Sets the base URL that operation paths are appended to. A trailing `/` is ignored.
    ///
    /// ```
    /// # use sdk_runtime::{ApiInfo, GeneratedClient, Inner};
    /// # #[derive(Debug)] struct Demo;
    /// # impl GeneratedClient for Demo {
    /// #     const API: ApiInfo = ApiInfo::new("DEMO_API_TOKEN", "DEMO_BASE_URL", "demo-sdk/1.0");
    /// #     fn from_parts(_: &str, _: reqwest::Client, _: Inner) -> Self { Demo }
    /// # }
    /// # type ClientBuilder = sdk_runtime::ClientBuilder<Demo>;
    /// let builder = ClientBuilder::default().base_url("http://127.0.0.1:8080/");
    /// ```
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some((url.into(), "ClientBuilder::base_url"));
        self
    }

    /// Sets the API token, sent as `Authorization: Bearer <token>`.
    ///
    /// ```
    /// # use sdk_runtime::{ApiInfo, GeneratedClient, Inner};
    /// # #[derive(Debug)] struct Demo;
    /// # impl GeneratedClient for Demo {
    /// #     const API: ApiInfo = ApiInfo::new("DEMO_API_TOKEN", "DEMO_BASE_URL", "demo-sdk/1.0");
    /// #     fn from_parts(_: &str, _: reqwest::Client, _: Inner) -> Self { Demo }
    /// # }
    /// # type ClientBuilder = sdk_runtime::ClientBuilder<Demo>;
    /// let builder = ClientBuilder::default().bearer_token("not-a-real-token");
    /// ```
    pub fn bearer_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some((Token(token.into()), "ClientBuilder::bearer_token"));
        self
    }

    /// Sets the API key, for APIs whose spec declares an `apiKey` security scheme; it goes
    /// in the header or query parameter the spec names. Other APIs refuse it at `build`.
    ///
    /// ```
    /// # use sdk_runtime::{ApiInfo, GeneratedClient, Inner};
    /// # #[derive(Debug)] struct Demo;
    /// # impl GeneratedClient for Demo {
    /// #     const API: ApiInfo = ApiInfo::new("DEMO_API_TOKEN", "DEMO_BASE_URL", "demo-sdk/1.0");
    /// #     fn from_parts(_: &str, _: reqwest::Client, _: Inner) -> Self { Demo }
    /// # }
    /// # type ClientBuilder = sdk_runtime::ClientBuilder<Demo>;
    /// let builder = ClientBuilder::default().api_key("not-a-real-key");
    /// ```
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some((Token(key.into()), "ClientBuilder::api_key"));
        self
    }

    /// Sets HTTP basic credentials, for APIs whose spec declares `http`/`basic`.
    ///
    /// ```
    /// # use sdk_runtime::{ApiInfo, GeneratedClient, Inner};
    /// # #[derive(Debug)] struct Demo;
    /// # impl GeneratedClient for Demo {
    /// #     const API: ApiInfo = ApiInfo::new("DEMO_API_TOKEN", "DEMO_BASE_URL", "demo-sdk/1.0");
    /// #     fn from_parts(_: &str, _: reqwest::Client, _: Inner) -> Self { Demo }
    /// # }
    /// # type ClientBuilder = sdk_runtime::ClientBuilder<Demo>;
    /// let builder = ClientBuilder::default().basic_auth("user", "not-a-real-password");
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
    /// # use sdk_runtime::{ApiInfo, GeneratedClient, Inner};
    /// # #[derive(Debug)] struct Demo;
    /// # impl GeneratedClient for Demo {
    /// #     const API: ApiInfo = ApiInfo::new("DEMO_API_TOKEN", "DEMO_BASE_URL", "demo-sdk/1.0");
    /// #     fn from_parts(_: &str, _: reqwest::Client, _: Inner) -> Self { Demo }
    /// # }
    /// # type ClientBuilder = sdk_runtime::ClientBuilder<Demo>;
    /// let builder = ClientBuilder::default().connect_timeout(std::time::Duration::from_secs(2));
    /// ```
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// Sets the timeout for a whole request, reading the body included (default 60 s).
    ///
    /// ```
    /// # use sdk_runtime::{ApiInfo, GeneratedClient, Inner};
    /// # #[derive(Debug)] struct Demo;
    /// # impl GeneratedClient for Demo {
    /// #     const API: ApiInfo = ApiInfo::new("DEMO_API_TOKEN", "DEMO_BASE_URL", "demo-sdk/1.0");
    /// #     fn from_parts(_: &str, _: reqwest::Client, _: Inner) -> Self { Demo }
    /// # }
    /// # type ClientBuilder = sdk_runtime::ClientBuilder<Demo>;
    /// let builder = ClientBuilder::default().timeout(std::time::Duration::from_secs(120));
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sets the request timeout of one operation (by operationId in snake case, the name
    /// of the generated method, e.g. `"query_run"`), overriding [`timeout`](Self::timeout)
    /// and the generated per-operation table (long polls) for that operation. Why: some
    /// operations are held by the server for longer than an ordinary request should take.
    /// Set it again to replace it.
    ///
    /// ```
    /// # use sdk_runtime::{ApiInfo, GeneratedClient, Inner};
    /// # #[derive(Debug)] struct Demo;
    /// # impl GeneratedClient for Demo {
    /// #     const API: ApiInfo = ApiInfo::new("DEMO_API_TOKEN", "DEMO_BASE_URL", "demo-sdk/1.0");
    /// #     fn from_parts(_: &str, _: reqwest::Client, _: Inner) -> Self { Demo }
    /// # }
    /// # type ClientBuilder = sdk_runtime::ClientBuilder<Demo>;
    /// let builder = ClientBuilder::default()
    ///     .operation_timeout("query_run", std::time::Duration::from_secs(300));
    /// ```
    pub fn operation_timeout(mut self, operation: &str, timeout: Duration) -> Self {
        self.operation_timeouts
            .push((operation.to_owned(), timeout));
        self
    }

    /// Sets how long a streamed body (a file download, an NDJSON answer) may go without a
    /// byte before its reader gives up (default [`DEFAULT_TIMEOUT`], 60 s). Readers of
    /// streams (`poll-helpers`' downloads and query waits) apply it instead of a total
    /// timeout, so that a long download that keeps arriving is not cut off; read it with
    /// [`Inner::stream_idle_timeout`](crate::Inner::stream_idle_timeout).
    ///
    /// ```
    /// # use sdk_runtime::{ApiInfo, GeneratedClient, Inner};
    /// # #[derive(Debug)] struct Demo;
    /// # impl GeneratedClient for Demo {
    /// #     const API: ApiInfo = ApiInfo::new("DEMO_API_TOKEN", "DEMO_BASE_URL", "demo-sdk/1.0");
    /// #     fn from_parts(_: &str, _: reqwest::Client, _: Inner) -> Self { Demo }
    /// # }
    /// # type ClientBuilder = sdk_runtime::ClientBuilder<Demo>;
    /// let builder = ClientBuilder::default()
    ///     .stream_idle_timeout(std::time::Duration::from_secs(30));
    /// ```
    pub fn stream_idle_timeout(mut self, timeout: Duration) -> Self {
        self.stream_idle_timeout = Some(timeout);
        self
    }

    /// Replaces the `User-Agent` header (default `<crate>/<version>`).
    ///
    /// ```
    /// # use sdk_runtime::{ApiInfo, GeneratedClient, Inner};
    /// # #[derive(Debug)] struct Demo;
    /// # impl GeneratedClient for Demo {
    /// #     const API: ApiInfo = ApiInfo::new("DEMO_API_TOKEN", "DEMO_BASE_URL", "demo-sdk/1.0");
    /// #     fn from_parts(_: &str, _: reqwest::Client, _: Inner) -> Self { Demo }
    /// # }
    /// # type ClientBuilder = sdk_runtime::ClientBuilder<Demo>;
    /// let builder = ClientBuilder::default().user_agent("my-pipeline/1.2");
    /// ```
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = Some(user_agent.into());
        self
    }

    /// Sets which requests are sent again by themselves after a 429, 502, 503, 504 or a
    /// connection error (default: [`RetryPolicy::default`], GET, HEAD and OPTIONS, at most
    /// 3 attempts, within the request's timeout; [`RetryPolicy::none`] turns it off).
    ///
    /// ```
    /// # use sdk_runtime::{ApiInfo, GeneratedClient, Inner};
    /// # #[derive(Debug)] struct Demo;
    /// # impl GeneratedClient for Demo {
    /// #     const API: ApiInfo = ApiInfo::new("DEMO_API_TOKEN", "DEMO_BASE_URL", "demo-sdk/1.0");
    /// #     fn from_parts(_: &str, _: reqwest::Client, _: Inner) -> Self { Demo }
    /// # }
    /// # type ClientBuilder = sdk_runtime::ClientBuilder<Demo>;
    /// use sdk_runtime::RetryPolicy;
    /// let builder = ClientBuilder::default().retry_policy(RetryPolicy::default().idempotent_writes(true));
    /// let never = ClientBuilder::default().retry_policy(RetryPolicy::none());
    /// ```
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = Some(policy);
        self
    }

    /// Gets the bearer token from `provider` instead of a fixed one: asked when the client
    /// has no token or the one it has expired, and once more after a 401 (the request is
    /// then sent once more, whatever its method). Replaces
    /// [`bearer_token`](Self::bearer_token) and the token variable of the environment.
    ///
    /// ```
    /// # use sdk_runtime::{ApiInfo, GeneratedClient, Inner};
    /// # #[derive(Debug)] struct Demo;
    /// # impl GeneratedClient for Demo {
    /// #     const API: ApiInfo = ApiInfo::new("DEMO_API_TOKEN", "DEMO_BASE_URL", "demo-sdk/1.0");
    /// #     fn from_parts(_: &str, _: reqwest::Client, _: Inner) -> Self { Demo }
    /// # }
    /// # type ClientBuilder = sdk_runtime::ClientBuilder<Demo>;
    /// use sdk_runtime::{Credential, CredentialError, CredentialProvider};
    ///
    /// struct Vault;
    /// impl CredentialProvider for Vault {
    ///     async fn credential(&self) -> Result<Credential, CredentialError> {
    ///         // Fetch it from where it lives; here, a constant.
    ///         Ok(Credential::new("not-a-real-token").valid_for(std::time::Duration::from_secs(600)))
    ///     }
    /// }
    /// let client = ClientBuilder::default()
    ///     .base_url("https://example.test/api")
    ///     .credential_provider(Vault)
    ///     .build()?;
    /// # Ok::<(), sdk_runtime::ConfigError>(())
    /// ```
    pub fn credential_provider(mut self, provider: impl CredentialProvider) -> Self {
        self.provider = Some(Provider {
            provider: Arc::new(provider),
            api_key: false,
            source_name: "ClientBuilder::credential_provider",
        });
        self
    }

    /// Like [`credential_provider`](Self::credential_provider), for an API key sent in the
    /// header the API's `apiKey` security scheme names; an API whose key goes in the query,
    /// or that has no API key, refuses it at `build`. Replaces [`api_key`](Self::api_key).
    ///
    /// ```
    /// # use sdk_runtime::{ApiInfo, GeneratedClient, Inner};
    /// # #[derive(Debug)] struct Demo;
    /// # impl GeneratedClient for Demo {
    /// #     const API: ApiInfo = ApiInfo {
    /// #         api_key: Some((sdk_runtime::ApiKeyIn::Header("x-api-key"), "DEMO_API_KEY")),
    /// #         ..ApiInfo::new("DEMO_API_TOKEN", "DEMO_BASE_URL", "demo-sdk/1.0")
    /// #     };
    /// #     fn from_parts(_: &str, _: reqwest::Client, _: Inner) -> Self { Demo }
    /// # }
    /// # type ClientBuilder = sdk_runtime::ClientBuilder<Demo>;
    /// use sdk_runtime::{Credential, CredentialError, CredentialProvider};
    ///
    /// struct Keys;
    /// impl CredentialProvider for Keys {
    ///     async fn credential(&self) -> Result<Credential, CredentialError> {
    ///         Ok(Credential::new("not-a-real-key"))
    ///     }
    /// }
    /// let client = ClientBuilder::default()
    ///     .base_url("https://example.test/api")
    ///     .api_key_provider(Keys)
    ///     .build()?;
    /// # Ok::<(), sdk_runtime::ConfigError>(())
    /// ```
    pub fn api_key_provider(mut self, provider: impl CredentialProvider) -> Self {
        self.provider = Some(Provider {
            provider: Arc::new(provider),
            api_key: true,
            source_name: "ClientBuilder::api_key_provider",
        });
        self
    }

    /// Targets an instance by name, for APIs with one host per customer (Omni:
    /// `https://{instance}.omniapp.co/api`). A [`base_url`](Self::base_url) takes
    /// precedence; an API without instances refuses it at `build`.
    ///
    /// ```
    /// # use sdk_runtime::{ApiInfo, GeneratedClient, Inner};
    /// # #[derive(Debug)] struct Demo;
    /// # impl GeneratedClient for Demo {
    /// #     const API: ApiInfo = ApiInfo::new("DEMO_API_TOKEN", "DEMO_BASE_URL", "demo-sdk/1.0");
    /// #     fn from_parts(_: &str, _: reqwest::Client, _: Inner) -> Self { Demo }
    /// # }
    /// # type ClientBuilder = sdk_runtime::ClientBuilder<Demo>;
    /// let builder = ClientBuilder::default().instance("blobsrus");
    /// ```
    pub fn instance(mut self, instance: impl Into<String>) -> Self {
        self.instance = Some((instance.into(), "ClientBuilder::instance"));
        self
    }

    /// Fills the settings not given yet from the environment variables the API reads
    /// ([`ApiInfo`]), then builds the client.
    ///
    /// ```no_run
    /// # use sdk_runtime::{ApiInfo, GeneratedClient, Inner};
    /// # #[derive(Debug)] struct Demo;
    /// # impl GeneratedClient for Demo {
    /// #     const API: ApiInfo = ApiInfo::new("DEMO_API_TOKEN", "DEMO_BASE_URL", "demo-sdk/1.0");
    /// #     fn from_parts(_: &str, _: reqwest::Client, _: Inner) -> Self { Demo }
    /// # }
    /// # type ClientBuilder = sdk_runtime::ClientBuilder<Demo>;
    /// // Token from the environment, base URL from the code.
    /// let client = ClientBuilder::default().base_url("http://127.0.0.1:8080/api").from_env()?;
    /// # Ok::<(), sdk_runtime::ConfigError>(())
    /// ```
    pub fn from_env(self) -> Result<C, ConfigError> {
        self.with_env(&C::API)?.build()
    }

    /// Validates the settings and builds the client. Fails with a [`ConfigError`] naming
    /// the setting at fault; never panics.
    ///
    /// ```
    /// # use sdk_runtime::{ApiInfo, GeneratedClient, Inner};
    /// # #[derive(Debug)] struct Demo;
    /// # impl GeneratedClient for Demo {
    /// #     const API: ApiInfo = ApiInfo::new("DEMO_API_TOKEN", "DEMO_BASE_URL", "demo-sdk/1.0");
    /// #     fn from_parts(_: &str, _: reqwest::Client, _: Inner) -> Self { Demo }
    /// # }
    /// # type ClientBuilder = sdk_runtime::ClientBuilder<Demo>;
    /// let err = ClientBuilder::default().bearer_token("t").build().unwrap_err();
    /// assert!(err.to_string().contains("DEMO_BASE_URL"));
    /// ```
    pub fn build(self) -> Result<C, ConfigError> {
        let api = C::API;
        let (base_url, http, inner) = self.build_parts(&api)?;
        Ok(C::from_parts(&base_url, http, inner))
    }

    /// Fills every setting not yet given from the environment.
    fn with_env(mut self, api: &ApiInfo) -> Result<Self, ConfigError> {
        let bearer_provider = self.provider.as_ref().is_some_and(|p| !p.api_key);
        let key_provider = self.provider.as_ref().is_some_and(|p| p.api_key);
        if self.token.is_none()
            && !bearer_provider
            && let Some(token) = env_var(api.token_var)?
        {
            self.token = Some((Token(token), api.token_var));
        }
        if self.api_key.is_none()
            && !key_provider
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

    /// Validates the settings: the base URL, the HTTP client and the hooks' state.
    fn build_parts(self, api: &ApiInfo) -> Result<(String, reqwest::Client, Inner), ConfigError> {
        let (base_url, source_name) = self.resolve_base_url(api)?;
        let base_url = validate_base_url(&base_url, source_name)?;

        let mut headers = HeaderMap::new();
        let mut inner = Inner {
            retry: self.retry.unwrap_or_default(),
            timeout: self.timeout.unwrap_or(DEFAULT_TIMEOUT),
            operation_timeouts: self.operation_timeouts.clone(),
            stream_idle_timeout: self.stream_idle_timeout,
            ..Inner::default()
        };
        let (mut token, mut api_key) = (self.token, self.api_key);
        let mut provider_id = Vec::new();
        if let Some(Provider {
            provider,
            api_key: is_key,
            source_name,
        }) = self.provider
        {
            // The provider replaces the fixed secret of its kind.
            let scheme = if is_key {
                api_key = None;
                match api.api_key {
                    Some((ApiKeyIn::Header(name), _)) => {
                        Scheme::Header(header::HeaderName::from_static(name))
                    }
                    Some((ApiKeyIn::Query(_), _)) => {
                        return Err(ConfigError::InvalidToken {
                            source_name,
                            reason: "this API's key goes in the query, which a provider cannot fill",
                        });
                    }
                    None => {
                        return Err(ConfigError::InvalidToken {
                            source_name,
                            reason: "this API declares no API key security scheme",
                        });
                    }
                }
            } else {
                token = None;
                Scheme::Bearer
            };
            // Clients built from one builder share the provider, hence the credential.
            provider_id = format!("provider {:p}", Arc::as_ptr(&provider)).into_bytes();
            inner.credentials = Some(Arc::new(CredentialSource::new(provider, scheme)));
        }
        let has_provider = inner.credentials.is_some();
        match (token, &self.basic) {
            (Some((Token(token), source_name)), _) => {
                headers.insert(header::AUTHORIZATION, auth_header(&token, source_name)?);
            }
            (None, Some((user, Token(password), source_name))) => {
                headers.insert(
                    header::AUTHORIZATION,
                    basic_header(user, password, source_name)?,
                );
            }
            (None, None) if api.token_required && !has_provider => {
                return Err(ConfigError::Missing {
                    what: api.token_var,
                    hint: "set it in the environment (in code: ClientBuilder::bearer_token)",
                });
            }
            (None, None) => {}
        }
        if let Some((Token(key), source_name)) = api_key {
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
        let user_agent = self.user_agent.unwrap_or_else(|| api.user_agent.to_owned());
        let user_agent = HeaderValue::from_str(&user_agent)
            .map_err(|_| ConfigError::InvalidUserAgent(user_agent.clone()))?;
        headers.insert(header::USER_AGENT, user_agent);

        let query_secret = inner.query_key.as_ref().map(|(_, Token(k))| k.as_bytes());
        // An API key in a header of its own.
        let header_key: Vec<u8> = headers
            .iter()
            .filter(|(name, value)| *name != header::AUTHORIZATION && value.is_sensitive())
            .flat_map(|(_, value)| value.as_bytes().iter().copied())
            .collect();
        let secrets: [&[u8]; 3] = [
            headers
                .get(header::AUTHORIZATION)
                .map_or(&b""[..], HeaderValue::as_bytes),
            query_secret.unwrap_or_default(),
            &header_key,
        ];
        let [authorization, query, header_key] = secrets;
        inner.credential_key =
            credential_key(&base_url, &[authorization, query, header_key, &provider_id]);
        // The provider's id is per process: a fingerprint shared across processes cannot
        // include it (see `Inner::credential_fingerprint`).
        inner.credential_fingerprint = credential_fingerprint(&base_url, &secrets);
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .connect_timeout(self.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT))
            .timeout(self.timeout.unwrap_or(DEFAULT_TIMEOUT))
            .build()
            .map_err(ConfigError::Http)?;
        Ok((base_url, http, inner))
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
                hint: base_url_hint(api, instance_var),
            }),
            (Some((instance, source_name)), None) => Err(ConfigError::InvalidInstance {
                source_name,
                instance: instance.clone(),
                reason: "this API has no instances: set a base URL instead",
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
