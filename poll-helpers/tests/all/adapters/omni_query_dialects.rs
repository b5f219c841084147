//! Query waits against every answer form Omni has published (httpmock): no false success,
//! NDJSON streams, the `jobIds` form, failures that name each query.

use super::omni_jobs::query_wait;
use super::*;

fn short() -> PollPolicy {
    quick().deadline(Duration::from_millis(1500))
}

#[tokio::test]
async fn an_answer_that_says_nothing_about_a_job_keeps_it_pending() {
    for silent in [
        json!({"results": []}),
        json!({}),
        json!({"timed_out": false}),
    ] {
        let server = MockServer::start_async().await;
        let id = Uuid::new_v4();
        let mock = query_wait(&server, &[id], None, |t| {
            t.status(200).json_body(silent.clone())
        })
        .await;
        let client = omni_client(&server);
        match omni::wait_for_queries(&client, &[id], &short()).await {
            Err(PollError::DeadlineExceeded { last, .. }) => {
                let last = last.expect("the answers were read");
                assert!(!last[&id].is_finished(), "{silent}: {last:?}");
            }
            other => panic!("{silent}: expected a deadline, got {other:?}"),
        }
        assert!(mock.calls_async().await >= 1);
    }
}

#[tokio::test]
async fn an_ndjson_stream_is_read_line_by_line() {
    let server = MockServer::start_async().await;
    let (a, b) = two_ids();
    let body = format!(
        "{}\n{}\n{}\n",
        json!({"job_id": a, "status": "COMPLETE", "result": "QVJST1cx"}),
        json!({"job_id": b, "status": "complete", "result": "QVJST1cy", "summary": {"fields": {}}}),
        json!({"remaining_job_ids": [], "timed_out": "false"}),
    );
    let mock = query_wait(&server, &[a, b], Some(1), |t| {
        t.status(200)
            .header("content-type", "text/ndjson")
            .body(body)
    })
    .await;
    let client = omni_client(&server);
    let results = omni::wait_for_queries(&client, &[a, b], &quick())
        .await
        .unwrap();
    assert_eq!(results[&a].result_base64(), Some("QVJST1cx"));
    assert_eq!(results[&b].result_base64(), Some("QVJST1cy"));
    assert_eq!(mock.calls_async().await, 1);
}

#[tokio::test]
async fn ndjson_without_its_content_type_is_recognised_by_shape() {
    let server = MockServer::start_async().await;
    let id = Uuid::new_v4();
    let body = format!(
        "{}\n{}\n",
        json!({"job_id": id, "status": "COMPLETE", "result": "QVJST1cx"}),
        json!({"remaining_job_ids": [], "timed_out": "false"}),
    );
    query_wait(&server, &[id], Some(1), |t| {
        t.status(200)
            .header("content-type", "application/json")
            .body(body)
    })
    .await;
    let client = omni_client(&server);
    let results = omni::wait_for_queries(&client, &[id], &quick())
        .await
        .unwrap();
    assert_eq!(results[&id].result_base64(), Some("QVJST1cx"));
}

