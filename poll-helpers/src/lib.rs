//! Waiting on Omni and Retailgrid jobs: policies, deadlines and terminal states.
//!
//! This crate is a placeholder until the poll-helpers issue lands; it re-exports
//! the two SDK crates so that downstream code can depend on one crate.
//!
//! ```
//! let _ = poll_helpers::omni_sdk::Client::builder();
//! ```
pub use omni_sdk;
pub use retailgrid_sdk;
