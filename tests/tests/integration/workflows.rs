//! The Omni start-and-wait workflows of `poll_helpers::omni` end to end against the job
//! simulator: success, job failure, 429 during the wait, a 5xx on the start request (one
//! POST, never retried), the 408 path of a query run, a failed download (410), cancel.
//!
//! Real time throughout (sockets and tokio's paused clock do not mix): Omni's adapters keep
//! a 1 s floor between polls, so scripts last about a second and a half.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::future::IntoFuture;
use std::time::Duration;

use base64::Engine as _;
use futures_util::StreamExt;
use omni_sdk::types::{
    AiJobSubmitBody, DashboardsDownloadBody, DashboardsDownloadBodyFormat, QueryRunBody,
};
use poll_helpers::{PollError, PollPolicy, omni};
use sdk_tests::sim::{
    Fault, JobScript, QueryRun, RecordedRequest, RunningAnswer, Simulator, download_file,
    sample_result_ipc,
};
use uuid::Uuid;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Omni's policy with short delays (the 1 s floor still applies) and a 20 s deadline.
fn policy() -> PollPolicy {
    omni::default_policy()
        .min_delay(ms(50))
        .max_delay(ms(200))
        .deadline(Duration::from_secs(20))
        .seed(7)
}

fn posts(requests: &[RecordedRequest]) -> Vec<&RecordedRequest> {
    requests.iter().filter(|r| r.method == "POST").collect()
}

