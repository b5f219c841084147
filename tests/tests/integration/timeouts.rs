//! Timeouts per operation, against slow local servers in real time: a held `query/run`
//! gets its own timeout instead of the client's total one, and streamed answers (a
//! dashboard file, the NDJSON run) are bounded by an idle timeout, not a total one.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::{get, post};
use omni_sdk::types::{DashboardsDownloadBody, DashboardsDownloadBodyFormat, QueryRunBody};
use poll_helpers::{PollError, PollPolicy, omni};
use sdk_tests::sim::{DEFAULT_OMNI_TOKEN, JobScript, QueryDialect, QueryRun, SimConfig, Simulator};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn policy() -> PollPolicy {
    omni::default_policy()
        .min_delay(ms(50))
        .max_delay(ms(200))
        .deadline(Duration::from_secs(20))
        .seed(3)
}

fn query_body() -> QueryRunBody {
    QueryRunBody::builder()
        .query(serde_json::json!({"table": "order_items", "fields": ["order_items.count"]}))
        .try_into()
        .unwrap()
}

fn client_for(base_url: &str) -> omni_sdk::ClientBuilder {
    omni_sdk::Client::builder()
        .base_url(base_url)
        .bearer_token(DEFAULT_OMNI_TOKEN)
}

async fn held_runs(dialect: QueryDialect) -> Simulator {
    Simulator::start(SimConfig {
        query_run_wait: Duration::from_secs(5),
        query_dialect: dialect,
        rate_limit: None,
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn a_held_query_run_outlives_the_clients_total_timeout() {
    let sim = held_runs(QueryDialect::Json).await;
    sim.script_next_query_run(QueryRun::one(JobScript::succeed_after(ms(900))));
    // A total timeout far below the hold: only the run's own timeout (130 s) applies.
    let client = client_for(&sim.omni_base_url())
        .timeout(ms(300))
        .build()
        .unwrap();
    let run = omni::run_query(&client, query_body(), &policy())
        .await
        .unwrap();
    assert_eq!(run.results.len(), 1);
    assert!(run.results[0].result_base64().is_some());
    assert_eq!(sim.request_count(), 1, "{:?}", sim.requests());
}

#[tokio::test]
async fn the_query_run_timeout_is_its_own_setting() {
    let sim = held_runs(QueryDialect::Json).await;
    sim.script_next_query_run(QueryRun::one(JobScript::succeed_after(ms(900))));
    let client = client_for(&sim.omni_base_url())
        .operation_timeout("query_run", ms(300))
        .build()
        .unwrap();
    match omni::run_query(&client, query_body(), &policy()).await {
        Err(PollError::Request { message, .. }) => {
            assert!(message.contains("may have started"), "{message}");
            assert!(message.contains("not retried"), "{message}");
        }
        other => panic!("expected a Request error, got {other:?}"),
    }
    assert_eq!(sim.request_count(), 1, "the start request is sent once");
}

#[tokio::test]
async fn a_streamed_run_cut_by_its_timeout_goes_on_with_the_jobs_it_named() {
    let sim = held_runs(QueryDialect::Ndjson).await;
    sim.script_next_query_run(QueryRun::many([
        JobScript::succeed_after(ms(30)),
        JobScript::succeed_after(ms(1500)),
    ]));
    let client = client_for(&sim.omni_base_url())
        .operation_timeout("query_run", ms(400))
        .build()
        .unwrap();
    let run = omni::run_query(&client, query_body(), &policy())
        .await
        .unwrap();
    assert_eq!(run.results.len(), 2);
    assert!(run.results.iter().all(|r| r.result_base64().is_some()));
    let requests = sim.requests();
    assert_eq!(
        requests.iter().filter(|r| r.method == "POST").count(),
        1,
        "{requests:?}"
    );
    assert!(
        requests
            .iter()
            .any(|r| r.path == "/omni/v1/query/wait" && r.status == Some(200))
    );
}

/// A server whose dashboard file arrives in `chunks` pieces of 1,000 bytes, `gap` apart
/// (and `stall` before the last one).
async fn slow_file_server(chunks: usize, gap: Duration, stall: Duration) -> String {
    let job = uuid::Uuid::new_v4();
    let app = Router::new()
        .route(
            "/v1/dashboards/{id}/download",
            post(move || async move {
                (
                    [(axum::http::header::CONTENT_TYPE, "application/json")],
                    serde_json::json!({"job_id": job, "message": "started"}).to_string(),
                )
            }),
        )
        .route(
            "/v1/dashboards/{id}/download/{job}",
            get(move || async move {
                let stream = futures_util::stream::unfold(0usize, move |i| async move {
                    if i == chunks {
                        return None;
                    }
                    let pause = if i + 1 == chunks { stall } else { gap };
                    if i > 0 {
                        tokio::time::sleep(pause).await;
                    }
                    Some((Ok::<_, std::convert::Infallible>(vec![b'x'; 1000]), i + 1))
                });
                Body::from_stream(stream)
            }),
        );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

fn pdf_body() -> DashboardsDownloadBody {
    DashboardsDownloadBody::builder()
        .format(DashboardsDownloadBodyFormat::Pdf)
        .try_into()
        .unwrap()
}

#[tokio::test]
async fn a_download_that_keeps_arriving_outlives_the_clients_total_timeout() {
    let base = slow_file_server(6, ms(150), ms(150)).await;
    let client = client_for(&base)
        .timeout(ms(300))
        .stream_idle_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let mut file = Vec::new();
    let done = omni::download_dashboard(&client, "d1", pdf_body(), &mut file, &policy())
        .await
        .unwrap();
    assert_eq!(done.bytes_written, Some(6000));
    assert_eq!(file.len(), 6000);
}

#[tokio::test]
async fn a_download_that_stalls_ends_after_the_idle_timeout() {
    let base = slow_file_server(4, ms(20), ms(1500)).await;
    let client = client_for(&base)
        .stream_idle_timeout(ms(300))
        .build()
        .unwrap();
    let mut file = Vec::new();
    let started = std::time::Instant::now();
    match omni::download_dashboard(&client, "d1", pdf_body(), &mut file, &policy()).await {
        Err(PollError::Request { message, .. }) => {
            assert!(message.contains("after 3000 bytes"), "{message}");
            assert!(message.contains("no data for 300ms"), "{message}");
        }
        other => panic!("expected a Request error, got {other:?}"),
    }
    assert!(started.elapsed() < ms(1400), "{:?}", started.elapsed());
}
