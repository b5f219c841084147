//! Credential providers: caching, expiry, one refresh and one retry after a 401, and the
//! secret redacted everywhere.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use httpmock::prelude::*;
use reqwest::Method;
use sdk_runtime::{Credential, CredentialError, CredentialProvider, ErrorExt, RetryPolicy};

use crate::demo::{ClientBuilder, Demo, capture_logs, ms};

const SECRET: &str = "tok-SECRET-0123456789";

/// Hands out `secrets[n]` on call n (the last one from then on), valid for `ttl` if given;
/// an empty list fails.
#[derive(Clone)]
struct Rotating {
    secrets: Vec<String>,
    ttl: Option<std::time::Duration>,
    calls: Arc<AtomicUsize>,
}

impl Rotating {
    fn new(secrets: &[&str]) -> Self {
        Self {
            secrets: secrets.iter().map(|s| (*s).to_owned()).collect(),
            ttl: None,
            calls: Arc::default(),
        }
    }
    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl CredentialProvider for Rotating {
    async fn credential(&self) -> Result<Credential, CredentialError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        let secret = self
            .secrets
            .get(n)
            .or(self.secrets.last())
            .ok_or_else(|| CredentialError::new("the vault is sealed"))?;
        let credential = Credential::new(secret.clone());
        Ok(match self.ttl {
            Some(ttl) => credential.valid_for(ttl),
            None => credential,
        })
    }
}

fn client(server: &MockServer, provider: Rotating) -> Demo {
    ClientBuilder::default()
        .base_url(server.base_url())
        .retry_policy(RetryPolicy::none())
        .credential_provider(provider)
        .build()
        .unwrap()
}

#[tokio::test]
async fn the_secret_is_sent_as_a_bearer_token_and_cached() {
    let server = MockServer::start_async().await;
    let ok = server
        .mock_async(|when, then| {
            when.header("authorization", "Bearer first");
            then.status(200).json_body(serde_json::json!({}));
        })
        .await;
    let provider = Rotating::new(&["first", "second"]);
    let demo = client(&server, provider.clone());
    for _ in 0..3 {
        demo.send(Method::GET, "/x", None).await.unwrap();
    }
    assert_eq!(ok.calls_async().await, 3);
    assert_eq!(provider.calls(), 1);
}

#[tokio::test]
async fn an_expired_secret_is_asked_for_again() {
    let server = MockServer::start_async().await;
    let first = server
        .mock_async(|when, then| {
            when.header("authorization", "Bearer first");
            then.status(200).json_body(serde_json::json!({}));
        })
        .await;
    let second = server
        .mock_async(|when, then| {
            when.header("authorization", "Bearer second");
            then.status(200).json_body(serde_json::json!({}));
        })
        .await;
    let provider = Rotating {
        ttl: Some(ms(50)),
        ..Rotating::new(&["first", "second"])
    };
    let demo = client(&server, provider.clone());
    demo.send(Method::GET, "/x", None).await.unwrap();
    tokio::time::sleep(ms(80)).await;
    demo.send(Method::GET, "/x", None).await.unwrap();
    assert_eq!(
        (first.calls_async().await, second.calls_async().await),
        (1, 1)
    );
    assert_eq!(provider.calls(), 2);
}

#[tokio::test]
async fn a_401_refreshes_once_and_resends_once_whatever_the_method() {
    let server = MockServer::start_async().await;
    let refused = server
        .mock_async(|when, then| {
            when.header("authorization", "Bearer old");
            then.status(401)
                .json_body(serde_json::json!({"error": "token expired"}));
        })
        .await;
    let accepted = server
        .mock_async(|when, then| {
            when.header("authorization", "Bearer new")
                .json_body(serde_json::json!({"name": "x"}));
            then.status(200).json_body(serde_json::json!({"id": 1}));
        })
        .await;
    let provider = Rotating::new(&["old", "new"]);
    let demo = client(&server, provider.clone());
    let answer = demo
        .send(
            Method::POST,
            "/things",
            Some(serde_json::json!({"name": "x"})),
        )
        .await
        .unwrap();
    assert_eq!(answer.into_inner()["id"], 1);
    assert_eq!(
        (refused.calls_async().await, accepted.calls_async().await),
        (1, 1)
    );
    assert_eq!(provider.calls(), 2);
}

#[tokio::test]
async fn a_second_401_is_returned() {
    let server = MockServer::start_async().await;
    let refused = server
        .mock_async(|_, then| {
            then.status(401);
        })
        .await;
    let provider = Rotating::new(&["old", "also-refused"]);
    let demo = client(&server, provider.clone());
    let err = demo.send(Method::GET, "/x", None).await.unwrap_err();
    assert_eq!(err.http_status(), Some(401));
    assert_eq!(err.attempts(), Some(2));
    assert_eq!(refused.calls_async().await, 2);
    assert_eq!(provider.calls(), 2);
}