/// `METHOD path -> status` of every request, for failure messages and the closing note.
fn log(requests: &[RecordedRequest]) -> String {
    requests
        .iter()
        .map(|r| format!("{} {} -> {:?}", r.method, r.path, r.status))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The reason and last snapshot of a `PollError::Failed`; any other ending fails the test.
fn failed<T: std::fmt::Debug>(err: PollError<T>) -> (String, T) {
    match err {
        PollError::Failed { reason, last, .. } => (reason, last),
        other => panic!("expected Failed, got {other:?}"),
    }
}

/// The snapshot of a stream's next event, which must be a successful poll (the start
/// request, for a workflow's first event).
async fn next_snapshot<T>(
    events: &mut (
             impl futures_util::Stream<Item = Result<poll_helpers::PollEvent<T>, PollError<T>>> + Unpin
         ),
) -> T
where
    T: std::fmt::Debug,
{
    events.next().await.unwrap().unwrap().outcome.unwrap()
}

/// The snapshot of the last event of a stream that must end in success.
async fn final_snapshot<T>(
    mut events: impl futures_util::Stream<Item = Result<poll_helpers::PollEvent<T>, PollError<T>>>
    + Unpin,
) -> T
where
    T: std::fmt::Debug,
{
    let mut last = None;
    while let Some(event) = events.next().await {
        last = Some(event.unwrap());
    }
    last.expect("at least one event").outcome.unwrap()
}

fn ai_body(prompt: &str) -> AiJobSubmitBody {
    AiJobSubmitBody::builder()
        .model_id(Uuid::new_v4())
        .prompt(prompt)
        .try_into()
        .unwrap()
}

fn query_body() -> QueryRunBody {
    QueryRunBody::builder()
        .query(serde_json::json!({"table": "order_items", "fields": ["order_items.count"]}))
        .try_into()
        .unwrap()
}

fn pdf_body() -> DashboardsDownloadBody {
    DashboardsDownloadBody::builder()
        .format(DashboardsDownloadBodyFormat::Pdf)
        .try_into()
        .unwrap()
}

fn assert_sample_result(base64_ipc: Option<&str>) {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(base64_ipc.expect("a finished query carries its result"))
        .unwrap();
    assert_eq!(
        bytes,
        sample_result_ipc().unwrap(),
        "the simulator's Arrow table"
    );
    let reader = arrow_ipc::reader::FileReader::try_new(std::io::Cursor::new(bytes), None).unwrap();
    let rows: usize = reader.map(|batch| batch.unwrap().num_rows()).sum();
    assert!(rows > 0);
}

// ---------------------------------------------------------------------------------------
// refresh_schema
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn refresh_schema_starts_once_then_polls_until_completed() {
    let sim = Simulator::start_default().await.unwrap();
    let client = sim.omni_client().unwrap();
    sim.script_next_refresh(JobScript::succeed_after(ms(1500)));
    let model = Uuid::new_v4();
    let branch = Uuid::new_v4();

    let mut events = omni::refresh_schema(&client, model, Some(branch), &policy()).into_stream();
    let started = next_snapshot(&mut events).await;
    assert_eq!(started.model_id, model);
    assert!(started.status.is_none(), "the first event is the start");
    let job_id = started.job_id;
    let done = final_snapshot(events).await;
    assert_eq!(done.job_id, job_id);
    assert_eq!(
        done.status.unwrap().status,
        Some(omni_sdk::types::GetJobStatusResponseStatus::Completed)
    );

    let requests = sim.requests();
    let posts = posts(&requests);
    assert_eq!(posts.len(), 1, "{}", log(&requests));
    assert_eq!(posts[0].path, format!("/omni/v1/models/{model}/refresh"));
    assert_eq!(
        posts[0].query.as_deref(),
        Some(&*format!("branch_id={branch}"))
    );
    let polls = requests
        .iter()
        .filter(|r| r.path == format!("/omni/v1/jobs/{job_id}/status"))
        .count();
    assert!((1..=3).contains(&polls), "{}", log(&requests));
    eprintln!(
        "refresh_schema success: {} requests\n{}",
        requests.len(),
        log(&requests)
    );
}

#[tokio::test]
async fn refresh_schema_completed_synchronously_needs_one_request() {
    let sim = Simulator::start_default().await.unwrap();
    let client = sim.omni_client().unwrap();
    sim.script_next_refresh(JobScript::succeed_after(Duration::ZERO));
    let done = omni::refresh_schema(&client, Uuid::new_v4(), None, &policy())
        .await
        .unwrap();
    assert!(done.status.is_none());
    assert_eq!(done.started.status.as_str(), "completed");
    assert_eq!(sim.request_count(), 1, "{}", log(&sim.requests()));
}

#[tokio::test]
async fn refresh_schema_failure_is_a_failed_error() {
    let sim = Simulator::start_default().await.unwrap();
    let client = sim.omni_client().unwrap();
    sim.script_next_refresh(JobScript::fail_after(ms(1200), "warehouse unreachable"));
    let err = omni::refresh_schema(&client, Uuid::new_v4(), None, &policy())
        .await
        .unwrap_err();
    let (reason, last) = failed(err);
    assert!(reason.contains("FAILED"), "{reason}");
    assert!(last.status.is_some());
}

#[tokio::test]
async fn refresh_schema_without_a_required_branch_is_a_request_error_after_one_post() {
    let sim = Simulator::start_default().await.unwrap();
    let client = sim.omni_client().unwrap();
    let model = Uuid::new_v4();
    sim.require_branch(model);
    let err = omni::refresh_schema(&client, model, None, &policy())
        .await
        .unwrap_err();
    match &err {
        PollError::Request {
            status, message, ..
        } => {
            assert_eq!(*status, Some(400));
            assert!(message.contains("branch_id is required"), "{message}");
        }
        other => panic!("expected Request, got {other:?}"),
    }
    assert_eq!(sim.request_count(), 1);
}

#[tokio::test]
async fn refresh_schema_rides_out_a_429_during_the_wait() {
    let sim = Simulator::start_default().await.unwrap();
    let client = sim.omni_client().unwrap();
    sim.script_next_refresh(JobScript::succeed_after(ms(1500)));
    sim.inject(
        Fault::status(429)
            .retry_after(Duration::from_secs(1))
            .times(1)
            .on_path("/omni/v1/jobs/"),
    );
    let done = omni::refresh_schema(&client, Uuid::new_v4(), None, &policy())
        .await
        .unwrap();
    assert!(done.status.is_some());
    let requests = sim.requests();
    assert!(
        requests.iter().any(|r| r.status == Some(429)),
        "{}",
        log(&requests)
    );
    assert_eq!(posts(&requests).len(), 1);
}

/// A 5xx on the start request: the job may or may not exist, and a retry could start a
/// second one, so the wait ends at once with the status, after exactly one POST.
async fn start_5xx_ends_after_one_post<T: std::fmt::Debug>(
    sim: &Simulator,
    path: &str,
    wait: impl std::future::Future<Output = Result<T, PollError<T>>>,
) {
    sim.inject(Fault::status(503).on_path(path));
    let err = wait.await.unwrap_err();
    match &err {
        PollError::Request {
            status, message, ..
        } => {
            assert_eq!(*status, Some(503), "{err}");
            assert!(message.contains("not retried"), "{message}");
        }
        other => panic!("expected Request, got {other:?}"),
    }
    let requests = sim.requests();
    assert_eq!(requests.len(), 1, "{}", log(&requests));
    assert_eq!(requests[0].method, "POST");
}

#[tokio::test]
async fn a_5xx_on_any_start_request_is_not_retried() {
    let sim = Simulator::start_default().await.unwrap();
    let client = sim.omni_client().unwrap();
    let model = Uuid::new_v4();
    start_5xx_ends_after_one_post(
        &sim,
        "/omni/v1/models/",
        omni::refresh_schema(&client, model, None, &policy()).into_future(),
    )
    .await;

    let sim = Simulator::start_default().await.unwrap();
    let client = sim.omni_client().unwrap();
    start_5xx_ends_after_one_post(
        &sim,
        "/omni/v1/query/run",
        omni::run_query(&client, query_body(), &policy()).into_future(),
    )
    .await;

    let sim = Simulator::start_default().await.unwrap();
    let client = sim.omni_client().unwrap();
    start_5xx_ends_after_one_post(
        &sim,
        "/omni/v1/ai/jobs",
        omni::ask_ai(&client, ai_body("why?"), &policy()).into_future(),
    )
    .await;

    let sim = Simulator::start_default().await.unwrap();
    let client = sim.omni_client().unwrap();
    let mut file = Vec::new();
    start_5xx_ends_after_one_post(
        &sim,
        "/omni/v1/dashboards/",
        omni::download_dashboard(&client, "12db1a0a", pdf_body(), &mut file, &policy())
            .into_future(),
    )
    .await;
    assert!(file.is_empty());
}

#[tokio::test]
async fn a_429_on_the_start_request_is_retried_after_retry_after() {
    let sim = Simulator::start_default().await.unwrap();
    let client = sim.omni_client().unwrap();
    sim.script_next_refresh(JobScript::succeed_after(Duration::ZERO));
    sim.inject(
        Fault::status(429)
            .retry_after(Duration::from_secs(1))
            .times(1)
            .on_path("/omni/v1/models/"),
    );
    let done = omni::refresh_schema(&client, Uuid::new_v4(), None, &policy())
        .await
        .unwrap();
    assert_eq!(done.started.status.as_str(), "completed");
    let requests = sim.requests();
    let statuses: Vec<_> = requests.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [Some(429), Some(200)], "{}", log(&requests));
    let gap = requests[1].at - requests[0].at;
    assert!(gap >= ms(950), "Retry-After honoured: {gap:?}");
}

