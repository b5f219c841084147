//! The API token never leaks: not in `{:?}` of clients, builders, errors and snapshots,
//! not in `Display` of any error, not in TRACE-level logs of a whole wait (ours, reqwest's
//! and hyper's), and not to another host through a redirect.
//!
//! Every test uses the recognisable token [`SECRET`] and searches the output for it (and
//! for its distinctive tail, in case a formatter truncates or escapes the front).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::fmt::{Debug, Display};
use std::future::IntoFuture;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use httpmock::prelude::*;
use omni_sdk::ErrorExt as _;
use poll_helpers::{PollError, PollPolicy, omni, retailgrid};
use sdk_tests::sim::{Fault, JobScript, SimConfig, Simulator};
use serde_json::json;
use uuid::Uuid;

/// The token every test hands to the SDKs.
const SECRET: &str = "tok-SECRET-0123456789";

/// Fails if `text` shows the token (whole, or its distinctive tail).
fn assert_clean(what: &str, text: &str) {
    assert!(
        !text.contains(SECRET) && !text.contains("SECRET-0123456789"),
        "{what} shows the token:\n{text}"
    );
}

fn assert_debug_clean(what: &str, value: &impl Debug) {
    assert_clean(what, &format!("{value:?}"));
    assert_clean(what, &format!("{value:#?}"));
}