#[tokio::test]
async fn with_a_fixed_token_a_401_is_not_retried() {
    let server = MockServer::start_async().await;
    let refused = server
        .mock_async(|_, then| {
            then.status(401);
        })
        .await;
    let demo = ClientBuilder::default()
        .base_url(server.base_url())
        .bearer_token(SECRET)
        .build()
        .unwrap();
    let err = demo.send(Method::GET, "/x", None).await.unwrap_err();
    assert_eq!(err.http_status(), Some(401));
    assert_eq!(refused.calls_async().await, 1);
}

#[tokio::test]
async fn a_failing_provider_fails_the_request_before_it_is_sent() {
    let server = MockServer::start_async().await;
    let any = server
        .mock_async(|_, then| {
            then.status(200);
        })
        .await;
    let demo = client(&server, Rotating::new(&[]));
    let err = demo.send(Method::GET, "/x", None).await.unwrap_err();
    assert!(
        err.message()
            .contains("the credential provider failed: the vault is sealed"),
        "{}",
        err.message()
    );
    assert!(
        format!("{err:#}").contains("the vault is sealed"),
        "{err:#}"
    );
    assert_eq!(any.calls_async().await, 0);
}

#[tokio::test]
async fn an_api_key_provider_fills_the_api_key_header() {
    struct KeyApi;
    impl sdk_runtime::GeneratedClient for KeyApi {
        const API: sdk_runtime::ApiInfo = sdk_runtime::ApiInfo {
            api_key: Some((sdk_runtime::ApiKeyIn::Header("x-api-key"), "KEY_API_KEY")),
            ..sdk_runtime::ApiInfo::new("KEY_API_TOKEN", "KEY_BASE_URL", "key-sdk/1.0")
        };
        fn from_parts(_: &str, _: reqwest::Client, _: sdk_runtime::Inner) -> Self {
            KeyApi
        }
    }
    // The key scheme is resolved at build: a key API accepts it, the demo API (no key
    // scheme) refuses it and says why.
    sdk_runtime::ClientBuilder::<KeyApi>::default()
        .base_url("http://127.0.0.1:1")
        .api_key_provider(Rotating::new(&["k"]))
        .build()
        .unwrap();
    let err = ClientBuilder::default()
        .base_url("http://127.0.0.1:1")
        .api_key_provider(Rotating::new(&["k"]))
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("api_key_provider"), "{err}");
    assert!(err.to_string().contains("no API key"), "{err}");
}

fn assert_clean(what: &str, text: &str) {
    assert!(
        !text.contains(SECRET) && !text.contains("SECRET-0123456789"),
        "{what} shows the token:\n{text}"
    );
}

#[tokio::test]
async fn the_provided_secret_never_shows_in_debug_errors_or_logs() {
    let server = MockServer::start_async().await;
    let refused = server
        .mock_async(|when, then| {
            // Matching on the secret shows it did travel (so that the test can fail).
            when.header("authorization", format!("Bearer {SECRET}"));
            then.status(401)
                .json_body(serde_json::json!({"error": "nope"}));
        })
        .await;
    let (logs, _guard) = capture_logs();
    let builder = ClientBuilder::default()
        .base_url(server.base_url())
        .credential_provider(Rotating::new(&[SECRET]));
    assert_clean("builder", &format!("{builder:?}"));
    let demo = builder.build().unwrap();
    let err = demo.send(Method::GET, "/x", None).await.unwrap_err();
    assert_eq!(refused.calls_async().await, 2);
    assert_clean("client", &format!("{demo:?} {demo:#?}"));
    assert_clean("error", &format!("{err} {err:#} {err:?} {}", err.message()));
    assert_clean("logs", &logs.text());
    assert!(
        logs.text().contains("401"),
        "the logs saw the exchange:\n{}",
        logs.text()
    );
}

#[tokio::test]
async fn a_provider_that_hangs_fails_the_request_at_its_timeout() {
    struct Hangs;
    impl CredentialProvider for Hangs {
        async fn credential(&self) -> Result<Credential, CredentialError> {
            tokio::time::sleep(std::time::Duration::from_secs(60)).await;
            Ok(Credential::new("late"))
        }
    }
    let demo = ClientBuilder::default()
        .base_url("http://127.0.0.1:1")
        .timeout(ms(200))
        .credential_provider(Hangs)
        .build()
        .unwrap();
    let started = std::time::Instant::now();
    let err = demo.send(Method::GET, "/x", None).await.unwrap_err();
    assert!(started.elapsed() < ms(2000), "{:?}", started.elapsed());
    assert!(
        err.message()
            .contains("did not answer within the request's timeout"),
        "{}",
        err.message()
    );
}