// ---------------------------------------------------------------------------------------
// run_query
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn run_query_completed_synchronously_returns_at_once() {
    let sim = Simulator::start_default().await.unwrap();
    let client = sim.omni_client().unwrap();
    sim.script_next_query_run(QueryRun::many([
        JobScript::succeed_after(ms(20)),
        JobScript::succeed_after(ms(40)),
    ]));
    let run = omni::run_query(&client, query_body(), &policy())
        .await
        .unwrap();
    assert_eq!(run.results.len(), 2);
    for result in &run.results {
        assert!(result.is_finished());
        assert_ne!(result.job_id, Uuid::nil());
        assert_sample_result(result.result_base64());
    }
    assert_eq!(sim.request_count(), 1, "{}", log(&sim.requests()));
    eprintln!(
        "run_query (synchronous) success: {} requests",
        sim.request_count()
    );
}

#[tokio::test]
async fn run_query_waits_for_the_jobs_a_408_names() {
    let sim = Simulator::start_default().await.unwrap();
    let client = sim.omni_client().unwrap();
    sim.script_next_query_run(QueryRun::one(JobScript::succeed_after(ms(1500))));
    let mut events = omni::run_query(&client, query_body(), &policy()).into_stream();
    let started = next_snapshot(&mut events).await;
    let pending = started.pending_job_ids();
    assert_eq!(pending.len(), 1, "the 408's remaining_job_ids: {started:?}");
    let run = final_snapshot(events).await;
    assert_eq!(run.results.len(), 1);
    assert_eq!(run.results[0].job_id, pending[0]);
    assert_sample_result(run.results[0].result_base64());

    let requests = sim.requests();
    assert_eq!(requests[0].status, Some(408), "{}", log(&requests));
    assert_eq!(posts(&requests).len(), 1);
    assert!(
        requests[1..]
            .iter()
            .all(|r| r.path == "/omni/v1/query/wait"),
        "{}",
        log(&requests)
    );
    eprintln!(
        "run_query (408 path) success: {} requests\n{}",
        requests.len(),
        log(&requests)
    );
}

#[tokio::test]
async fn run_query_keeps_synchronous_results_and_waits_for_job_ids() {
    let sim = Simulator::start_default().await.unwrap();
    let client = sim.omni_client().unwrap();
    sim.script_next_query_run(
        QueryRun::many([
            JobScript::succeed_after(ms(20)),
            JobScript::succeed_after(ms(1200)),
        ])
        .answering(RunningAnswer::JobIds),
    );
    let run = omni::run_query(&client, query_body(), &policy())
        .await
        .unwrap();
    assert_eq!(run.results.len(), 2);
    assert!(run.results.iter().all(|r| r.is_finished()));
    for r in &run.results {
        assert_sample_result(r.result_base64());
    }
    assert_eq!(sim.requests()[0].status, Some(200));
}

