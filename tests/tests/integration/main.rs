//! Integration tests of the generated SDKs, the job simulator and the waits, gathered in
//! one test binary (one link instead of ten: CI's disk and build time). Each module is
//! one suite; `cargo test -p sdk-tests --test integration <module>::` runs one.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod config;
mod errors;
mod examples;
mod faults;
mod omni_requests;
mod pagination;
mod query_dialects;
mod redis_budget;
mod retailgrid_requests;
mod secrets;
mod sim;
mod sim_start;
mod timeouts;
mod workflows;
