//! Client configuration: builder validation, base URL resolution, and the environment
//! variables `from_env` reads.
//!
//! The environment is never modified in this process (`std::env::set_var` is unsafe in
//! Rust 2024 and the workspace forbids unsafe code, and it would race with the other
//! tests). Instead, a test re-runs this test binary as a child process with the variables
//! set by `Command::env`, asking it to run only [`child_process_entry`]; the child reports
//! what `from_env` did as one JSON line, and the parent asserts on it.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::process::Command;

use httpmock::prelude::*;
use omni_sdk::{ClientInfo as _, ConfigError, ErrorExt as _};
use serde_json::{Value, json};
use uuid::Uuid;

const TOKEN: &str = "sk-omni-super-secret-1234";

// ---------------------------------------------------------------------------------------
// Child process plumbing

/// Set in the child: which scenario to run.
const SCENARIO_VAR: &str = "SDK_TESTS_CONFIG_CHILD_SCENARIO";
/// Prefix of the line in the child's stdout that carries its report.
const REPORT_MARKER: &str = "SDK-TESTS-CHILD-REPORT:";
/// Every variable the SDKs read; removed from the child's environment unless a test sets it.
const SDK_VARS: [&str; 5] = [
    "OMNI_API_TOKEN",
    "OMNI_BASE_URL",
    "OMNI_INSTANCE",
    "RETAILGRID_API_TOKEN",
    "RETAILGRID_BASE_URL",
];

/// What a `from_env` call produced.
fn report<T: ClientReport, E: std::fmt::Display + std::fmt::Debug>(result: Result<T, E>) -> Value {
    match result {
        Ok(client) => json!({"ok": true, "base_url": client.base_url(), "debug": client.debug()}),
        Err(e) => json!({"ok": false, "display": e.to_string(), "debug": format!("{e:?}")}),
    }
}

trait ClientReport {
    fn base_url(&self) -> String;
    fn debug(&self) -> String;
}

impl ClientReport for omni_sdk::Client {
    fn base_url(&self) -> String {
        self.baseurl().to_owned()
    }
    fn debug(&self) -> String {
        format!("{self:?}")
    }
}

impl ClientReport for retailgrid_sdk::Client {
    fn base_url(&self) -> String {
        retailgrid_sdk::ClientInfo::baseurl(self).to_owned()
    }
    fn debug(&self) -> String {
        format!("{self:?}")
    }
}

/// Not a test of its own: the entry point of the child processes the tests below start.
/// Run directly (no scenario variable), it does nothing.
#[tokio::test]
async fn child_process_entry() {
    let Ok(scenario) = std::env::var(SCENARIO_VAR) else {
        return;
    };
    let report = match scenario.as_str() {
        "omni" => report(omni_sdk::Client::from_env()),
        "omni_builder_base_url" => report(
            omni_sdk::Client::builder()
                .base_url("http://from-builder.test/api")
                .from_env(),
        ),
        "retailgrid" => report(retailgrid_sdk::Client::from_env()),
        "omni_request" => {
            // from_env, then one request to the job in SDK_TESTS_JOB_ID.
            let client = omni_sdk::Client::from_env().unwrap();
            let job_id: Uuid = std::env::var("SDK_TESTS_JOB_ID").unwrap().parse().unwrap();
            match client.get_job_status().job_id(job_id).send().await {
                Ok(rv) => json!({"ok": true, "status": rv.status().as_u16()}),
                Err(e) => json!({"ok": false, "status": e.http_status(), "message": e.message()}),
            }
        }
        other => panic!("unknown scenario {other}"),
    };
    println!("\n{REPORT_MARKER}{report}");
}

/// Runs [`child_process_entry`] in a child process with exactly `vars` of the SDK
/// variables set, and returns its report.
fn run_child(scenario: &str, vars: &[(&str, &str)]) -> Value {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "--exact",
            "config::child_process_entry",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(SCENARIO_VAR, scenario);
    for var in SDK_VARS {
        command.env_remove(var);
    }
    command.envs(vars.iter().copied());
    let output = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "child {scenario} failed: {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    let line = stdout
        .lines()
        .find_map(|line| line.strip_prefix(REPORT_MARKER))
        .unwrap_or_else(|| panic!("child {scenario} did not report; stdout:\n{stdout}"));
    serde_json::from_str(line).unwrap()
}

