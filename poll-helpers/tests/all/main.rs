//! poll-helpers' tests in one binary: the schedule on tokio's virtual clock (`schedule`,
//! `smart`, with fake fetchers) and the adapters against local HTTP servers in real time
//! (`adapters`). One link instead of three.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod adapters;
mod engine_alone;
mod extremes;
mod schedule;
mod smart;
