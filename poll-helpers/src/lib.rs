//! Wait for Omni and Retailgrid jobs without hammering the API or hanging.
//!
//! Starting a job is one request; knowing when it is done is a loop that every caller
//! writes slightly wrong: too fast (rate limited), too slow (late), forever (no deadline),
//! or blind to `Retry-After`, to a job not yet visible (404 right after creation), to a
//! failure state. This crate is that loop, written once: a [`PollPolicy`] (backoff with
//! jitter, a deadline over sleeps *and* requests), a [`Poller`] you can await or stream,
//! typed endings ([`PollError`]), a [`RateBudget`] shared by pollers, and adapters that
//! know each API's states.
//!
//! Wait for an Omni schema refresh in one line:
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use poll_helpers::{omni, PollPolicy};
//!
//! let client = omni_sdk::Client::from_env()?;
//! let job_id = "4e6953a9-a71b-4c0b-8b63-a9ea308f6aaf".parse()?;
//! let done = omni::wait_for_job(&client, job_id, &PollPolicy::default()).await?;
//! println!("{:?}", done.status);
//! # Ok(()) }
//! ```
//!
//! Or watch every poll, e.g. to report progress of a Retailgrid import:
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use futures_util::StreamExt;
//! use poll_helpers::{retailgrid, Snapshot};
//!
//! let client = retailgrid_sdk::Client::from_env()?;
//! let job_id = "4e6953a9-a71b-4c0b-8b63-a9ea308f6aaf".parse()?;
//! let policy = retailgrid::default_policy();
//! let mut events = retailgrid::wait_for_job(&client, job_id, &policy).into_stream();
//! while let Some(event) = events.next().await {
//!     let event = event?;
//!     if let Ok(job) = &event.outcome {
//!         println!("attempt {}: {} {:?}", event.attempt, job.status, job.progress());
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! Which failures are retried: 429, 500, 502, 503, 504, connection, reset and timeout
//! errors, and bodies that are not valid JSON are transient (polling goes on, honouring
//! `Retry-After`); 400, 401, 403, 422 and other 4xx end the wait with
//! [`PollError::Request`] at once; a 404 is "not visible yet" during the policy's
//! `not_found_grace`, and permanent after it.
//!
//! Time is tokio's: under `tokio::time::pause()` every delay, deadline and budget runs on
//! virtual time.

mod budget;
mod error;
mod learn;
#[cfg(feature = "omni")]
pub mod omni;
mod policy;
mod poller;
mod progress;
#[cfg(feature = "retailgrid")]
pub mod retailgrid;
mod sdk_error;
mod snapshot;

pub use budget::RateBudget;
#[cfg(feature = "redis")]
pub use budget::RateBudgetError;
pub use error::{FetchError, FetchErrorKind, PollError};
pub use learn::DurationModel;
pub use policy::{PolicyError, PollPolicy};
pub use poller::{PollEvent, Poller};
pub use snapshot::{Phase, Snapshot};

#[cfg(feature = "omni")]
pub use omni_sdk;
#[cfg(feature = "retailgrid")]
pub use retailgrid_sdk;
