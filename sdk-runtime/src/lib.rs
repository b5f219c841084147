//! The runtime every generated SDK client of this workspace depends on: client
//! construction, credentials, request hooks, the error body, error inspection and
//! multipart file parts — written once, compiled and tested on its own.
//!
//! Why a crate of its own: progenitor generates a client per API, and the fixes real
//! servers need are the same for every API — progenitor's `Client::new` unwraps, sends an
//! `api-version` header, writes array query parameters as repeated keys, and turns an
//! error response whose body is not the declared JSON into `InvalidResponsePayload`,
//! losing the status and the `Retry-After` a caller needs to back off. Generated crates
//! carry this crate's [`Inner`] as progenitor's inner type, delegate their
//! `ClientHooks` to [`hooks`], decode every error into [`ApiError`], and name
//! [`ClientBuilder`] for their `Client`. Code that works with any generated client (such
//! as `poll-helpers`) uses [`ErrorExt`] on `progenitor_client::Error<ApiError>`.
//!
//! What a hand-written client gives for free is here too, for every generated client:
//! safe requests are sent again after a 429, 502, 503, 504 or a connection error
//! ([`RetryPolicy`], [`retry::without_retries`]); a secret that rotates comes from a
//! [`CredentialProvider`] and is refreshed once after a 401; and errors carry the server's
//! request id ([`ErrorExt::request_id`]).
//!
//! # Examples
//!
//! A generated client is configured through its builder:
//!
//! ```
//! use sdk_runtime::{ApiInfo, ClientBuilder, GeneratedClient, Inner};
//!
//! struct Demo { base_url: String }
//! impl GeneratedClient for Demo {
//!     const API: ApiInfo = ApiInfo::new("DEMO_API_TOKEN", "DEMO_BASE_URL", "demo-sdk/1.0");
//!     fn from_parts(base_url: &str, _http: reqwest::Client, _inner: Inner) -> Self {
//!         Demo { base_url: base_url.to_owned() }
//!     }
//! }
//! let demo = ClientBuilder::<Demo>::default()
//!     .base_url("https://api.example.test/")
//!     .bearer_token("not-a-real-token")
//!     .build()?;
//! assert_eq!(demo.base_url, "https://api.example.test");
//! # Ok::<(), sdk_runtime::ConfigError>(())
//! ```
//!
//! and any failed request reads the same way, whatever the API:
//!
//! ```
//! use sdk_runtime::{ApiError, ErrorExt};
//! fn explain(e: &progenitor_client::Error<ApiError>) -> String {
//!     match e.http_status() {
//!         Some(429) => format!("rate limited; retry in {:?}", e.retry_after()),
//!         Some(status) => format!("HTTP {status}: {}", e.message()),
//!         None => e.message(),
//!     }
//! }
//! ```

mod builder;
mod config;
mod credentials;
mod error;
pub mod hooks;
mod multipart;
pub mod pagination;
pub mod retry;

pub use builder::{ClientBuilder, GeneratedClient};
pub use config::{ApiInfo, ApiKeyIn, ConfigError, DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT};
pub use credentials::{Credential, CredentialError, CredentialProvider};
pub use error::{ApiError, ErrorExt, REQUEST_ID_HEADERS, request_id};
pub use hooks::{Inner, OperationTables};
pub use multipart::{FilePart, json_part};
pub use retry::RetryPolicy;
