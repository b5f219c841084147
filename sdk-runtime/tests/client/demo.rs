//! A client shaped like a generated one: progenitor's `ClientInfo` and `ClientHooks`
//! implemented as the generated files do (`pre`/`exec` delegate to `sdk_runtime::hooks`),
//! and one generic operation that reads the answer as generated operations do.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use progenitor_client::{ClientHooks, ClientInfo, Error, OperationInfo, ResponseValue};
use sdk_runtime::{ApiError, ApiInfo, GeneratedClient, Inner, OperationTables};

#[derive(Debug)]
pub struct Demo {
    baseurl: String,
    client: reqwest::Client,
    inner: Inner,
}

impl GeneratedClient for Demo {
    const API: ApiInfo = ApiInfo::new("DEMO_API_TOKEN", "DEMO_BASE_URL", "demo-sdk/1.0");
    fn from_parts(base_url: &str, http: reqwest::Client, inner: Inner) -> Self {
        Demo {
            baseurl: base_url.to_owned(),
            client: http,
            inner,
        }
    }
}

pub type ClientBuilder = sdk_runtime::ClientBuilder<Demo>;

impl ClientInfo<Inner> for Demo {
    fn api_version() -> &'static str {
        "1.0.0"
    }
    fn baseurl(&self) -> &str {
        &self.baseurl
    }
    fn client(&self) -> &reqwest::Client {
        &self.client
    }
    fn inner(&self) -> &Inner {
        &self.inner
    }
}

/// `slow` gets a 1 s timeout of its own, as the generator's long-poll table does.
const TABLES: OperationTables = OperationTables {
    request_timeouts: &[("slow", 1)],
    ..OperationTables::EMPTY
};

impl ClientHooks<Inner> for Demo {
    async fn pre<E>(
        &self,
        request: &mut reqwest::Request,
        info: &OperationInfo,
    ) -> Result<(), Error<E>> {
        sdk_runtime::hooks::pre(self.inner(), request, info, &TABLES);
        Ok(())
    }
    async fn exec(
        &self,
        request: reqwest::Request,
        _info: &OperationInfo,
    ) -> reqwest::Result<reqwest::Response> {
        sdk_runtime::hooks::exec(self.inner(), self.client(), request).await
    }
}

impl Demo {
    /// Sends `method path` (with a JSON body if given) as a generated operation does.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<ResponseValue<serde_json::Value>, Error<ApiError>> {
        self.send_as("op", method, path, body).await
    }

    pub async fn send_as(
        &self,
        operation_id: &'static str,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<ResponseValue<serde_json::Value>, Error<ApiError>> {
        let url = format!("{}{}", self.baseurl, path);
        let mut builder = self.client.request(method, url);
        if let Some(body) = body {
            builder = builder.json(&body);
        }
        let mut request = builder.build()?;
        let info = OperationInfo { operation_id };
        self.pre(&mut request, &info).await?;
        let result = self.exec(request, &info).await;
        let response = result?;
        match response.status().as_u16() {
            200..=299 => ResponseValue::from_response(response).await,
            400..=599 => Err(Error::ErrorResponse(
                ResponseValue::from_response(response).await?,
            )),
            _ => Err(Error::UnexpectedResponse(response)),
        }
    }
}

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Log lines of every level, captured while the returned guard lives (tests run on
/// tokio's current-thread runtime, so a thread-local subscriber sees all of them).
pub fn capture_logs() -> (Logs, tracing::subscriber::DefaultGuard) {
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    (logs, tracing::subscriber::set_default(subscriber))
}

#[derive(Clone, Default)]
pub struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