#[tokio::test]
async fn run_query_failure_names_the_job() {
    let sim = Simulator::start_default().await.unwrap();
    let client = sim.omni_client().unwrap();
    sim.script_next_query_run(QueryRun::one(JobScript::fail_after(
        ms(1200),
        "column not found",
    )));
    let err = omni::run_query(&client, query_body(), &policy())
        .await
        .unwrap_err();
    let (reason, last) = failed(err);
    let job = last.results[0].job_id;
    assert!(reason.contains(&job.to_string()), "{reason}");
    assert!(reason.contains("column not found"), "{reason}");
}

// ---------------------------------------------------------------------------------------
// ask_ai and cancel_ai_job
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn ask_ai_submits_waits_and_fetches_the_result() {
    let sim = Simulator::start_default().await.unwrap();
    let client = sim.omni_client().unwrap();
    sim.script_next_ai_job(
        JobScript::succeed_after(ms(1500)).with_result_summary("**Sunglasses** first"),
    );
    let mut events = omni::ask_ai(&client, ai_body("top products?"), &policy()).into_stream();
    let first = next_snapshot(&mut events).await;
    let job_id = first.job_id();
    assert!(first.job.is_none() && first.result.is_none());
    let answer = final_snapshot(events).await;
    assert_eq!(answer.job_id(), job_id);
    assert_eq!(
        answer.job.as_ref().unwrap().state,
        omni_sdk::types::AiJobState::Complete
    );
    let result = answer.result.as_ref().unwrap();
    assert!(!result.actions.is_empty());
    assert!(
        answer.markdown().unwrap().contains("Sunglasses"),
        "{answer:?}"
    );

    let requests = sim.requests();
    assert_eq!(posts(&requests).len(), 1);
    let result_requests = requests
        .iter()
        .filter(|r| r.path == format!("/omni/v1/ai/jobs/{job_id}/result"))
        .count();
    assert_eq!(result_requests, 1, "{}", log(&requests));
    eprintln!(
        "ask_ai success: {} requests\n{}",
        requests.len(),
        log(&requests)
    );
}

#[tokio::test]
async fn ask_ai_failure_carries_the_error_message() {
    let sim = Simulator::start_default().await.unwrap();
    let client = sim.omni_client().unwrap();
    sim.script_next_ai_job(JobScript::fail_after(ms(1200), "the model has no topic"));
    let err = omni::ask_ai(&client, ai_body("why?"), &policy())
        .await
        .unwrap_err();
    let (reason, last) = failed(err);
    assert!(reason.contains("the model has no topic"), "{reason}");
    assert!(last.result.is_none());
}

#[tokio::test]
async fn cancel_ai_job_ends_the_wait_as_cancelled() {
    let sim = Simulator::start_default().await.unwrap();
    let client = sim.omni_client().unwrap();
    sim.script_next_ai_job(JobScript::succeed_after(Duration::from_secs(30)));
    let mut events = omni::ask_ai(&client, ai_body("slow?"), &policy()).into_stream();
    let job_id = next_snapshot(&mut events).await.job_id();
    let cancelled = omni::cancel_ai_job(&client, job_id).await.unwrap();
    assert_eq!(cancelled.job_id, job_id);
    assert_eq!(cancelled.state.as_str(), "CANCELLED");
    let mut ending = None;
    while let Some(event) = events.next().await {
        if let Err(e) = event {
            ending = Some(e);
        }
    }
    let (reason, _) = failed(ending.expect("the wait ends with an error"));
    assert!(reason.contains("cancelled"), "{reason}");
    // Cancelling again is idempotent, as Omni documents: the current state.
    let again = omni::cancel_ai_job(&client, job_id).await.unwrap();
    assert_eq!(again.state.as_str(), "CANCELLED");
}

#[tokio::test]
async fn dropping_the_ai_wait_cancels_nothing() {
    let sim = Simulator::start_default().await.unwrap();
    let client = sim.omni_client().unwrap();
    sim.script_next_ai_job(JobScript::succeed_after(Duration::from_secs(30)));
    let mut events = omni::ask_ai(&client, ai_body("slow?"), &policy()).into_stream();
    let job_id = next_snapshot(&mut events).await.job_id();
    drop(events);
    tokio::time::sleep(ms(200)).await;
    assert!(
        sim.requests().iter().all(|r| !r.path.ends_with("/cancel")),
        "{}",
        log(&sim.requests())
    );
    let job = client.get_ai_job().job_id(job_id).send().await.unwrap();
    assert_ne!(job.state.as_str(), "CANCELLED");
}