// ---------------------------------------------------------------------------------------
// from_env, in child processes

#[test]
fn from_env_without_token_names_omni_api_token() {
    let report = run_child("omni", &[("OMNI_BASE_URL", "https://example.test/api")]);
    assert_eq!(report["ok"], false, "{report}");
    let display = report["display"].as_str().unwrap();
    assert!(display.contains("OMNI_API_TOKEN"), "{display}");
}

#[test]
fn from_env_without_base_url_or_instance_names_both() {
    let report = run_child("omni", &[("OMNI_API_TOKEN", TOKEN)]);
    assert_eq!(report["ok"], false, "{report}");
    let display = report["display"].as_str().unwrap();
    assert!(display.contains("OMNI_BASE_URL"), "{display}");
    assert!(display.contains("OMNI_INSTANCE"), "{display}");
    assert!(!display.contains(TOKEN) && !report["debug"].as_str().unwrap().contains(TOKEN));
}

#[test]
fn from_env_instance_expands_to_omniapp_url() {
    let report = run_child(
        "omni",
        &[("OMNI_API_TOKEN", TOKEN), ("OMNI_INSTANCE", "blobsrus")],
    );
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["base_url"], "https://blobsrus.omniapp.co/api");
    assert!(
        !report["debug"].as_str().unwrap().contains(TOKEN),
        "{report}"
    );
}

#[test]
fn from_env_base_url_wins_over_instance() {
    let report = run_child(
        "omni",
        &[
            ("OMNI_API_TOKEN", TOKEN),
            ("OMNI_INSTANCE", "blobsrus"),
            ("OMNI_BASE_URL", "https://omni.internal.test/api/"),
        ],
    );
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["base_url"], "https://omni.internal.test/api");
}

#[test]
fn from_env_builder_base_url_wins_over_environment() {
    let report = run_child(
        "omni_builder_base_url",
        &[
            ("OMNI_API_TOKEN", TOKEN),
            ("OMNI_BASE_URL", "https://omni.internal.test/api"),
        ],
    );
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["base_url"], "http://from-builder.test/api");
}

#[test]
fn from_env_invalid_values_name_their_variable() {
    let report = run_child(
        "omni",
        &[("OMNI_API_TOKEN", TOKEN), ("OMNI_INSTANCE", "bad/name")],
    );
    assert_eq!(report["ok"], false, "{report}");
    let display = report["display"].as_str().unwrap();
    assert!(
        display.contains("OMNI_INSTANCE") && display.contains("bad/name"),
        "{display}"
    );

    let report = run_child(
        "omni",
        &[("OMNI_API_TOKEN", TOKEN), ("OMNI_BASE_URL", "ftp://x")],
    );
    assert_eq!(report["ok"], false, "{report}");
    assert!(
        report["display"]
            .as_str()
            .unwrap()
            .contains("OMNI_BASE_URL"),
        "{report}"
    );
}

#[test]
fn from_env_token_with_newline_is_refused_without_showing_it() {
    let token = "sk-line-one\nsk-line-two";
    let report = run_child(
        "omni",
        &[
            ("OMNI_API_TOKEN", token),
            ("OMNI_BASE_URL", "https://example.test/api"),
        ],
    );
    assert_eq!(report["ok"], false, "{report}");
    let display = report["display"].as_str().unwrap();
    let debug = report["debug"].as_str().unwrap();
    assert!(display.contains("OMNI_API_TOKEN"), "{display}");
    for part in ["sk-line-one", "sk-line-two"] {
        assert!(!display.contains(part) && !debug.contains(part), "{report}");
    }
}

