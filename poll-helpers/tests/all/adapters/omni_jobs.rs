//! Omni schema refresh, AI and query jobs.

use super::*;

// ---------------------------------------------------------------------------------------
// Omni schema refresh jobs
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn omni_job_running_then_completed_at_most_once_per_second() {
    let server = MockServer::start_async().await;
    let arrivals = record_arrivals(&server).await;
    let id = Uuid::new_v4();
    let running = answer(&server, &status_path(id), Some(1), |t| {
        t.status(200).json_body(omni_status(id, "RUNNING"))
    })
    .await;
    let completed = answer(&server, &status_path(id), None, |t| {
        t.status(200).json_body(omni_status(id, "COMPLETED"))
    })
    .await;

    let client = omni_client(&server);
    let job = omni::wait_for_job(&client, id, &quick()).await.unwrap();
    assert_eq!(job.status, Some(GetJobStatusResponseStatus::Completed));
    assert_eq!(job.job_id, Some(id));
    assert_eq!(running.calls_async().await, 1);
    assert_eq!(completed.calls_async().await, 1);
    // The policy asks for 10 ms; Omni's floor is 1 s.
    let gaps = gaps(&arrivals);
    assert_eq!(gaps.len(), 1);
    assert!(gaps[0] >= omni::MIN_POLL_INTERVAL, "{gaps:?}");
}

#[tokio::test]
async fn omni_job_pending_then_failed_is_a_failed_error() {
    let server = MockServer::start_async().await;
    let id = Uuid::new_v4();
    answer(&server, &status_path(id), Some(1), |t| {
        t.status(200).json_body(omni_status(id, "IN_PROGRESS"))
    })
    .await;
    let failed = answer(&server, &status_path(id), None, |t| {
        t.status(200).json_body(omni_status(id, "FAILED"))
    })
    .await;

    let client = omni_client(&server);
    let result = omni::wait_for_job(&client, id, &quick()).await;
    match result {
        Err(PollError::Failed {
            job,
            attempts,
            last,
            reason,
            ..
        }) => {
            assert_eq!(job, id.to_string());
            assert_eq!(attempts, 2);
            assert_eq!(last.status, Some(GetJobStatusResponseStatus::Failed));
            assert!(reason.contains("FAILED"), "{reason}");
            assert!(reason.contains("refresh_schema"), "{reason}");
        }
        other => panic!("expected Failed, got {other:?}"),
    }
    assert_eq!(failed.calls_async().await, 1);
}

#[tokio::test]
async fn omni_job_429_with_retry_after_waits_that_long() {
    let server = MockServer::start_async().await;
    let arrivals = record_arrivals(&server).await;
    let id = Uuid::new_v4();
    let limited = answer(&server, &status_path(id), Some(1), |t| {
        t.status(429)
            .header("Retry-After", "2")
            .json_body(json!({"message": "Too many requests"}))
    })
    .await;
    let completed = answer(&server, &status_path(id), None, |t| {
        t.status(200).json_body(omni_status(id, "COMPLETED"))
    })
    .await;

    let client = omni_client(&server);
    let mut events = omni::wait_for_job(&client, id, &quick()).into_stream();
    let first = events.next().await.unwrap().unwrap();
    let error = first.outcome.as_ref().unwrap_err();
    assert_eq!(error.status, Some(429));
    assert_eq!(error.retry_after, Some(Duration::from_secs(2)));
    assert_eq!(first.next_delay, Some(Duration::from_secs(2)));
    let second = events.next().await.unwrap().unwrap();
    assert_eq!(
        second.outcome.unwrap().status,
        Some(GetJobStatusResponseStatus::Completed)
    );
    assert!(events.next().await.is_none());

    assert_eq!(limited.calls_async().await, 1);
    assert_eq!(completed.calls_async().await, 1);
    let gaps = gaps(&arrivals);
    assert!(
        gaps.len() == 1 && gaps[0] >= Duration::from_secs(2),
        "Retry-After: 2 not honoured: {gaps:?}"
    );
}