// ---------------------------------------------------------------------------------------
// download_dashboard
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn download_dashboard_streams_the_file_once_ready() {
    let sim = Simulator::start_default().await.unwrap();
    let client = sim.omni_client().unwrap();
    let len = 3 * 1024 * 1024 + 17;
    sim.script_next_download(JobScript::succeed_after(ms(1500)).with_file_size(len));
    let mut file = Vec::new();
    let done = omni::download_dashboard(&client, "12db1a0a", pdf_body(), &mut file, &policy())
        .await
        .unwrap();
    let job_id = done.job_id.unwrap();
    assert_eq!(done.bytes_written, Some(len as u64));
    assert_eq!(done.content_type.as_deref(), Some("application/pdf"));
    assert_eq!(file.len(), len);
    assert!(file == download_file(job_id, "pdf", len), "the exact bytes");

    let requests = sim.requests();
    assert_eq!(posts(&requests).len(), 1);
    let file_polls: Vec<_> = requests
        .iter()
        .filter(|r| r.path == format!("/omni/v1/dashboards/12db1a0a/download/{job_id}"))
        .collect();
    assert!(
        file_polls.iter().any(|r| r.status == Some(202)),
        "{}",
        log(&requests)
    );
    assert_eq!(file_polls.last().unwrap().status, Some(200));
    eprintln!(
        "download_dashboard success: {} requests\n{}",
        requests.len(),
        log(&requests)
    );
}

#[tokio::test]
async fn a_failed_download_job_is_a_failed_error_and_writes_nothing() {
    let sim = Simulator::start_default().await.unwrap();
    let client = sim.omni_client().unwrap();
    sim.script_next_download(JobScript::fail_after(ms(1200), "renderer crashed"));
    let mut file = Vec::new();
    let err = omni::download_dashboard(&client, "12db1a0a", pdf_body(), &mut file, &policy())
        .await
        .unwrap_err();
    let (reason, last) = failed(err);
    assert!(reason.contains("410"), "{reason}");
    assert!(reason.contains("renderer crashed"), "{reason}");
    assert!(last.job_id.is_some());
    assert!(file.is_empty());
    assert!(sim.requests().iter().any(|r| r.status == Some(410)));
}

// ---------------------------------------------------------------------------------------
// The shared rate budget
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn clients_with_one_token_share_one_budget_and_other_tokens_do_not() {
    let sim = Simulator::start_default().await.unwrap();
    let a = sim.omni_client().unwrap();
    let b = sim.omni_client().unwrap();
    let other = omni_sdk::Client::builder()
        .base_url(sim.omni_base_url())
        .bearer_token("another-token")
        .build()
        .unwrap();
    assert!(omni::shared_budget(&a).same_budget(&omni::shared_budget(&b)));
    assert!(!omni::shared_budget(&a).same_budget(&omni::shared_budget(&other)));
    assert_eq!(omni::shared_budget(&a).limit(), omni::RATE_LIMIT_PER_MINUTE);
}

/// Omni's 60 requests per minute are per token: waits on one token draw from one budget by
/// default (a burst of 6, then one request per 60/54 s), and a caller can opt out.
#[tokio::test]
async fn waits_on_one_token_are_paced_by_the_shared_budget_unless_opted_out() {
    async fn eight_waits(opt_out: bool) -> Duration {
        let sim = Simulator::start_default().await.unwrap();
        let client = sim.omni_client().unwrap();
        let jobs: Vec<Uuid> = (0..8)
            .map(|_| sim.add_schema_refresh(JobScript::succeed_after(Duration::ZERO)))
            .collect();
        let waits = jobs.iter().map(|&job| {
            let poller = omni::wait_for_job(&client, job, &policy());
            let poller = if opt_out {
                poller.without_rate_budget()
            } else {
                poller
            };
            poller.into_future()
        });
        for done in futures_util::future::join_all(waits).await {
            done.unwrap();
        }
        let requests = sim.requests();
        assert_eq!(requests.len(), 8, "{}", log(&requests));
        requests[7].at - requests[0].at
    }
    let paced = eight_waits(false).await;
    // The 7th and 8th requests wait for the budget: about 1.1 s and 2.2 s.
    assert!(paced >= Duration::from_millis(2000), "paced: {paced:?}");
    let free = eight_waits(true).await;
    assert!(free < Duration::from_millis(1000), "opted out: {free:?}");
}
