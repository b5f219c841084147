//! Retailgrid jobs, and overflow from a server header.

use super::*;

// ---------------------------------------------------------------------------------------
// Retailgrid jobs
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn retailgrid_job_running_then_completed() {
    let server = MockServer::start_async().await;
    let id = Uuid::new_v4();
    let running = answer(&server, &rg_path(id), Some(2), |t| {
        t.status(200).json_body(rg_job(id, "running"))
    })
    .await;
    let completed = answer(&server, &rg_path(id), None, |t| {
        t.status(200).json_body(rg_job(id, "completed"))
    })
    .await;

    let client = retailgrid_client(&server);
    let started = Instant::now();
    let job = retailgrid::wait_for_job(&client, id, &quick())
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "no floor for Retailgrid"
    );
    assert_eq!(job.status, "completed");
    assert_eq!(job.job_id, id);
    assert_eq!(job.clone().into_inner().job_type, "csv_import");
    assert_eq!(running.calls_async().await, 2);
    assert_eq!(completed.calls_async().await, 1);
}

#[tokio::test]
async fn retailgrid_job_failed_reports_its_error_message() {
    let server = MockServer::start_async().await;
    let id = Uuid::new_v4();
    answer(&server, &rg_path(id), Some(1), |t| {
        t.status(200).json_body(rg_job(id, "processing"))
    })
    .await;
    answer(&server, &rg_path(id), None, |t| {
        t.status(200).json_body(with(
            rg_job(id, "FAILED"),
            "error_message",
            json!("row 12: unknown SKU"),
        ))
    })
    .await;

    let client = retailgrid_client(&server);
    match retailgrid::wait_for_job(&client, id, &quick()).await {
        Err(PollError::Failed {
            attempts,
            reason,
            last,
            ..
        }) => {
            assert_eq!(attempts, 2);
            assert_eq!(reason, "row 12: unknown SKU");
            assert_eq!(last.status, "FAILED");
        }
        other => panic!("expected Failed, got {other:?}"),
    }
}

#[tokio::test]
async fn retailgrid_job_completed_with_an_error_message_is_still_a_success() {
    let server = MockServer::start_async().await;
    let id = Uuid::new_v4();
    answer(&server, &rg_path(id), None, |t| {
        t.status(200).json_body(with(
            rg_job(id, "completed"),
            "error_message",
            json!("3 rows skipped"),
        ))
    })
    .await;

    let client = retailgrid_client(&server);
    let job = retailgrid::wait_for_job(&client, id, &quick())
        .await
        .unwrap();
    assert_eq!(job.status, "completed");
    assert_eq!(job.error_message.as_deref(), Some("3 rows skipped"));
}

#[tokio::test]
async fn retailgrid_progress_is_reported_as_a_fraction() {
    let server = MockServer::start_async().await;
    let id = Uuid::new_v4();
    answer(&server, &rg_path(id), Some(1), |t| {
        t.status(200)
            .json_body(with(rg_job(id, "running"), "progress", json!(40)))
    })
    .await;
    answer(&server, &rg_path(id), None, |t| {
        t.status(200)
            .json_body(with(rg_job(id, "completed"), "progress", json!(100)))
    })
    .await;

    let client = retailgrid_client(&server);
    let mut events = retailgrid::wait_for_job(&client, id, &quick()).into_stream();
    let mut progress = Vec::new();
    while let Some(event) = events.next().await {
        progress.push(event.unwrap().outcome.unwrap().progress());
    }
    assert_eq!(progress, [Some(0.4), Some(1.0)]);
}

