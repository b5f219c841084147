//! Rust client for the Retailgrid Public API: read the status of bulk upsert and CSV import
//! jobs.
//!
//! Why this crate instead of hand-rolled `reqwest` calls: the client is generated from the
//! vendored OpenAPI document (`specs/retailgrid.yaml`), so every documented field is typed;
//! responses accept fields the server adds later (the published schema says
//! `additionalProperties: false`, which would break deployed clients on the next release);
//! and every error response keeps its status, `Retry-After` and message ([`ErrorExt`]). To
//! wait for a job to finish, use the `poll-helpers` crate on top of this one.
//!
//! # Example
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use retailgrid_sdk::{Client, ErrorExt};
//!
//! // RETAILGRID_BASE_URL, and RETAILGRID_API_TOKEN if your deployment needs one.
//! let client = Client::from_env()?;
//! let job_id: uuid::Uuid = "4e6953a9-a71b-4c0b-8b63-a9ea308f6aaf".parse()?;
//! match client.get_job().job_id(job_id).send().await {
//!     Ok(job) => println!("{} {:?}%", job.status, job.progress),
//!     Err(e) => eprintln!("HTTP {:?}: {}", e.http_status(), e.message()),
//! }
//! # Ok(()) }
//! ```
//!
//! Operations (each `client.<name>().<param>(..).send().await`):
//! - [`Client::get_job`]: `GET /v1/jobs/{job_id}`

#[allow(
    missing_docs,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    rustdoc::bare_urls,
    rustdoc::broken_intra_doc_links,
    rustdoc::invalid_html_tags
)]
#[rustfmt::skip] // formatted by prettyplease in `cargo xtask codegen`
mod generated;

pub use generated::*;
pub use sdk_runtime::{ConfigError, DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT, ErrorExt, FilePart};
// Automatic retries (`ClientBuilder::retry_policy`) and rotating credentials
// (`ClientBuilder::credential_provider`), from the shared runtime.
pub use sdk_runtime::{Credential, CredentialError, CredentialProvider, RetryPolicy};

/// The default `User-Agent`: this crate's name and version.
pub const DEFAULT_USER_AGENT: &str =
    concat!(env!("CARGO_PKG_NAME"), "/", env!("CARGO_PKG_VERSION"));

/// Configures a [`Client`]: base URL, token, timeouts (the shared runtime's builder, for
/// Retailgrid). Start it with [`Client::builder`]; `.build()` and `.from_env()` never
/// panic.
///
/// ```
/// let client = retailgrid_sdk::ClientBuilder::default()
///     .base_url("https://api.retailgrid.example")
///     .build()?;
/// # Ok::<(), retailgrid_sdk::ConfigError>(())
/// ```
pub type ClientBuilder = sdk_runtime::ClientBuilder<Client>;

/// How this SDK reads its configuration: `RETAILGRID_BASE_URL`, and
/// `RETAILGRID_API_TOKEN` when the deployment needs one (the spec declares no security
/// scheme, so the token is optional and sent as a bearer token when set).
impl sdk_runtime::GeneratedClient for Client {
    const API: sdk_runtime::ApiInfo = sdk_runtime::ApiInfo {
        base_url_hint: "set it in the environment (in code: ClientBuilder::base_url)",
        ..sdk_runtime::ApiInfo::new(
            "RETAILGRID_API_TOKEN",
            "RETAILGRID_BASE_URL",
            DEFAULT_USER_AGENT,
        )
    };

    fn from_parts(base_url: &str, http: reqwest::Client, inner: sdk_runtime::Inner) -> Self {
        Client::new_with_client(base_url, http, inner)
    }
}

impl Client {
    /// Starts configuring a client; nothing is read from the environment.
    ///
    /// ```
    /// use retailgrid_sdk::ClientInfo; // for baseurl()
    /// let client = retailgrid_sdk::Client::builder()
    ///     .base_url("https://api.retailgrid.test/")
    ///     .build()?;
    /// assert_eq!(client.baseurl(), "https://api.retailgrid.test");
    /// # Ok::<(), retailgrid_sdk::ConfigError>(())
    /// ```
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// Builds a client from `RETAILGRID_BASE_URL` and, if set, `RETAILGRID_API_TOKEN`.
    ///
    /// ```no_run
    /// let client = retailgrid_sdk::Client::from_env()?;
    /// # Ok::<(), retailgrid_sdk::ConfigError>(())
    /// ```
    pub fn from_env() -> Result<Client, ConfigError> {
        ClientBuilder::default().from_env()
    }
}