#[tokio::test]
async fn from_env_token_is_sent_as_bearer() {
    let server = MockServer::start_async().await;
    let job_id = Uuid::new_v4();
    let mock = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(format!("/v1/jobs/{job_id}/status"))
                .header("authorization", format!("Bearer {TOKEN}"));
            then.status(200).json_body(json!({"status": "COMPLETED"}));
        })
        .await;
    let base_url = format!("{}/", server.base_url());
    let job = job_id.to_string();
    let report = tokio::task::spawn_blocking(move || {
        run_child(
            "omni_request",
            &[
                ("OMNI_API_TOKEN", TOKEN),
                ("OMNI_BASE_URL", &base_url),
                ("SDK_TESTS_JOB_ID", &job),
            ],
        )
    })
    .await
    .unwrap();
    assert_eq!(report, json!({"ok": true, "status": 200}));
    mock.assert_async().await;
}

#[test]
fn retailgrid_from_env_token_is_optional() {
    let report = run_child(
        "retailgrid",
        &[("RETAILGRID_BASE_URL", "https://api.retailgrid.test/")],
    );
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["base_url"], "https://api.retailgrid.test");

    let report = run_child(
        "retailgrid",
        &[
            ("RETAILGRID_BASE_URL", "https://api.retailgrid.test"),
            ("RETAILGRID_API_TOKEN", TOKEN),
        ],
    );
    assert_eq!(report["ok"], true, "{report}");
    assert!(
        !report["debug"].as_str().unwrap().contains(TOKEN),
        "{report}"
    );

    let report = run_child("retailgrid", &[("RETAILGRID_API_TOKEN", TOKEN)]);
    assert_eq!(report["ok"], false, "{report}");
    assert!(
        report["display"]
            .as_str()
            .unwrap()
            .contains("RETAILGRID_BASE_URL"),
        "{report}"
    );
}

#[test]
fn omni_variables_do_not_configure_retailgrid() {
    let report = run_child(
        "retailgrid",
        &[
            ("OMNI_BASE_URL", "https://example.test/api"),
            ("OMNI_API_TOKEN", TOKEN),
        ],
    );
    assert_eq!(report["ok"], false, "{report}");
}

// ---------------------------------------------------------------------------------------
// Builder, in process

fn omni_builder() -> omni_sdk::ClientBuilder {
    omni_sdk::Client::builder().bearer_token(TOKEN)
}