#[tokio::test]
async fn retailgrid_custom_status_sets() {
    let server = MockServer::start_async().await;
    let (imported, rejected) = (Uuid::new_v4(), Uuid::new_v4());
    answer(&server, &rg_path(imported), Some(1), |t| {
        t.status(200).json_body(rg_job(imported, "validating"))
    })
    .await;
    answer(&server, &rg_path(imported), None, |t| {
        t.status(200).json_body(rg_job(imported, "Imported"))
    })
    .await;
    answer(&server, &rg_path(rejected), None, |t| {
        t.status(200).json_body(rg_job(rejected, "REJECTED"))
    })
    .await;

    let client = retailgrid_client(&server);
    let sets = StatusSets::default()
        .with_success(["imported"])
        .with_failure(["rejected"]);
    let job = retailgrid::wait_for_job_with(&client, imported, &quick(), sets.clone())
        .await
        .unwrap();
    assert_eq!(job.status, "Imported");

    match retailgrid::wait_for_job_with(&client, rejected, &quick(), sets).await {
        Err(PollError::Failed { reason, .. }) => {
            assert!(reason.contains("REJECTED"), "{reason}");
        }
        other => panic!("expected Failed, got {other:?}"),
    }

    // Without the custom sets, "Imported" is just pending.
    let result = retailgrid::wait_for_job(&client, imported, &quick().max_attempts(3)).await;
    assert!(
        matches!(
            &result,
            Err(PollError::AttemptsExhausted { attempts: 3, .. })
        ),
        "{result:?}"
    );
}

#[tokio::test]
async fn retailgrid_429_retry_after_overrides_a_fast_policy() {
    let server = MockServer::start_async().await;
    let arrivals = record_arrivals(&server).await;
    let id = Uuid::new_v4();
    answer(&server, &rg_path(id), Some(1), |t| {
        t.status(429)
            .header("Retry-After", "1")
            .json_body(json!({"detail": "rate limited"}))
    })
    .await;
    answer(&server, &rg_path(id), None, |t| {
        t.status(200).json_body(rg_job(id, "completed"))
    })
    .await;

    let client = retailgrid_client(&server);
    let job = retailgrid::wait_for_job(&client, id, &quick())
        .await
        .unwrap();
    assert_eq!(job.status, "completed");
    let gaps = gaps(&arrivals);
    assert!(
        gaps.len() == 1 && gaps[0] >= Duration::from_secs(1),
        "Retry-After: 1 not honoured over a 10 ms policy: {gaps:?}"
    );
}

#[tokio::test]
async fn retailgrid_pollers_sharing_a_budget_stay_within_it() {
    let server = MockServer::start_async().await;
    let arrivals = record_arrivals(&server).await;
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    for id in [a, b] {
        answer(&server, &rg_path(id), None, |t| {
            t.status(200).json_body(rg_job(id, "running"))
        })
        .await;
    }

    let client = retailgrid_client(&server);
    let per = Duration::from_secs(2);
    let budget = RateBudget::new(10, per);
    let policy = quick().deadline(Duration::from_secs(4));
    let (ra, rb) = tokio::join!(
        retailgrid::wait_for_job(&client, a, &policy)
            .rate_budget(budget.clone())
            .into_future(),
        retailgrid::wait_for_job(&client, b, &policy)
            .rate_budget(budget.clone())
            .into_future(),
    );
    for r in [ra, rb] {
        assert!(
            matches!(r, Err(PollError::DeadlineExceeded { .. })),
            "{r:?}"
        );
    }

    let mut times = arrivals.lock().unwrap().clone();
    times.sort();
    for (i, start) in times.iter().enumerate() {
        let in_window = times[i..].iter().take_while(|t| **t - *start < per).count();
        assert!(
            in_window <= 10,
            "{in_window} requests within 2 s of request #{i} (of {})",
            times.len()
        );
    }
    // Not starved either: a burst of 5, then one every 400 ms for about 3 s.
    assert!(times.len() >= 10, "only {} requests", times.len());
}

#[tokio::test]
async fn retailgrid_404_after_the_grace_is_a_request_error() {
    let server = MockServer::start_async().await;
    let id = Uuid::new_v4();
    let missing = answer(&server, &rg_path(id), None, |t| {
        t.status(404).json_body(json!({"detail": "Job not found"}))
    })
    .await;

    let client = retailgrid_client(&server);
    let policy = quick().not_found_grace(Duration::from_millis(100));
    let result = retailgrid::wait_for_job(&client, id, &policy).await;
    let hits = missing.calls_async().await;
    match result {
        Err(PollError::Request {
            attempts,
            status,
            message,
            elapsed,
            ..
        }) => {
            assert!(attempts >= 2, "404s within 100 ms are retried");
            assert_eq!(usize::try_from(attempts).unwrap(), hits);
            assert_eq!(status, Some(404));
            assert_eq!(message, "Job not found");
            assert!(elapsed >= Duration::from_millis(100));
        }
        other => panic!("expected Request, got {other:?}"),
    }
}