/// `Debug`, pretty `Debug`, `Display` and alternate `Display` (progenitor's error prints
/// its source chain with `{:#}`).
fn assert_error_clean(what: &str, error: &(impl Debug + Display)) {
    assert_debug_clean(what, error);
    assert_clean(what, &error.to_string());
    assert_clean(what, &format!("{error:#}"));
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn fast() -> PollPolicy {
    PollPolicy::default()
        .min_delay(ms(10))
        .max_delay(ms(30))
        .deadline(Duration::from_secs(3))
        .not_found_grace(ms(200))
        .seed(3)
}

fn omni_client(base_url: &str) -> omni_sdk::Client {
    omni_sdk::Client::builder()
        .base_url(base_url)
        .bearer_token(SECRET)
        .timeout(ms(500))
        .build()
        .unwrap()
}

fn rg_client(base_url: &str) -> retailgrid_sdk::Client {
    retailgrid_sdk::Client::builder()
        .base_url(base_url)
        .bearer_token(SECRET)
        .timeout(ms(500))
        .build()
        .unwrap()
}

/// A simulator that accepts [`SECRET`] on both APIs, without rate limits.
async fn sim_accepting_the_secret() -> Simulator {
    Simulator::start(SimConfig {
        omni_token: SECRET.to_owned(),
        retailgrid_token: Some(SECRET.to_owned()),
        rate_limit: None,
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

/// A simulator that refuses [`SECRET`] (401) on both APIs.
async fn sim_refusing_the_secret() -> Simulator {
    Simulator::start(SimConfig {
        omni_token: "another-token".to_owned(),
        retailgrid_token: Some("another-token".to_owned()),
        rate_limit: None,
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

/// `http://127.0.0.1:<port>` with nothing listening.
fn refused_base_url() -> String {
    let addr = std::net::TcpListener::bind(("127.0.0.1", 0))
        .unwrap()
        .local_addr()
        .unwrap();
    format!("http://{addr}")
}

// ---------------------------------------------------------------------------------------
// Debug of clients and builders
// ---------------------------------------------------------------------------------------

#[test]
fn clients_and_builders_never_show_the_token() {
    let omni_builder = omni_sdk::Client::builder()
        .base_url("https://example.test/api")
        .bearer_token(SECRET);
    assert_debug_clean("omni ClientBuilder", &omni_builder);
    let client = omni_builder.build().unwrap();
    assert_debug_clean("omni Client", &client);

    let rg_builder = retailgrid_sdk::Client::builder()
        .base_url("https://example.test/api")
        .bearer_token(SECRET);
    assert_debug_clean("retailgrid ClientBuilder", &rg_builder);
    let client = rg_builder.build().unwrap();
    assert_debug_clean("retailgrid Client", &client);

    // The other credential kinds a builder holds.
    let basic = retailgrid_sdk::Client::builder()
        .base_url("https://example.test/api")
        .basic_auth("user", SECRET);
    assert_debug_clean("ClientBuilder with basic auth", &basic);
    let client = basic.build().unwrap();
    assert_debug_clean("Client with basic auth", &client);
    // The Authorization value is base64("user:<token>"): not shown either.
    let encoded = "dXNlcjp0b2stU0VDUkVULTAxMjM0NTY3ODk=";
    assert!(!format!("{client:?}").contains(encoded), "{client:?}");
    let key = omni_sdk::Client::builder()
        .base_url("https://example.test/api")
        .api_key(SECRET);
    assert_debug_clean("ClientBuilder with an API key", &key);
}

// ---------------------------------------------------------------------------------------
// ConfigError
// ---------------------------------------------------------------------------------------

#[test]
fn config_errors_never_show_the_token() {
    // A token that cannot go in a header.
    let err = omni_sdk::Client::builder()
        .base_url("https://example.test/api")
        .bearer_token(format!("{SECRET}\u{1}"))
        .build()
        .unwrap_err();
    assert!(
        matches!(err, omni_sdk::ConfigError::InvalidToken { .. }),
        "{err:?}"
    );
    assert_error_clean("ConfigError::InvalidToken (bearer)", &err);

    // An API key given to an API without an API key scheme.
    let err = retailgrid_sdk::Client::builder()
        .base_url("https://example.test/api")
        .api_key(SECRET)
        .build()
        .unwrap_err();
    assert!(
        matches!(err, retailgrid_sdk::ConfigError::InvalidToken { .. }),
        "{err:?}"
    );
    assert_error_clean("ConfigError::InvalidToken (api key)", &err);

    // Credentials in the base URL are refused and redacted in the message.
    for url in [
        format!("https://user:{SECRET}@example.test/api"),
        format!("https://{SECRET}@example.test/api"),
        format!("https://{SECRET}:x@example.test/api"),
    ] {
        let err = omni_sdk::Client::builder()
            .base_url(&url)
            .bearer_token("t")
            .build()
            .unwrap_err();
        assert!(
            matches!(err, omni_sdk::ConfigError::InvalidBaseUrl { .. }),
            "{err:?}"
        );
        assert_error_clean("ConfigError::InvalidBaseUrl (userinfo)", &err);
    }

    // A missing token: nothing to leak, but the message must still be clean.
    let err = omni_sdk::Client::builder()
        .base_url("https://example.test/api")
        .build()
        .unwrap_err();
    assert_error_clean("ConfigError::Missing", &err);
}

/// A token pasted into the base URL's query string (`?api_key=...`, a common way to pass
/// keys elsewhere) is refused ("must not have a query") but the refused URL is echoed
/// whole in the error: `redact_userinfo` only hides the userinfo part.
#[test]
fn a_token_in_the_base_url_query_is_not_echoed() {
    let err = omni_sdk::Client::builder()
        .base_url(format!("https://example.test/api?api_key={SECRET}"))
        .bearer_token("t")
        .build()
        .unwrap_err();
    assert!(
        matches!(err, omni_sdk::ConfigError::InvalidBaseUrl { .. }),
        "{err:?}"
    );
    assert_error_clean("ConfigError::InvalidBaseUrl (query)", &err);
}

// ---------------------------------------------------------------------------------------
// SDK errors: 401, 500, connection refused
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn sdk_errors_never_show_the_token() {
    let refusing = sim_refusing_the_secret().await;
    let accepting = sim_accepting_the_secret().await;
    accepting.inject(Fault::status(500));
    let id = Uuid::new_v4();

    let cases = [
        ("401", omni_client(&refusing.omni_base_url()), Some(401)),
        ("500", omni_client(&accepting.omni_base_url()), Some(500)),
        ("connection refused", omni_client(&refused_base_url()), None),
    ];
    for (what, client, status) in cases {
        let err = client.get_job_status().job_id(id).send().await.unwrap_err();
        assert_eq!(err.http_status(), status, "{what}: {err:?}");
        assert_error_clean(&format!("omni_sdk::Error ({what})"), &err);
        assert_clean(&format!("ErrorExt::message ({what})"), &err.message());
        let err = client
            .wait_for_query()
            .job_ids(vec![id])
            .send()
            .await
            .unwrap_err();
        assert_error_clean(&format!("omni_sdk::Error, wait_for_query ({what})"), &err);
    }

    let cases = [
        ("401", rg_client(&refusing.retailgrid_base_url()), Some(401)),
        (
            "500",
            rg_client(&accepting.retailgrid_base_url()),
            Some(500),
        ),
        ("connection refused", rg_client(&refused_base_url()), None),
    ];
    for (what, client, status) in cases {
        let err = client.get_job().job_id(id).send().await.unwrap_err();
        assert_eq!(
            retailgrid_sdk::ErrorExt::http_status(&err),
            status,
            "{what}: {err:?}"
        );
        assert_error_clean(&format!("retailgrid_sdk::Error ({what})"), &err);
        assert_clean(
            &format!("ErrorExt::message ({what})"),
            &retailgrid_sdk::ErrorExt::message(&err),
        );
    }
}

// ---------------------------------------------------------------------------------------
// PollError (every variant), FetchError, snapshots
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn poll_errors_fetch_errors_and_snapshots_never_show_the_token() {
    let sim = sim_accepting_the_secret().await;
    let client = rg_client(&sim.retailgrid_base_url());
    let omni = omni_client(&sim.omni_base_url());

    // Failed.
    let failing = sim.add_retailgrid_job(JobScript::fail_after(Duration::ZERO, "bad row"));
    let err = retailgrid::wait_for_job(&client, failing, &fast())
        .await
        .unwrap_err();
    assert!(matches!(err, PollError::Failed { .. }), "{err:?}");
    assert_error_clean("PollError::Failed", &err);

    // AttemptsExhausted.
    let slow = sim.add_retailgrid_job(JobScript::succeed_after(Duration::from_secs(60)));
    let err = retailgrid::wait_for_job(&client, slow, &fast().max_attempts(2))
        .await
        .unwrap_err();
    assert!(
        matches!(err, PollError::AttemptsExhausted { .. }),
        "{err:?}"
    );
    assert_error_clean("PollError::AttemptsExhausted", &err);

    // DeadlineExceeded, with a FetchError (500) as last_error.
    let broken = sim.add_retailgrid_job(JobScript::succeed_after(Duration::ZERO));
    sim.inject(Fault::status(500).on_job(broken));
    let policy = fast().deadline(ms(300));
    let mut stream = retailgrid::wait_for_job(&client, broken, &policy).into_stream();
    let mut fetch_errors = Vec::new();
    let mut end = None;
    while let Some(item) = stream.next().await {
        match item {
            Ok(event) => {
                assert_debug_clean("PollEvent", &event);
                fetch_errors.extend(event.outcome.err());
            }
            Err(e) => end = Some(e),
        }
    }
    let err = end.unwrap();
    assert!(matches!(err, PollError::DeadlineExceeded { .. }), "{err:?}");
    assert_error_clean("PollError::DeadlineExceeded", &err);
    assert!(!fetch_errors.is_empty());
    for e in &fetch_errors {
        assert_error_clean("FetchError (500)", e);
    }

    // Request (401), and FetchErrors of a refused connection.
    let refusing = sim_refusing_the_secret().await;
    let other = rg_client(&refusing.retailgrid_base_url());
    let err = retailgrid::wait_for_job(&other, Uuid::new_v4(), &fast())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            PollError::Request {
                status: Some(401),
                ..
            }
        ),
        "{err:?}"
    );
    assert_error_clean("PollError::Request (401)", &err);
    let nowhere = omni_client(&refused_base_url());
    let mut stream =
        omni::wait_for_ai_job(&nowhere, Uuid::new_v4(), &fast().max_attempts(1)).into_stream();
    while let Some(item) = stream.next().await {
        match item {
            Ok(event) => {
                let e = event.outcome.unwrap_err();
                assert_eq!(e.status, None);
                assert_error_clean("FetchError (connection refused)", &e);
            }
            Err(e) => assert_error_clean("PollError (connection refused)", &e),
        }
    }

    // InvalidPolicy.
    let bad = fast().min_delay(ms(50)).max_delay(ms(10));
    let err = retailgrid::wait_for_job(&client, slow, &bad)
        .await
        .unwrap_err();
    assert!(matches!(err, PollError::InvalidPolicy(_)), "{err:?}");
    assert_error_clean("PollError::InvalidPolicy", &err);

    // Snapshots of every adapter.
    let done = sim.add_retailgrid_job(JobScript::succeed_after(Duration::ZERO));
    let job = retailgrid::wait_for_job(&client, done, &fast())
        .await
        .unwrap();
    assert_debug_clean("retailgrid::Job", &job);
    let refresh = sim.add_schema_refresh(JobScript::succeed_after(Duration::ZERO));
    let status = omni::wait_for_job(&omni, refresh, &fast()).await.unwrap();
    assert_debug_clean("GetJobStatusResponse", &status);
    let ai = sim.add_ai_job(JobScript::succeed_after(Duration::ZERO));
    let ai = omni::wait_for_ai_job(&omni, ai, &fast()).await.unwrap();
    assert_debug_clean("AiJob", &ai);
    let query = sim.add_query_job(JobScript::succeed_after(Duration::ZERO));
    let results = omni::wait_for_queries(&omni, &[query], &fast())
        .await
        .unwrap();
    assert_debug_clean("query results", &results);
    // Pollers themselves.
    assert_debug_clean("Poller", &retailgrid::wait_for_job(&client, done, &fast()));
}

// ---------------------------------------------------------------------------------------
// Logs
// ---------------------------------------------------------------------------------------

/// A `MakeWriter` appending to a shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// Every wait kind, with retries (500, malformed body, 404 within the grace, 429 with
/// `Retry-After`), a 401 and a refused connection, with TRACE logs of every crate
/// (`log` records of reqwest included, through `tracing-log`) captured: the token is in
/// none of them.
///
/// Runs on the current-thread runtime so that the thread-local subscriber sees the
/// client's connection tasks and the simulator's too.
#[tokio::test]
async fn trace_logs_of_whole_waits_never_show_the_token() {
    // reqwest logs through `log`: forward its records to the current tracing subscriber.
    // Global and set once; harmless for the other tests of this binary.
    let _ = tracing_log::LogTracer::init();
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let guard = tracing::subscriber::set_default(subscriber);
    // tracing-core caches each callsite's interest. With a single registered dispatcher it
    // asks the *current thread's* default, so a callsite first hit on another test's
    // thread (no subscriber) would be cached as "never" and silenced here too. A second
    // registered dispatcher makes it combine every dispatcher's interest instead.
    let second = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());

    let sim = sim_accepting_the_secret().await;
    let client = rg_client(&sim.retailgrid_base_url());
    let omni = omni_client(&sim.omni_base_url());

    let id = sim.add_retailgrid_job(JobScript::succeed_after(ms(200)));
    sim.inject(Fault::status(500).on_job(id).times(1));
    sim.inject(Fault::malformed_body().on_job(id).times(1));
    sim.inject(Fault::status(404).on_job(id).times(1));
    sim.inject(
        Fault::status(429)
            .retry_after(Duration::from_secs(1))
            .on_job(id)
            .times(1),
    );
    let job = retailgrid::wait_for_job(&client, id, &fast())
        .await
        .unwrap();
    assert_eq!(job.status, "completed");
    assert!(sim.request_count() >= 5, "the wait retried");

    let refresh = sim.add_schema_refresh(JobScript::succeed_after(Duration::ZERO));
    omni::wait_for_job(&omni, refresh, &fast()).await.unwrap();
    let query = sim.add_query_job(JobScript::succeed_after(ms(100)));
    omni::wait_for_queries(&omni, &[query], &fast())
        .await
        .unwrap();

    let refusing = sim_refusing_the_secret().await;
    let err = omni::wait_for_job(
        &omni_client(&refusing.omni_base_url()),
        Uuid::new_v4(),
        &fast(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, PollError::Request { .. }), "{err:?}");
    let err = retailgrid::wait_for_job(
        &rg_client(&refused_base_url()),
        Uuid::new_v4(),
        &fast().deadline(ms(300)),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, PollError::DeadlineExceeded { .. }), "{err:?}");

    drop(guard);
    drop(second);
    let logs = captured.text();
    // The capture works and reaches the HTTP stack, so "not found" means something.
    assert!(logs.contains("TRACE"), "no TRACE line captured:\n{logs}");
    assert!(
        logs.contains("poll"),
        "no poll-helpers event captured:\n{logs}"
    );
    assert!(
        logs.contains("reqwest") || logs.contains("hyper"),
        "no HTTP client event captured:\n{logs}"
    );
    assert!(
        logs.contains("HTTP 500"),
        "the retries were logged:\n{logs}"
    );
    assert_clean("TRACE logs", &logs);
}

/// Hands out a stale token first (the simulator refuses it), then [`SECRET`].
struct Rotating(std::sync::atomic::AtomicUsize);

impl omni_sdk::CredentialProvider for Rotating {
    async fn credential(&self) -> Result<omni_sdk::Credential, omni_sdk::CredentialError> {
        let n = self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(omni_sdk::Credential::new(if n == 0 {
            "stale-token"
        } else {
            SECRET
        }))
    }
}

#[tokio::test]
async fn a_credential_providers_secret_never_shows_in_debug_errors_or_trace_logs() {
    let _ = tracing_log::LogTracer::init();
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let guard = tracing::subscriber::set_default(subscriber);
    // See `trace_logs_of_whole_waits_never_show_the_token`.
    let second = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());

    let provided = |base_url: String| {
        omni_sdk::Client::builder()
            .base_url(base_url)
            .credential_provider(Rotating(Default::default()))
            .timeout(ms(500))
    };
    // The stale token gets a 401; the provider's next answer (the secret) is accepted.
    let sim = sim_accepting_the_secret().await;
    let builder = provided(sim.omni_base_url());
    assert_debug_clean("builder with a provider", &builder);
    let client = builder.build().unwrap();
    let refresh = sim.add_schema_refresh(JobScript::succeed_after(Duration::ZERO));
    let job = omni::wait_for_job(&client, refresh, &fast()).await.unwrap();
    assert_debug_clean("snapshot", &job);
    assert_debug_clean("client with a provider", &client);
    let statuses: Vec<Option<u16>> = sim.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses[..2], [Some(401), Some(200)], "{statuses:?}");

    // A server that refuses every token: the error after the one refresh.
    let refusing = sim_refusing_the_secret().await;
    let client = provided(refusing.omni_base_url()).build().unwrap();
    let err = client
        .get_job_status()
        .job_id(Uuid::new_v4())
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.http_status(), Some(401));
    assert_error_clean("SDK error after a refresh", &err);
    assert_clean("message", &err.message());
    let err = omni::wait_for_job(&client, Uuid::new_v4(), &fast())
        .await
        .unwrap_err();
    assert!(matches!(err, PollError::Request { .. }), "{err:?}");
    assert_error_clean("poll error after a refresh", &err);

    drop(guard);
    drop(second);
    let logs = captured.text();
    assert!(logs.contains("TRACE"), "no TRACE line captured:\n{logs}");
    assert!(
        logs.contains("refreshing the credential"),
        "the refresh was logged:\n{logs}"
    );
    assert_clean("TRACE logs", &logs);
}

