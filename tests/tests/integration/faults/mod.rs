//! Fault suite: `poll-helpers` waits against servers that misbehave in every way a real
//! API (or the network in front of it) does. One test per scenario; each asserts the exact
//! outcome and that the wait ended within its deadline plus one request timeout, without
//! a panic. The table in `tests/README.md` lists them.
//!
//! Everything runs in real time (sockets and tokio's paused clock do not mix) with
//! millisecond policies and a 300 ms client timeout. Generic scenarios use the Retailgrid
//! adapter (no 1 s floor between polls); Omni is used where the scenario is Omni's.
//!
//! Servers: the stateful simulator (`sdk_tests::sim`) with fault injection where it can
//! express the fault; a small scripted axum server for bodies and headers the simulator
//! does not produce (HTML, empty body, wrong shape, HTTP-date `Retry-After`, ...); and a
//! raw TCP server for transport faults (reset mid-response, no answer, trickling body).
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::BTreeMap;
use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use poll_helpers::omni::{self, QueryResult};
use poll_helpers::retailgrid::{self, Job};
use poll_helpers::{FetchError, FetchErrorKind, PollError, PollEvent, PollPolicy, RateBudget};
use sdk_tests::sim::{DEFAULT_OMNI_TOKEN, Fault, JobScript, SimConfig, Simulator};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use uuid::Uuid;

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// The client request timeout of every test (except the trickling body, which needs the
/// poller's deadline to be what cuts the request).
const TIMEOUT: Duration = Duration::from_millis(300);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn rg_client(base_url: &str) -> retailgrid_sdk::Client {
    retailgrid_sdk::Client::builder()
        .base_url(base_url)
        .timeout(TIMEOUT)
        .build()
        .unwrap()
}

fn omni_client(base_url: &str) -> omni_sdk::Client {
    omni_sdk::Client::builder()
        .base_url(base_url)
        .bearer_token(DEFAULT_OMNI_TOKEN)
        .timeout(TIMEOUT)
        .build()
        .unwrap()
}

/// 20 ms growing to 50 ms, 300 ms grace for a job not visible yet, seeded.
fn fast(deadline: Duration) -> PollPolicy {
    PollPolicy::default()
        .min_delay(ms(20))
        .max_delay(ms(50))
        .deadline(deadline)
        .not_found_grace(ms(300))
        .seed(7)
}

/// A simulator without rate limits.
async fn sim() -> Simulator {
    Simulator::start(SimConfig {
        rate_limit: None,
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

fn statuses(sim: &Simulator) -> Vec<Option<u16>> {
    sim.requests().iter().map(|r| r.status).collect()
}

/// Gaps between the arrivals of consecutive recorded requests.
fn sim_gaps(sim: &Simulator) -> Vec<Duration> {
    let at: Vec<Instant> = sim.requests().iter().map(|r| r.at).collect();
    at.windows(2).map(|w| w[1] - w[0]).collect()
}

/// Awaits `fut`, failing the test (instead of hanging it) if it takes longer than `limit`;
/// returns the output and how long it took.
async fn timed<T>(limit: Duration, fut: impl Future<Output = T>) -> (T, Duration) {
    let start = Instant::now();
    let out = tokio::time::timeout(limit, fut)
        .await
        .unwrap_or_else(|_| panic!("the wait did not end within {limit:?}"));
    (out, start.elapsed())
}

/// The hang guard of a wait with this deadline: deadline + one request timeout + slack
/// for a loaded machine. Outcome assertions are tighter.
fn guard(deadline: Duration) -> Duration {
    deadline + TIMEOUT + Duration::from_secs(2)
}

/// Asserts that a wait ended within its deadline plus one request timeout.
fn assert_in_time(elapsed: Duration, deadline: Duration) {
    assert!(
        elapsed <= deadline + TIMEOUT,
        "the wait took {elapsed:?}, more than the deadline {deadline:?} + one request timeout {TIMEOUT:?}"
    );
}

/// Runs a poller as a stream: every event, then how it ended.
async fn events<'a, T>(
    poller: poll_helpers::Poller<'a, T>,
) -> (Vec<PollEvent<T>>, Result<T, PollError<T>>)
where
    T: poll_helpers::Snapshot + Clone + Send + 'a,
{
    let mut stream = poller.into_stream();
    let mut seen = Vec::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(event) => seen.push(event),
            Err(e) => return (seen, Err(e)),
        }
    }
    let last = seen
        .last()
        .and_then(|e| e.outcome.as_ref().ok().cloned())
        .expect("a stream that ends without an error ends on a snapshot");
    (seen, Ok(last))
}

/// The failed polls among `events`.
fn errors<T>(events: &[PollEvent<T>]) -> Vec<FetchError> {
    events
        .iter()
        .filter_map(|e| e.outcome.as_ref().err().cloned())
        .collect()
}

