//! The job simulator's Omni start endpoints and their companions (`sdk_tests::sim`),
//! driven with raw HTTP requests in real time.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::{Duration, Instant};

use sdk_tests::sim::{
    DEFAULT_OMNI_TOKEN, Fault, JobScript, QueryRun, RunningAnswer, SimConfig, Simulator,
    download_file,
};
use serde_json::{Value, json};
use uuid::Uuid;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Sleeps until `at` after `start` (tolerates being late).
async fn sleep_until(start: Instant, at: Duration) {
    tokio::time::sleep((start + at).saturating_duration_since(Instant::now())).await;
}

/// Raw requests to the simulator's Omni API.
struct Omni {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Omni {
    fn new(sim: &Simulator) -> Self {
        Self::with_token(sim, Some(DEFAULT_OMNI_TOKEN))
    }

    fn with_token(sim: &Simulator, token: Option<&str>) -> Self {
        Omni {
            http: reqwest::Client::new(),
            base: sim.omni_base_url(),
            token: token.map(str::to_owned),
        }
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let request = self.http.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    async fn send(request: reqwest::RequestBuilder) -> (u16, Value) {
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("not JSON ({e}), HTTP {status}: {text:?}"));
        (status, body)
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        Self::send(self.request(reqwest::Method::GET, path)).await
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        Self::send(self.request(reqwest::Method::POST, path).json(&body)).await
    }

    /// A POST with this raw body and no content type.
    async fn post_raw(&self, path: &str, body: &'static str) -> (u16, Value) {
        Self::send(self.request(reqwest::Method::POST, path).body(body)).await
    }
}

fn uuid_of(value: &Value) -> Uuid {
    value
        .as_str()
        .unwrap_or_else(|| panic!("not a string: {value}"))
        .parse()
        .unwrap()
}

fn error(status: u16, detail: &str) -> (u16, Value) {
    (status, json!({"detail": detail, "status": status}))
}

mod ai;
mod downloads_and_more;
mod refresh_and_query;