#[test]
fn builder_without_token_names_omni_api_token() {
    let err = omni_sdk::Client::builder()
        .base_url("https://example.test/api")
        .build()
        .unwrap_err();
    assert!(
        matches!(
            err,
            ConfigError::Missing {
                what: "OMNI_API_TOKEN",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("OMNI_API_TOKEN"), "{err}");
}

#[test]
fn builder_without_base_url_fails() {
    let err = omni_builder().build().unwrap_err();
    assert!(matches!(err, ConfigError::Missing { .. }), "{err:?}");
    assert!(err.to_string().contains("OMNI_BASE_URL"), "{err}");
}

#[test]
fn builder_instance_expands_and_base_url_wins() {
    let client = omni_builder().instance("blobsrus").build().unwrap();
    assert_eq!(client.baseurl(), "https://blobsrus.omniapp.co/api");
    assert_eq!(
        omni_sdk::INSTANCE_URL.replace("{instance}", "blobsrus"),
        client.baseurl()
    );
    let client = omni_builder()
        .instance("blobsrus")
        .base_url("https://omni.internal.test/api")
        .build()
        .unwrap();
    assert_eq!(client.baseurl(), "https://omni.internal.test/api");
}

#[tokio::test]
async fn trailing_slashes_are_trimmed_on_the_wire() {
    let server = MockServer::start_async().await;
    let job_id = Uuid::new_v4();
    let good = server
        .mock_async(|when, then| {
            when.method(GET).path(format!("/v1/jobs/{job_id}/status"));
            then.status(200).json_body(json!({"status": "RUNNING"}));
        })
        .await;
    let double_slash = server
        .mock_async(|when, then| {
            when.path_prefix("//");
            then.status(599);
        })
        .await;
    for base_url in [
        format!("{}/", server.base_url()),
        format!("{}///", server.base_url()),
    ] {
        let client = omni_builder().base_url(&base_url).build().unwrap();
        assert_eq!(client.baseurl(), server.base_url(), "{base_url}");
        let status = client.get_job_status().job_id(job_id).send().await;
        assert!(status.is_ok(), "{base_url}: {status:?}");
    }
    good.assert_calls_async(2).await;
    double_slash.assert_calls_async(0).await;
}

#[test]
fn bad_base_urls_are_config_errors() {
    for url in [
        "ftp://x",
        "not a url",
        "https://user:pw@host",
        "https://token@host",
        "",
        "/v1",
        "https://host/api?x=1",
        "https://host/api#frag",
    ] {
        let err = omni_builder().base_url(url).build().unwrap_err();
        assert!(
            matches!(err, ConfigError::InvalidBaseUrl { .. }),
            "{url:?}: {err:?}"
        );
        let display = err.to_string();
        assert!(display.contains("ClientBuilder::base_url"), "{display}");
        assert!(!display.contains(TOKEN), "{display}");
    }
    let err = retailgrid_sdk::Client::builder()
        .base_url("ftp://x")
        .build()
        .unwrap_err();
    assert!(
        matches!(err, retailgrid_sdk::ConfigError::InvalidBaseUrl { .. }),
        "{err:?}"
    );
}

#[test]
fn good_base_urls_are_accepted() {
    for (url, expected) in [
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        (
            "https://blobsrus.omniapp.co/api/",
            "https://blobsrus.omniapp.co/api",
        ),
        ("  https://example.test/api  ", "https://example.test/api"),
    ] {
        let client = omni_builder().base_url(url).build().unwrap();
        assert_eq!(client.baseurl(), expected);
    }
}

#[test]
fn invalid_instances_are_config_errors() {
    let too_long = "a".repeat(64);
    for instance in [
        "bad/name",
        "",
        "-leading",
        "trailing-",
        "a.b",
        "evil.com#",
        "with space",
        too_long.as_str(),
    ] {
        let err = omni_builder().instance(instance).build().unwrap_err();
        assert!(
            matches!(err, ConfigError::InvalidInstance { .. }),
            "{instance:?}: {err:?}"
        );
        assert!(err.to_string().contains("ClientBuilder::instance"), "{err}");
    }
    for instance in ["blobsrus", "my-org-2", "a"] {
        assert!(
            omni_builder().instance(instance).build().is_ok(),
            "{instance}"
        );
    }
}

#[test]
fn unusable_tokens_are_refused_without_showing_them() {
    for token in [
        "sk-part-one\nsk-part-two",
        "sk-part-one\r\nsk-part-two",
        "sk-part-one\0sk-part-two",
    ] {
        let err = omni_sdk::Client::builder()
            .base_url("https://example.test/api")
            .bearer_token(token)
            .build()
            .unwrap_err();
        assert!(matches!(err, ConfigError::InvalidToken { .. }), "{err:?}");
        let (display, debug) = (err.to_string(), format!("{err:?}"));
        assert!(display.contains("ClientBuilder::bearer_token"), "{display}");
        for part in ["sk-part-one", "sk-part-two"] {
            assert!(
                !display.contains(part) && !debug.contains(part),
                "{display} / {debug}"
            );
        }
    }
    for token in ["", "   "] {
        let err = omni_sdk::Client::builder()
            .base_url("https://example.test/api")
            .bearer_token(token)
            .build()
            .unwrap_err();
        assert!(
            matches!(err, ConfigError::InvalidToken { .. }),
            "{token:?}: {err:?}"
        );
    }
}

#[test]
fn invalid_user_agent_is_a_config_error() {
    let err = omni_builder()
        .base_url("https://example.test/api")
        .user_agent("agent\nwith newline")
        .build()
        .unwrap_err();
    assert!(matches!(err, ConfigError::InvalidUserAgent(_)), "{err:?}");
}

#[test]
fn timeouts_are_accepted() {
    let client = omni_builder()
        .base_url("https://example.test/api")
        .timeout(std::time::Duration::from_secs(5))
        .connect_timeout(std::time::Duration::from_millis(500))
        .build();
    assert!(client.is_ok(), "{client:?}");
}

#[test]
fn token_is_not_in_builder_or_client_debug() {
    let builder = omni_builder().base_url("https://example.test/api");
    let builder_debug = format!("{builder:?}");
    assert!(!builder_debug.contains(TOKEN), "{builder_debug}");
    assert!(builder_debug.contains("redacted"), "{builder_debug}");
    let client = builder.build().unwrap();
    let client_debug = format!("{client:?}");
    assert!(!client_debug.contains(TOKEN), "{client_debug}");
    assert!(!format!("{client:#?}").contains(TOKEN));

    let builder = retailgrid_sdk::Client::builder()
        .base_url("https://example.test")
        .bearer_token(TOKEN);
    assert!(!format!("{builder:?}").contains(TOKEN));
    let client = builder.build().unwrap();
    assert!(!format!("{client:?}").contains(TOKEN));
}

#[tokio::test]
async fn token_is_not_in_errors_of_failed_requests() {
    let server = MockServer::start_async().await;
    let job_id = Uuid::new_v4();
    let mock = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(format!("/v1/jobs/{job_id}/status"))
                .header("authorization", format!("Bearer {TOKEN}"));
            then.status(401)
                .json_body(json!({"error": "401", "message": "Invalid or missing API key"}));
        })
        .await;
    let client = omni_builder().base_url(server.base_url()).build().unwrap();
    let err = client
        .get_job_status()
        .job_id(job_id)
        .send()
        .await
        .unwrap_err();
    mock.assert_async().await;
    assert_eq!(err.http_status(), Some(401));
    for text in [
        err.to_string(),
        format!("{err:?}"),
        format!("{err:#?}"),
        err.message(),
    ] {
        assert!(!text.contains(TOKEN), "{text}");
    }

    // A transport error (nothing listening) does not show it either.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = omni_builder()
        .base_url(format!("http://127.0.0.1:{port}"))
        .build()
        .unwrap();
    let err = client.get_ai_job().job_id(job_id).send().await.unwrap_err();
    assert_eq!(err.http_status(), None);
    for text in [err.to_string(), format!("{err:?}"), err.message()] {
        assert!(!text.contains(TOKEN), "{text}");
    }
}