fn rg_job_json(id: Uuid, status: &str) -> Value {
    json!({
        "job_id": id,
        "job_type": "csv_import",
        "status": status,
        "progress": if status == "completed" { json!(100) } else { json!(40) },
        "created_at": "2025-01-15T10:00:00Z",
        "started_at": "2025-01-15T10:00:01Z",
        "completed_at": null,
        "error_message": null,
    })
}

fn json_answer(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn raw_answer(status: StatusCode, content_type: &'static str, body: &'static str) -> Response {
    (status, [(header::CONTENT_TYPE, content_type)], body).into_response()
}

type Answer = Arc<dyn Fn(usize) -> Response + Send + Sync>;

/// An HTTP server whose every answer comes from a closure of the request's index
/// (0 for the first request), whatever the path. Records arrival times.
struct Scripted {
    addr: SocketAddr,
    arrivals: Arc<Mutex<Vec<Instant>>>,
    _stop: oneshot::Sender<()>,
}

impl Scripted {
    async fn start(answer: impl Fn(usize) -> Response + Send + Sync + 'static) -> Scripted {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        Self::serve(listener, Arc::new(answer))
    }

    fn serve(listener: TcpListener, answer: Answer) -> Scripted {
        let addr = listener.local_addr().unwrap();
        let arrivals = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&arrivals);
        let router = Router::new().fallback(move || {
            let index = {
                let mut log = log.lock().unwrap();
                log.push(Instant::now());
                log.len() - 1
            };
            let response = answer(index);
            async move { response }
        });
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Scripted {
            addr,
            arrivals,
            _stop: stop,
        }
    }

    fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn count(&self) -> usize {
        self.arrivals.lock().unwrap().len()
    }

    fn gaps(&self) -> Vec<Duration> {
        let at = self.arrivals.lock().unwrap();
        at.windows(2).map(|w| w[1] - w[0]).collect()
    }
}

/// What the raw TCP server does with one connection, after reading the request head.
#[derive(Clone)]
enum Raw {
    /// Writes these bytes, then resets the connection (SO_LINGER 0: RST, not FIN).
    WriteThenReset(Vec<u8>),
    /// Writes a complete response and closes.
    Respond(Vec<u8>),
    /// Never answers; keeps the connection open until the client goes away.
    Hang,
    /// Writes this head, then one body byte every `every`, forever.
    Trickle { head: Vec<u8>, every: Duration },
}

/// A complete HTTP/1.1 response with a JSON body and `Connection: close`.
fn http_json(body: &Value) -> Vec<u8> {
    let body = body.to_string();
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A TCP server answering connection number `n` (from 0) as `plan(n)` says; counts
/// connections.
async fn raw_server(
    plan: impl Fn(usize) -> Raw + Send + Sync + 'static,
) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&connections);
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let behaviour = plan(counter.fetch_add(1, Ordering::SeqCst));
            tokio::spawn(async move {
                // Read the request head (a GET has no body).
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                match behaviour {
                    Raw::WriteThenReset(bytes) => {
                        let _ = stream.write_all(&bytes).await;
                        let _ = stream.flush().await;
                        let _ = stream.set_zero_linger();
                        drop(stream);
                    }
                    Raw::Respond(bytes) => {
                        let _ = stream.write_all(&bytes).await;
                        let _ = stream.shutdown().await;
                    }
                    Raw::Hang => {
                        // Until the client closes (read returns 0) or resets.
                        while let Ok(n) = stream.read(&mut buf).await {
                            if n == 0 {
                                break;
                            }
                        }
                    }
                    Raw::Trickle { head, every } => {
                        if stream.write_all(&head).await.is_err() {
                            return;
                        }
                        loop {
                            tokio::time::sleep(every).await;
                            if stream.write_all(b" ").await.is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    (format!("http://{addr}"), connections)
}

fn expect_deadline<T: std::fmt::Debug>(
    result: Result<T, PollError<T>>,
) -> (u32, Duration, Option<T>, Option<FetchError>, String) {
    match result {
        Err(PollError::DeadlineExceeded {
            attempts,
            elapsed,
            last,
            last_error,
            reason,
            ..
        }) => (attempts, elapsed, last, last_error, reason),
        other => panic!("expected DeadlineExceeded, got {other:?}"),
    }
}

fn expect_request<T: std::fmt::Debug>(
    result: Result<T, PollError<T>>,
) -> (u32, Duration, Option<u16>, String, Option<T>) {
    match result {
        Err(PollError::Request {
            attempts,
            elapsed,
            status,
            message,
            last,
            ..
        }) => (attempts, elapsed, status, message, last),
        other => panic!("expected Request, got {other:?}"),
    }
}

mod bodies_and_endings;
mod statuses_and_transport;