#[tokio::test]
async fn omni_job_500_is_retried() {
    let server = MockServer::start_async().await;
    let id = Uuid::new_v4();
    let broken = answer(&server, &status_path(id), Some(1), |t| {
        t.status(500).body("<html>Internal Server Error</html>")
    })
    .await;
    let completed = answer(&server, &status_path(id), None, |t| {
        t.status(200).json_body(omni_status(id, "COMPLETED"))
    })
    .await;

    let client = omni_client(&server);
    let job = omni::wait_for_job(&client, id, &quick()).await.unwrap();
    assert_eq!(job.status, Some(GetJobStatusResponseStatus::Completed));
    assert_eq!(broken.calls_async().await, 1);
    assert_eq!(completed.calls_async().await, 1);
}

#[tokio::test]
async fn omni_job_401_fails_fast_with_one_request() {
    let server = MockServer::start_async().await;
    let id = Uuid::new_v4();
    let denied = answer(&server, &status_path(id), None, |t| {
        t.status(401)
            .json_body(json!({"error": "Unauthorized", "message": "Invalid API key"}))
    })
    .await;

    let client = omni_client(&server);
    let started = Instant::now();
    let result = omni::wait_for_job(&client, id, &quick()).await;
    assert!(started.elapsed() < Duration::from_millis(900), "no retry");
    match result {
        Err(PollError::Request {
            attempts,
            status,
            message,
            last,
            ..
        }) => {
            assert_eq!(attempts, 1);
            assert_eq!(status, Some(401));
            assert!(message.contains("Invalid API key"), "{message}");
            assert!(last.is_none());
        }
        other => panic!("expected Request, got {other:?}"),
    }
    assert_eq!(denied.calls_async().await, 1);
}

#[tokio::test]
async fn omni_job_with_an_unknown_status_keeps_polling_until_the_deadline() {
    let server = MockServer::start_async().await;
    let id = Uuid::new_v4();
    let queued = answer(&server, &status_path(id), None, |t| {
        t.status(200).json_body(omni_status(id, "QUEUED_FOR_RETRY"))
    })
    .await;

    let client = omni_client(&server);
    let deadline = Duration::from_secs(3);
    let started = Instant::now();
    let result = omni::wait_for_job(&client, id, &quick().deadline(deadline)).await;
    assert!(started.elapsed() <= deadline, "{:?}", started.elapsed());
    let hits = queued.calls_async().await;
    match result {
        Err(PollError::DeadlineExceeded {
            attempts,
            elapsed,
            last,
            last_error,
            ..
        }) => {
            assert!(attempts >= 2, "polled only {attempts} time(s)");
            assert_eq!(usize::try_from(attempts).unwrap(), hits);
            assert!(elapsed <= deadline);
            assert!(last_error.is_none());
            assert_eq!(
                last.unwrap().status,
                Some(GetJobStatusResponseStatus::Unknown(
                    "QUEUED_FOR_RETRY".into()
                ))
            );
        }
        other => panic!("expected DeadlineExceeded, got {other:?}"),
    }
}

#[tokio::test]
async fn omni_job_404_within_the_grace_then_found() {
    let server = MockServer::start_async().await;
    let id = Uuid::new_v4();
    let missing = answer(&server, &status_path(id), Some(1), |t| {
        t.status(404).json_body(json!({"message": "Job not found"}))
    })
    .await;
    let completed = answer(&server, &status_path(id), None, |t| {
        t.status(200).json_body(omni_status(id, "COMPLETED"))
    })
    .await;

    let client = omni_client(&server);
    let policy = quick().not_found_grace(Duration::from_secs(4));
    let job = omni::wait_for_job(&client, id, &policy).await.unwrap();
    assert_eq!(job.status, Some(GetJobStatusResponseStatus::Completed));
    assert_eq!(missing.calls_async().await, 1);
    assert_eq!(completed.calls_async().await, 1);
}