#[test]
fn credentials_in_a_refused_base_url_are_not_echoed() {
    for url in [
        "https://user:s3cr3t-pw@host/api",
        "https://s3cr3t-pw@host/api",
    ] {
        let err = omni_builder().base_url(url).build().unwrap_err();
        assert!(matches!(err, ConfigError::InvalidBaseUrl { .. }), "{err:?}");
        let (display, debug) = (err.to_string(), format!("{err:?}"));
        assert!(display.contains("credentials"), "{display}");
        assert!(!display.contains("s3cr3t-pw"), "{display}");
        assert!(!debug.contains("s3cr3t-pw"), "{debug}");
    }
}

#[tokio::test]
async fn whitespace_around_the_token_is_trimmed() {
    // A token read from a file usually ends with a newline; only interior line breaks are
    // refused (see `unusable_tokens_are_refused_without_showing_them`).
    let server = MockServer::start_async().await;
    let job_id = Uuid::new_v4();
    let mock = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(format!("/v1/jobs/{job_id}/status"))
                .header("authorization", format!("Bearer {TOKEN}"));
            then.status(200).json_body(json!({"status": "RUNNING"}));
        })
        .await;
    let client = omni_sdk::Client::builder()
        .base_url(server.base_url())
        .bearer_token(format!("  {TOKEN}\n"))
        .build()
        .unwrap();
    client.get_job_status().job_id(job_id).send().await.unwrap();
    mock.assert_async().await;
}
