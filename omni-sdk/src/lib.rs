//! Rust client for the whole [Omni](https://omni.co) REST API (all 150 operations of
//! Omni's published OpenAPI document): models, documents, dashboards, schedules, users,
//! CSV uploads, and the jobs — schema refreshes, queries, AI jobs, dashboard downloads —
//! and their status.
//!
//! Why this crate instead of hand-rolled `reqwest` calls: the client is generated from the
//! vendored OpenAPI documents (`specs/omni-openapi.json`, Omni's full document, with the
//! docs-site operations of `specs/omni.yaml` merged over it), so every documented field is
//! typed; and the fixes real Omni servers need are already in — `job_ids` goes on the wire as the JSON
//! array Omni expects, unknown status values are kept instead of failing deserialisation,
//! and every error response (even an empty 429 or an HTML 502) keeps its status,
//! `Retry-After` and message ([`ErrorExt`]). To wait for a job to finish, use the
//! `poll-helpers` crate on top of this one.
//!
//! # Example
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use omni_sdk::{Client, ErrorExt};
//!
//! // OMNI_API_TOKEN, and OMNI_BASE_URL or OMNI_INSTANCE, from the environment.
//! let client = Client::from_env()?;
//! let job_id: uuid::Uuid = "4e6953a9-a71b-4c0b-8b63-a9ea308f6aaf".parse()?;
//! match client.get_job_status().job_id(job_id).send().await {
//!     Ok(status) => println!("{:?}", status.status),
//!     Err(e) => eprintln!("HTTP {:?}: {}", e.http_status(), e.message()),
//! }
//! # Ok(()) }
//! ```
//!
//! Operations (each `client.<name>().<param>(..).send().await`):
//! - [`Client::get_job_status`]: `GET /v1/jobs/{jobId}/status` (schema refresh jobs)
//! - [`Client::get_ai_job`]: `GET /v1/ai/jobs/{jobId}`
//! - [`Client::wait_for_query`]: `GET /v1/query/wait` (long poll for query results)
//! - [`Client::uploads_create`]: `POST /v1/uploads`, a `multipart/form-data` body: one
//!   setter per part, the file a [`FilePart`]:
//!
//! ```no_run
//! # async fn run(client: omni_sdk::Client) -> Result<(), Box<dyn std::error::Error>> {
//! use omni_sdk::FilePart;
//!
//! let model_id: uuid::Uuid = "123e4567-e89b-12d3-a456-426614174000".parse()?;
//! let csv = std::fs::read("users.csv")?;
//! let upload = client
//!     .uploads_create()
//!     .model_id(model_id) // required: without it, send() fails before sending
//!     .view_name("users")
//!     .file(FilePart::bytes(csv).file_name("users.csv").content_type("text/csv"))
//!     .send()
//!     .await?;
//! println!("{} rows into {}", upload.row_count, upload.in_db_as_table_name);
//! # Ok(()) }
//! ```
//!
//! With the `arrow` feature (off by default), `omni_sdk::arrow` decodes the base64 Arrow IPC
//! `result` of a query into `RecordBatch`es.

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

#[cfg(feature = "arrow")]
pub mod arrow;

pub use generated::*;
pub use sdk_runtime::{ConfigError, DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT, ErrorExt, FilePart};
// Automatic retries (`ClientBuilder::retry_policy`) and rotating credentials
// (`ClientBuilder::credential_provider`), from the shared runtime.
pub use sdk_runtime::{Credential, CredentialError, CredentialProvider, RetryPolicy};

/// The default `User-Agent`: this crate's name and version.
pub const DEFAULT_USER_AGENT: &str =
    concat!(env!("CARGO_PKG_NAME"), "/", env!("CARGO_PKG_VERSION"));

/// Configures a [`Client`]: base URL or instance, token, timeouts (the shared runtime's
/// builder, for Omni). Start it with [`Client::builder`]; `.build()` and `.from_env()`
/// never panic.
///
/// ```
/// use omni_sdk::ClientInfo; // for baseurl()
/// let client = omni_sdk::ClientBuilder::default()
///     .instance("blobsrus")
///     .bearer_token("not-a-real-token")
///     .build()?;
/// assert_eq!(client.baseurl(), "https://blobsrus.omniapp.co/api");
/// # Ok::<(), omni_sdk::ConfigError>(())
/// ```
pub type ClientBuilder = sdk_runtime::ClientBuilder<Client>;

/// The base URL an instance name expands into (Omni's production servers).
pub const INSTANCE_URL: &str = "https://{instance}.omniapp.co/api";

/// How this SDK reads its configuration: `OMNI_API_TOKEN` (required), and `OMNI_BASE_URL`
/// or `OMNI_INSTANCE` (which expands to [`INSTANCE_URL`]); `OMNI_BASE_URL` wins when both
/// are set.
impl sdk_runtime::GeneratedClient for Client {
    const API: sdk_runtime::ApiInfo = sdk_runtime::ApiInfo {
        token_required: true,
        instance: Some(("OMNI_INSTANCE", INSTANCE_URL)),
        base_url_hint: "set OMNI_BASE_URL or OMNI_INSTANCE, or call ClientBuilder::base_url or ClientBuilder::instance",
        ..sdk_runtime::ApiInfo::new("OMNI_API_TOKEN", "OMNI_BASE_URL", DEFAULT_USER_AGENT)
    };

    fn from_parts(base_url: &str, http: reqwest::Client, inner: sdk_runtime::Inner) -> Self {
        Client::new_with_client(base_url, http, inner)
    }
}

impl Client {
    /// Starts configuring a client; nothing is read from the environment.
    ///
    /// ```
    /// use omni_sdk::ClientInfo; // for baseurl()
    /// let client = omni_sdk::Client::builder()
    ///     .instance("blobsrus")
    ///     .bearer_token("not-a-real-token")
    ///     .build()?;
    /// assert_eq!(client.baseurl(), "https://blobsrus.omniapp.co/api");
    /// # Ok::<(), omni_sdk::ConfigError>(())
    /// ```
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// Builds a client from `OMNI_API_TOKEN` and `OMNI_BASE_URL`, or else `OMNI_INSTANCE`
    /// (which expands to `https://{instance}.omniapp.co/api`). `OMNI_BASE_URL` wins when
    /// both are set.
    ///
    /// ```no_run
    /// let client = omni_sdk::Client::from_env()?;
    /// # Ok::<(), omni_sdk::ConfigError>(())
    /// ```
    pub fn from_env() -> Result<Client, ConfigError> {
        ClientBuilder::default().from_env()
    }
}