// ---------------------------------------------------------------------------------------
// Redirects
// ---------------------------------------------------------------------------------------

/// Server A (`127.0.0.1`) redirects to server B (`localhost`, another port): the request
/// to A carries the token, the one to B must not.
async fn redirect_drops_authorization(path: String, body: serde_json::Value, omni_api: bool) {
    let a = MockServer::start_async().await;
    let b = MockServer::start_async().await;
    let target = format!("http://localhost:{}{path}", b.port());
    let redirect = a
        .mock_async(|when, then| {
            when.method(GET)
                .path(&path)
                .header("authorization", format!("Bearer {SECRET}"));
            then.status(302).header("location", &target);
        })
        .await;
    let with_auth = b
        .mock_async(|when, then| {
            when.method(GET).path(&path).header_exists("authorization");
            then.status(200).json_body(body.clone());
        })
        .await;
    let without_auth = b
        .mock_async(|when, then| {
            when.method(GET).path(&path).header_missing("authorization");
            then.status(200).json_body(body.clone());
        })
        .await;

    if omni_api {
        let id = path.split('/').nth(3).unwrap().parse::<Uuid>().unwrap();
        omni_client(&a.base_url())
            .get_job_status()
            .job_id(id)
            .send()
            .await
            .unwrap();
    } else {
        let id = path.rsplit('/').next().unwrap().parse::<Uuid>().unwrap();
        rg_client(&a.base_url())
            .get_job()
            .job_id(id)
            .send()
            .await
            .unwrap();
    }
    assert_eq!(redirect.calls_async().await, 1, "A got the token");
    assert_eq!(
        with_auth.calls_async().await,
        0,
        "the Authorization header followed the redirect to another host"
    );
    assert_eq!(without_auth.calls_async().await, 1);
}