#[tokio::test]
async fn omni_job_404_after_the_grace_is_a_request_error() {
    let server = MockServer::start_async().await;
    let id = Uuid::new_v4();
    let missing = answer(&server, &status_path(id), None, |t| {
        t.status(404).json_body(json!({"message": "Job not found"}))
    })
    .await;

    let client = omni_client(&server);
    let policy = quick().not_found_grace(Duration::ZERO);
    let result = omni::wait_for_job(&client, id, &policy).await;
    assert!(
        matches!(&result, Err(PollError::Request { status: Some(404), attempts: 1, message, .. }) if message.contains("Job not found")),
        "{result:?}"
    );
    assert_eq!(missing.calls_async().await, 1);
}

#[tokio::test]
async fn omni_job_of_another_type_is_a_request_error_explaining_the_endpoint() {
    let server = MockServer::start_async().await;
    let id = Uuid::new_v4();
    let unsupported = answer(&server, &status_path(id), None, |t| {
        t.status(403).json_body(
            json!({"error": "Forbidden", "message": "Job type not supported for status checks"}),
        )
    })
    .await;

    let client = omni_client(&server);
    let result = omni::wait_for_job(&client, id, &quick()).await;
    match result {
        Err(PollError::Request {
            status, message, ..
        }) => {
            assert_eq!(status, Some(403));
            assert!(
                message.contains("only tracks schema refresh jobs"),
                "{message}"
            );
            assert!(
                message.contains("Job type not supported for status checks"),
                "the server's words are kept: {message}"
            );
        }
        other => panic!("expected Request, got {other:?}"),
    }
    assert_eq!(unsupported.calls_async().await, 1);
}

#[tokio::test]
async fn omni_job_unsupported_type_as_400_and_plain_403_are_told_apart() {
    let server = MockServer::start_async().await;
    let (other_type, forbidden) = (Uuid::new_v4(), Uuid::new_v4());
    answer(&server, &status_path(other_type), None, |t| {
        t.status(400)
            .json_body(json!({"detail": "Unsupported job type", "status": 400}))
    })
    .await;
    answer(&server, &status_path(forbidden), None, |t| {
        t.status(403)
            .json_body(json!({"error": "Forbidden", "message": "Forbidden"}))
    })
    .await;

    let client = omni_client(&server);
    let result = omni::wait_for_job(&client, other_type, &quick()).await;
    assert!(
        matches!(&result, Err(PollError::Request { status: Some(400), message, .. }) if message.contains("only tracks schema refresh jobs")),
        "{result:?}"
    );
    let result = omni::wait_for_job(&client, forbidden, &quick()).await;
    assert!(
        matches!(&result, Err(PollError::Request { status: Some(403), message, .. })
            if message.contains("permission") && !message.contains("schema refresh")),
        "{result:?}"
    );
}

// ---------------------------------------------------------------------------------------
// Omni AI jobs
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn omni_ai_job_queued_then_complete_carries_the_summary() {
    let server = MockServer::start_async().await;
    let id = Uuid::new_v4();
    let queued = answer(&server, &ai_path(id), Some(1), |t| {
        t.status(200).json_body(ai_job(id, "QUEUED"))
    })
    .await;
    let complete = answer(&server, &ai_path(id), None, |t| {
        t.status(200).json_body(with(
            with(
                ai_job(id, "COMPLETE"),
                "resultSummary",
                json!("Top product: Widget ($1.2M)"),
            ),
            "completedAt",
            json!("2025-01-15T10:00:30.000Z"),
        ))
    })
    .await;

    let client = omni_client(&server);
    let job = omni::wait_for_ai_job(&client, id, &quick()).await.unwrap();
    assert_eq!(job.state, AiJobState::Complete);
    assert_eq!(
        job.result_summary.as_deref(),
        Some("Top product: Widget ($1.2M)")
    );
    assert_eq!(queued.calls_async().await, 1);
    assert_eq!(complete.calls_async().await, 1);
}

