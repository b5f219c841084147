//! Rust client for __TITLE__, generated from `specs/__SPEC_FILE__` by
//! `cargo xtask add-sdk`.
//!
//! Every operation the generator could handle is a method on [`Client`], used as
//! `client.<operation>().<parameter>(..).send().await`; the operations it had to leave
//! out are listed, with the reason, at the top of `src/generated.rs`. Errors keep the
//! HTTP status, `Retry-After` and the server's message ([`ErrorExt`]); unknown enum values
//! and fields are accepted.
//!
//! Configuration (environment variables read by [`Client::from_env`]):
//! __ENV_DOCS__
//!
//! ```no_run
//! let client = __CRATE_IDENT__::Client::from_env()?;
//! # Ok::<(), __CRATE_IDENT__::ConfigError>(())
//! ```

#[allow(
    missing_docs,
    unreachable_pub,
    clippy::all,
    clippy::unwrap_used,
    clippy::expect_used,
    rustdoc::all
)]
#[rustfmt::skip] // formatted by prettyplease in `cargo xtask codegen`
mod generated;

pub use generated::*;
pub use sdk_runtime::{ConfigError, DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT, ErrorExt, FilePart};

/// The default `User-Agent`: this crate's name and version.
pub const DEFAULT_USER_AGENT: &str =
    concat!(env!("CARGO_PKG_NAME"), "/", env!("CARGO_PKG_VERSION"));

/// Configures a [`Client`]: base URL, credentials, timeouts (the shared runtime's builder,
/// for this API).
pub type ClientBuilder = sdk_runtime::ClientBuilder<Client>;

/// How this SDK reads its configuration (from the spec's `servers` and
/// `securitySchemes`).
impl sdk_runtime::GeneratedClient for Client {
    const API: sdk_runtime::ApiInfo = sdk_runtime::ApiInfo {
        default_base_url: __DEFAULT_BASE_URL__,
        api_key: __API_KEY__,
        basic_vars: __BASIC__,
        base_url_hint: "set __PREFIX___BASE_URL, or call ClientBuilder::base_url",
        ..sdk_runtime::ApiInfo::new("__PREFIX___API_TOKEN", "__PREFIX___BASE_URL", DEFAULT_USER_AGENT)
    };

    fn from_parts(base_url: &str, http: reqwest::Client, inner: sdk_runtime::Inner) -> Self {
        Client::new_with_client(base_url, http, inner)
    }
}

impl Client {
    /// Starts configuring a client; nothing is read from the environment.
    ///
    /// ```
    /// let builder = __CRATE_IDENT__::Client::builder().base_url("https://api.example.test");
    /// ```
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// Builds a client from the environment variables listed in the crate docs.
    ///
    /// ```no_run
    /// let client = __CRATE_IDENT__::Client::from_env()?;
    /// # Ok::<(), __CRATE_IDENT__::ConfigError>(())
    /// ```
    pub fn from_env() -> Result<Client, ConfigError> {
        ClientBuilder::default().from_env()
    }
}
