//! The runtime through a client shaped like the generated ones (`demo.rs`: the same
//! `ClientInfo`/`ClientHooks` glue progenitor emits, delegating to `sdk_runtime::hooks`),
//! against real local servers (httpmock).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    unreachable_pub
)]

mod credentials;
mod demo;
mod request_ids;
mod retries;