#[tokio::test]
async fn omni_ai_job_failed_reports_the_error_message() {
    let server = MockServer::start_async().await;
    let id = Uuid::new_v4();
    let failed = answer(&server, &ai_path(id), None, |t| {
        t.status(200).json_body(with(
            ai_job(id, "FAILED"),
            "error",
            json!({"code": "MODEL_UNAVAILABLE", "message": "The model could not be loaded"}),
        ))
    })
    .await;

    let client = omni_client(&server);
    match omni::wait_for_ai_job(&client, id, &quick()).await {
        Err(PollError::Failed {
            attempts,
            reason,
            last,
            ..
        }) => {
            assert_eq!(attempts, 1);
            assert!(reason.contains("The model could not be loaded"), "{reason}");
            assert!(reason.contains("MODEL_UNAVAILABLE"), "{reason}");
            assert_eq!(last.state, AiJobState::Failed);
        }
        other => panic!("expected Failed, got {other:?}"),
    }
    assert_eq!(failed.calls_async().await, 1);
}

#[tokio::test]
async fn omni_ai_job_cancelled_is_a_failure_naming_who_cancelled() {
    let server = MockServer::start_async().await;
    let id = Uuid::new_v4();
    let by = Uuid::new_v4();
    answer(&server, &ai_path(id), None, |t| {
        t.status(200).json_body(with(
            with(ai_job(id, "CANCELLED"), "cancelledBy", json!(by)),
            "cancelledAt",
            json!("2025-01-15T10:00:10.000Z"),
        ))
    })
    .await;

    let client = omni_client(&server);
    match omni::wait_for_ai_job(&client, id, &quick()).await {
        Err(PollError::Failed { reason, last, .. }) => {
            assert!(reason.contains("cancelled"), "{reason}");
            assert!(reason.contains(&by.to_string()), "{reason}");
            assert_eq!(last.state, AiJobState::Cancelled);
        }
        other => panic!("expected Failed, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// Omni query jobs (/v1/query/wait)
// ---------------------------------------------------------------------------------------

pub(super) async fn query_wait<'a>(
    server: &'a MockServer,
    ids: &[Uuid],
    times: Option<usize>,
    respond: impl FnOnce(Then) -> Then,
) -> Mock<'a> {
    let ids = json_ids(ids);
    answer_when(
        server,
        times,
        |when| {
            when.method(GET)
                .path("/v1/query/wait")
                .query_param("job_ids", ids)
        },
        respond,
    )
    .await
}

#[tokio::test]
async fn omni_queries_are_collected_over_rounds_of_remaining_job_ids() {
    let server = MockServer::start_async().await;
    let (a, b) = two_ids();
    let timed_out = query_wait(&server, &[a, b], Some(1), |t| {
        t.status(200)
            .json_body(json!({"timed_out": true, "remaining_job_ids": [a, b]}))
    })
    .await;
    let a_done = query_wait(&server, &[a, b], Some(1), |t| {
        t.status(200).json_body(
            json!({"job_id": a, "status": "COMPLETE", "result": "QVJST1cx", "timed_out": false}),
        )
    })
    .await;
    let b_done = query_wait(&server, &[b], Some(1), |t| {
        t.status(200).json_body(
            json!({"job_id": b, "status": "COMPLETE", "result": "QVJST1cy", "timed_out": false}),
        )
    })
    .await;

    let client = omni_client(&server);
    let mut events = omni::wait_for_queries(&client, &[a, b], &quick()).into_stream();
    let mut progress = Vec::new();
    let mut last: Option<BTreeMap<Uuid, QueryResult>> = None;
    while let Some(event) = events.next().await {
        let snapshot = event.unwrap().outcome.unwrap();
        progress.push(snapshot.progress());
        last = Some(snapshot);
    }
    assert_eq!(progress, [Some(0.0), Some(0.5), Some(1.0)]);
    let results = last.unwrap();
    assert_eq!(results.len(), 2);
    assert_eq!(results[&a].result_base64(), Some("QVJST1cx"));
    assert_eq!(results[&b].result_base64(), Some("QVJST1cy"));
    assert_eq!(results[&a].job_id, a);
    assert!(results.values().all(QueryResult::is_finished));
    assert_eq!(timed_out.calls_async().await, 1);
    assert_eq!(a_done.calls_async().await, 1);
    assert_eq!(b_done.calls_async().await, 1);
}

/// Omni's full document answers `{results: [...]}`: each result is read by its `job_id`,
/// and a job absent from `results` is asked again.
#[tokio::test]
async fn omni_queries_read_the_full_documents_results_shape() {
    let server = MockServer::start_async().await;
    let (a, b) = two_ids();
    let a_done = query_wait(&server, &[a, b], Some(1), |t| {
        t.status(200).json_body(json!({"results": [
            {"job_id": a, "status": "COMPLETE", "result": "QVJST1cx"}
        ]}))
    })
    .await;
    let b_done = query_wait(&server, &[b], Some(1), |t| {
        t.status(200).json_body(json!({"results": [
            {"job_id": b, "status": "COMPLETE", "result": "QVJST1cy"}
        ]}))
    })
    .await;
    let client = omni_client(&server);
    let results = omni::wait_for_queries(&client, &[a, b], &quick())
        .await
        .unwrap();
    assert_eq!(results[&a].result_base64(), Some("QVJST1cx"));
    assert_eq!(results[&b].result_base64(), Some("QVJST1cy"));
    assert_eq!(a_done.calls_async().await, 1);
    assert_eq!(b_done.calls_async().await, 1);
}

#[tokio::test]
async fn omni_query_404_after_the_grace_keeps_the_results_collected_so_far() {
    let server = MockServer::start_async().await;
    let (a, b) = two_ids();
    let a_done = query_wait(&server, &[a, b], None, |t| {
        t.status(200).json_body(
            json!({"job_id": a, "status": "COMPLETE", "result": "QVJST1cx", "timed_out": false}),
        )
    })
    .await;
    let b_gone = query_wait(&server, &[b], None, |t| {
        t.status(404)
            .json_body(json!({"detail": "Job not found", "status": 404}))
    })
    .await;

    let client = omni_client(&server);
    let policy = quick().not_found_grace(Duration::ZERO);
    match omni::wait_for_queries(&client, &[a, b], &policy).await {
        Err(PollError::Request {
            attempts,
            status,
            message,
            last,
            ..
        }) => {
            assert_eq!(attempts, 2);
            assert_eq!(status, Some(404));
            assert!(message.contains(&b.to_string()), "{message}");
            assert!(message.contains("Job not found"), "{message}");
            let so_far = last.expect("the results collected before the 404");
            assert_eq!(so_far[&a].result_base64(), Some("QVJST1cx"));
            assert!(!so_far[&b].is_finished());
        }
        other => panic!("expected Request, got {other:?}"),
    }
    assert_eq!(a_done.calls_async().await, 1);
    assert_eq!(b_gone.calls_async().await, 1);
}

#[tokio::test]
async fn omni_query_job_that_failed_is_a_failed_error() {
    let server = MockServer::start_async().await;
    let id = Uuid::new_v4();
    query_wait(&server, &[id], None, |t| {
        t.status(200)
            .json_body(json!({"job_id": id, "status": "FAILED", "timed_out": false}))
    })
    .await;

    let client = omni_client(&server);
    match omni::wait_for_queries(&client, &[id], &quick()).await {
        Err(PollError::Failed { reason, last, .. }) => {
            assert!(reason.contains("FAILED"), "{reason}");
            assert!(reason.contains(&id.to_string()), "{reason}");
            assert!(last[&id].is_finished());
        }
        other => panic!("expected Failed, got {other:?}"),
    }
}

#[tokio::test]
async fn omni_queries_with_no_ids_finish_without_a_request() {
    let server = MockServer::start_async().await;
    let any = server
        .mock_async(|when, then| {
            when.any_request();
            then.status(500);
        })
        .await;
    let client = omni_client(&server);
    let results = omni::wait_for_queries(&client, &[], &quick())
        .await
        .unwrap();
    assert!(results.is_empty());
    assert_eq!(any.calls_async().await, 0);
}