#[tokio::test]
async fn retailgrid_body_that_is_not_json_is_retried() {
    let server = MockServer::start_async().await;
    let id = Uuid::new_v4();
    let garbled = answer(&server, &rg_path(id), Some(1), |t| {
        t.status(200)
            .header("content-type", "application/json")
            .body("{\"job_id\": ")
    })
    .await;
    let completed = answer(&server, &rg_path(id), None, |t| {
        t.status(200).json_body(rg_job(id, "completed"))
    })
    .await;

    let client = retailgrid_client(&server);
    let mut events = retailgrid::wait_for_job(&client, id, &quick()).into_stream();
    let first = events.next().await.unwrap().unwrap();
    let error = first.outcome.unwrap_err();
    assert_eq!(error.kind, poll_helpers::FetchErrorKind::Transient);
    assert!(first.next_delay.is_some());
    let second = events.next().await.unwrap().unwrap();
    assert_eq!(second.outcome.unwrap().status, "completed");
    assert!(events.next().await.is_none());
    assert_eq!(garbled.calls_async().await, 1);
    assert_eq!(completed.calls_async().await, 1);
}

#[tokio::test]
async fn an_unreachable_server_is_retried_until_the_deadline() {
    // A port nothing listens on any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = retailgrid_sdk::Client::builder()
        .base_url(format!("http://127.0.0.1:{port}"))
        .build()
        .unwrap();
    let deadline = Duration::from_millis(500);
    let started = Instant::now();
    let result =
        retailgrid::wait_for_job(&client, Uuid::new_v4(), &quick().deadline(deadline)).await;
    assert!(started.elapsed() < deadline + Duration::from_millis(200));
    match result {
        Err(PollError::DeadlineExceeded {
            attempts,
            last,
            last_error,
            ..
        }) => {
            assert!(attempts >= 2, "connection errors are retried ({attempts})");
            assert!(last.is_none());
            let e = last_error.unwrap();
            assert_eq!(e.kind, poll_helpers::FetchErrorKind::Transient);
            assert_eq!(e.status, None);
        }
        other => panic!("expected DeadlineExceeded, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// Overflow from a server header: found while writing these tests
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_huge_retry_after_from_the_server_does_not_panic_a_budgeted_poller() {
    let server = MockServer::start_async().await;
    let id = Uuid::new_v4();
    answer(&server, &rg_path(id), None, |t| {
        t.status(429)
            .header("Retry-After", u64::MAX.to_string())
            .json_body(json!({"detail": "rate limited"}))
    })
    .await;
    let client = retailgrid_client(&server);
    let result = retailgrid::wait_for_job(&client, id, &quick())
        .rate_budget(RateBudget::per_minute(60))
        .await;
    assert!(
        matches!(&result, Err(PollError::DeadlineExceeded { reason, .. }) if reason.contains("Retry-After")),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_huge_retry_after_ms_from_the_server_does_not_panic() {
    let server = MockServer::start_async().await;
    let id = Uuid::new_v4();
    answer(&server, &status_path(id), None, |t| {
        t.status(429)
            .header("retry-after-ms", "1e30")
            .json_body(json!({"message": "Too many requests"}))
    })
    .await;
    let client = omni_client(&server);
    let result = omni::wait_for_job(&client, id, &quick()).await;
    assert!(
        matches!(&result, Err(PollError::DeadlineExceeded { .. })),
        "{result:?}"
    );
}

// ---------------------------------------------------------------------------------------
// Statuses outside the sets, progress outside 0..=100 (issue 14, item 2)
// ---------------------------------------------------------------------------------------

/// The warnings logged on this thread while the guard lives (the tests run on tokio's
/// current-thread runtime, so the poller logs here).
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn capture() -> (Self, tracing::subscriber::DefaultGuard) {
        let logs = Logs::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::WARN)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        (logs, tracing::subscriber::set_default(subscriber))
    }

    fn warnings(&self) -> Vec<String> {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .lines()
            .filter(|l| l.contains("WARN"))
            .map(str::to_owned)
            .collect()
    }
}

fn completed(body: Value) -> Value {
    with(body, "completed_at", json!("2025-01-15T10:05:00Z"))
}

#[tokio::test]
async fn an_unknown_status_with_completed_at_is_a_success_that_keeps_row_errors() {
    let (logs, _guard) = Logs::capture();
    let server = MockServer::start_async().await;
    let id = Uuid::new_v4();
    answer(&server, &rg_path(id), Some(1), |t| {
        t.status(200).json_body(rg_job(id, "running"))
    })
    .await;
    let finished = answer(&server, &rg_path(id), None, |t| {
        t.status(200).json_body(completed(with(
            rg_job(id, "Partially_Imported"),
            "error_message",
            json!("2 rows skipped"),
        )))
    })
    .await;

    let client = retailgrid_client(&server);
    let started = Instant::now();
    let job = retailgrid::wait_for_job(&client, id, &quick())
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "not the deadline"
    );
    assert_eq!(job.status, "Partially_Imported");
    assert_eq!(job.error_message.as_deref(), Some("2 rows skipped"));
    assert_eq!(finished.calls_async().await, 1);
    let warnings = logs.warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("Partially_Imported") && warnings[0].contains("success"),
        "{warnings:?}"
    );
}

#[tokio::test]
async fn completed_with_errors_names_an_error_so_it_is_a_failure() {
    // The rule is the status's name: "error" in it makes it a failure, with the job's
    // error_message as the reason; the job is still there to read.
    let (logs, _guard) = Logs::capture();
    let server = MockServer::start_async().await;
    let id = Uuid::new_v4();
    answer(&server, &rg_path(id), Some(1), |t| {
        t.status(200).json_body(rg_job(id, "running"))
    })
    .await;
    answer(&server, &rg_path(id), None, |t| {
        t.status(200).json_body(completed(with(
            rg_job(id, "completed_with_errors"),
            "error_message",
            json!("2 rows skipped"),
        )))
    })
    .await;
    let client = retailgrid_client(&server);
    let started = Instant::now();
    match retailgrid::wait_for_job(&client, id, &quick()).await {
        Err(PollError::Failed {
            attempts,
            reason,
            last,
            ..
        }) => {
            assert_eq!(attempts, 2);
            assert_eq!(reason, "2 rows skipped");
            assert_eq!(last.status, "completed_with_errors");
        }
        other => panic!("expected Failed, got {other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "not the deadline"
    );
    let warnings = logs.warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("completed_with_errors") && warnings[0].contains("failure"),
        "{warnings:?}"
    );
}

#[tokio::test]
async fn an_unknown_status_that_names_a_failure_with_completed_at_is_a_failure() {
    let (logs, _guard) = Logs::capture();
    let server = MockServer::start_async().await;
    let (aborted, rejected) = (Uuid::new_v4(), Uuid::new_v4());
    answer(&server, &rg_path(aborted), None, |t| {
        t.status(200).json_body(completed(with(
            rg_job(aborted, "aborted"),
            "error_message",
            json!("stopped by an administrator"),
        )))
    })
    .await;
    answer(&server, &rg_path(rejected), None, |t| {
        t.status(200)
            .json_body(completed(rg_job(rejected, "Import_REJECTED")))
    })
    .await;

    let client = retailgrid_client(&server);
    match retailgrid::wait_for_job(&client, aborted, &quick()).await {
        Err(PollError::Failed {
            attempts, reason, ..
        }) => {
            assert_eq!(attempts, 1);
            assert_eq!(reason, "stopped by an administrator");
        }
        other => panic!("expected Failed, got {other:?}"),
    }
    match retailgrid::wait_for_job(&client, rejected, &quick()).await {
        Err(PollError::Failed { reason, .. }) => {
            assert!(reason.contains("Import_REJECTED"), "{reason}");
        }
        other => panic!("expected Failed, got {other:?}"),
    }
    let warnings = logs.warnings();
    assert_eq!(warnings.len(), 2, "one per wait: {warnings:?}");
    assert!(
        warnings[0].contains("\"aborted\"") && warnings[0].contains("failure"),
        "{warnings:?}"
    );
    assert!(warnings[1].contains("Import_REJECTED"), "{warnings:?}");
}

#[tokio::test]
async fn an_unknown_status_without_completed_at_is_pending_and_warned_once() {
    let (logs, _guard) = Logs::capture();
    let server = MockServer::start_async().await;
    let id = Uuid::new_v4();
    // "aborting" sounds like a failure, but the job has not completed.
    let unknown = answer(&server, &rg_path(id), None, |t| {
        t.status(200).json_body(rg_job(id, "aborting"))
    })
    .await;
    let client = retailgrid_client(&server);
    let result = retailgrid::wait_for_job(&client, id, &quick().max_attempts(3)).await;
    assert!(
        matches!(
            &result,
            Err(PollError::AttemptsExhausted { attempts: 3, .. })
        ),
        "{result:?}"
    );
    assert_eq!(unknown.calls_async().await, 3);
    let warnings = logs.warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("aborting") && warnings[0].contains("pending"),
        "{warnings:?}"
    );
}

