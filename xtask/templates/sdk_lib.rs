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
mod runtime;

pub use generated::*;
pub use runtime::{
    ClientBuilder, ConfigError, DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT, DEFAULT_USER_AGENT,
    ErrorExt, FilePart,
};

/// How this SDK reads its configuration (from the spec's `servers` and
/// `securitySchemes`).
const API: runtime::ApiInfo = runtime::ApiInfo {
    token_var: "__PREFIX___API_TOKEN",
    token_required: false,
    base_url_var: "__PREFIX___BASE_URL",
    instance: None,
    default_base_url: __DEFAULT_BASE_URL__,
    api_key: __API_KEY__,
    basic_vars: __BASIC__,
};

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

impl ClientBuilder {
    /// Fills the settings not given yet from the environment, then builds the client.
    ///
    /// ```no_run
    /// let client = __CRATE_IDENT__::Client::builder().from_env()?;
    /// # Ok::<(), __CRATE_IDENT__::ConfigError>(())
    /// ```
    pub fn from_env(self) -> Result<Client, ConfigError> {
        self.with_env(&API)?.build()
    }

    /// Validates the settings and builds the client; never panics.
    ///
    /// ```
    /// let client = __CRATE_IDENT__::Client::builder()
    ///     .base_url("https://api.example.test")
    ///     .build()?;
    /// # Ok::<(), __CRATE_IDENT__::ConfigError>(())
    /// ```
    pub fn build(self) -> Result<Client, ConfigError> {
        self.build_for(&API)
    }
}