#[tokio::test]
async fn retailgrid_redirect_to_another_host_drops_the_authorization_header() {
    let id = Uuid::new_v4();
    let body = json!({
        "job_id": id, "job_type": "csv_import", "status": "completed",
        "created_at": "2025-01-15T10:00:00Z"
    });
    redirect_drops_authorization(format!("/v1/jobs/{id}"), body, false).await;
}

#[tokio::test]
async fn omni_redirect_to_another_host_drops_the_authorization_header() {
    let id = Uuid::new_v4();
    let body = json!({"job_id": id, "job_type": "refresh_schema", "status": "COMPLETED"});
    redirect_drops_authorization(format!("/v1/jobs/{id}/status"), body, true).await;
}

/// A wait that polls through the redirect still succeeds, and still does not carry the
/// token to the other host.
#[tokio::test]
async fn a_wait_through_a_cross_host_redirect_does_not_carry_the_token() {
    let a = MockServer::start_async().await;
    let b = MockServer::start_async().await;
    let id = Uuid::new_v4();
    let path = format!("/v1/jobs/{id}");
    let target = format!("http://localhost:{}{path}", b.port());
    a.mock_async(|when, then| {
        when.method(GET).path(&path);
        then.status(307).header("location", &target);
    })
    .await;
    let leaked = b
        .mock_async(|when, then| {
            when.header_exists("authorization");
            then.status(500);
        })
        .await;
    b.mock_async(|when, then| {
        when.method(GET).path(&path);
        then.status(200).json_body(json!({
            "job_id": id, "job_type": "bulk_upsert", "status": "completed",
            "created_at": "2025-01-15T10:00:00Z"
        }));
    })
    .await;
    let client = rg_client(&a.base_url());
    let job = retailgrid::wait_for_job(&client, id, &fast())
        .into_future()
        .await
        .unwrap();
    assert_eq!(job.status, "completed");
    assert_eq!(leaked.calls_async().await, 0);
}