#[tokio::test]
async fn known_statuses_keep_their_sets_whatever_completed_at_says() {
    let server = MockServer::start_async().await;
    let (queued, imported) = (Uuid::new_v4(), Uuid::new_v4());
    answer(&server, &rg_path(queued), None, |t| {
        t.status(200).json_body(completed(rg_job(queued, "queued")))
    })
    .await;
    answer(&server, &rg_path(imported), None, |t| {
        t.status(200)
            .json_body(completed(rg_job(imported, "imported_with_errors")))
    })
    .await;
    let client = retailgrid_client(&server);
    let result = retailgrid::wait_for_job(&client, queued, &quick().max_attempts(2)).await;
    assert!(
        matches!(
            &result,
            Err(PollError::AttemptsExhausted { attempts: 2, .. })
        ),
        "a pending status stays pending: {result:?}"
    );
    // A configured failure status wins over the name.
    let sets = StatusSets::default().with_failure(["imported_with_errors"]);
    let result = retailgrid::wait_for_job_with(&client, imported, &quick(), sets).await;
    assert!(
        matches!(&result, Err(PollError::Failed { .. })),
        "{result:?}"
    );
}

#[tokio::test]
async fn progress_outside_0_to_100_is_not_reported_and_warned_once() {
    let (logs, _guard) = Logs::capture();
    let server = MockServer::start_async().await;
    let id = Uuid::new_v4();
    for p in [150, -5] {
        answer(&server, &rg_path(id), Some(1), move |t| {
            t.status(200)
                .json_body(with(rg_job(id, "running"), "progress", json!(p)))
        })
        .await;
    }
    answer(&server, &rg_path(id), Some(1), |t| {
        t.status(200)
            .json_body(with(rg_job(id, "running"), "progress", json!(40)))
    })
    .await;
    answer(&server, &rg_path(id), None, |t| {
        t.status(200)
            .json_body(with(rg_job(id, "completed"), "progress", json!(100)))
    })
    .await;

    let client = retailgrid_client(&server);
    let mut events = retailgrid::wait_for_job(&client, id, &quick()).into_stream();
    let (mut progress, mut raw) = (Vec::new(), Vec::new());
    while let Some(event) = events.next().await {
        let job = event.unwrap().outcome.unwrap();
        progress.push(job.progress());
        raw.push(job.out_of_range_progress());
    }
    assert_eq!(progress, [None, None, Some(0.4), Some(1.0)]);
    assert_eq!(raw, [Some(150), Some(-5), None, None]);
    let warnings = logs.warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("150"), "{warnings:?}");
}