#[tokio::test]
async fn a_400_asking_for_job_ids_switches_the_credential_to_the_comma_form() {
    let server = MockServer::start_async().await;
    let (a, b) = two_ids();
    let array_form = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/v1/query/wait")
                .query_param_exists("job_ids");
            then.status(400)
                .json_body(json!({"detail": "Invalid or missing jobIds parameter", "status": 400}));
        })
        .await;
    let line = |id: Uuid| json!({"job_id": id, "status": "COMPLETE", "result": "QVJST1cx"});
    let comma = |ids: String, id: Uuid| {
        let body = format!(
            "{}\n{}\n",
            line(id),
            json!({"remaining_job_ids": [], "timed_out": "false"})
        );
        move |when: When, then: Then| {
            when.method(GET)
                .path("/v1/query/wait")
                .query_param("jobIds", ids);
            then.status(200)
                .header("content-type", "text/ndjson")
                .body(body);
        }
    };
    let both = server.mock_async(comma(format!("{a},{b}"), a)).await;
    let only_b = server.mock_async(comma(b.to_string(), b)).await;

    // A token of its own: the form is remembered per credential, for the whole process.
    let own_credential = || {
        omni_sdk::Client::builder()
            .base_url(server.base_url())
            .bearer_token("switch-test")
            .build()
            .unwrap()
    };
    let client = own_credential();
    let results = omni::wait_for_queries(&client, &[a, b], &quick())
        .await
        .unwrap();
    assert!(
        results.values().all(QueryResult::is_finished),
        "{results:?}"
    );
    // A second client of the same credential goes straight to the comma form.
    let again = own_credential();
    let results = omni::wait_for_queries(&again, &[b], &quick())
        .await
        .unwrap();
    assert_eq!(results[&b].result_base64(), Some("QVJST1cx"));
    assert_eq!(
        array_form.calls_async().await,
        1,
        "the JSON array form is tried once"
    );
    assert_eq!(both.calls_async().await, 1);
    assert_eq!(only_b.calls_async().await, 2);
}

#[tokio::test]
async fn every_failed_query_is_named_with_its_reason() {
    let server = MockServer::start_async().await;
    let ids: Vec<Uuid> = {
        let mut ids: Vec<Uuid> = (0..4).map(|_| Uuid::new_v4()).collect();
        ids.sort();
        ids
    };
    let body = [
        json!({"job_id": ids[0], "status": "ERROR", "error_message": "No such view \"order_items\"", "error_type": "PLAN"}),
        json!({"job_id": ids[1], "status": "MISSING"}),
        json!({"job_id": ids[2], "status": "COMPLETE"}),
        json!({"job_id": ids[3], "status": "COMPLETE", "result": "QVJST1cx"}),
        json!({"remaining_job_ids": [], "timed_out": "false"}),
    ]
    .iter()
    .map(|line| format!("{line}\n"))
    .collect::<String>();
    query_wait(&server, &ids, Some(1), |t| {
        t.status(200)
            .header("content-type", "application/x-ndjson")
            .body(body)
    })
    .await;
    let client = omni_client(&server);
    match omni::wait_for_queries(&client, &ids, &quick()).await {
        Err(PollError::Failed { reason, last, .. }) => {
            assert!(reason.contains("3 of 4"), "{reason}");
            assert!(
                reason.contains(&format!("{} ended with status ERROR: No such view", ids[0])),
                "{reason}"
            );
            assert!(reason.contains("PLAN"), "{reason}");
            assert!(
                reason.contains(&format!("{} ended with status MISSING", ids[1])),
                "{reason}"
            );
            assert!(
                reason.contains(&format!(
                    "{} finished with status COMPLETE without a result",
                    ids[2]
                )),
                "{reason}"
            );
            assert!(!reason.contains(&ids[3].to_string()), "{reason}");
            assert_eq!(last[&ids[3]].result_base64(), Some("QVJST1cx"));
        }
        other => panic!("expected Failed, got {other:?}"),
    }
}

#[tokio::test]
async fn a_results_item_with_only_an_error_is_a_failure() {
    let server = MockServer::start_async().await;
    let id = Uuid::new_v4();
    query_wait(&server, &[id], Some(1), |t| {
        t.status(200)
            .json_body(json!({"results": [{"job_id": id, "error": "warehouse unreachable"}]}))
    })
    .await;
    let client = omni_client(&server);
    match omni::wait_for_queries(&client, &[id], &quick()).await {
        Err(PollError::Failed { reason, .. }) => {
            assert!(reason.contains("warehouse unreachable"), "{reason}");
            assert!(reason.contains(&id.to_string()), "{reason}");
        }
        other => panic!("expected Failed, got {other:?}"),
    }
}
