//! AI job submit, result and cancel.

use super::*;

// ---------------------------------------------------------------- AI jobs

#[tokio::test]
async fn ai_job_submit_status_and_result() {
    let sim = Simulator::start_default().await.unwrap();
    let omni = Omni::new(&sim);
    let model = Uuid::new_v4();
    sim.script_next_ai_job(
        JobScript::succeed_after(ms(300))
            .with_queued_for(ms(100))
            .with_result_summary("Jeans sell best."),
    );
    let start = Instant::now();

    let (status, body) = omni
        .post(
            "/v1/ai/jobs",
            json!({"modelId": model, "prompt": "Best sellers?", "topicName": "products"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let job = uuid_of(&body["jobId"]);
    let conversation = uuid_of(&body["conversationId"]);
    assert_eq!(
        body,
        json!({
            "conversationId": conversation,
            "jobId": job,
            "omniChatUrl": format!("https://sim.omniapp.co/chat/{conversation}"),
        })
    );
    assert_eq!(sim.started_jobs(), [job]);

    let (status, ai) = omni.get(&format!("/v1/ai/jobs/{job}")).await;
    assert_eq!(status, 200);
    assert_eq!(ai["state"], "QUEUED");
    assert_eq!(ai["prompt"], "Best sellers?");
    assert_eq!(ai["modelId"], json!(model));
    assert_eq!(ai["topicName"], "products");
    assert_eq!(ai["conversationId"], json!(conversation));
    assert_eq!(ai["omniChatUrl"], body["omniChatUrl"]);

    let result_path = format!("/v1/ai/jobs/{job}/result");
    assert_eq!(
        omni.get(&result_path).await,
        error(404, &format!("Job {job} is not complete (state QUEUED)"))
    );
    sleep_until(start, ms(150)).await;
    assert_eq!(
        omni.get(&result_path).await,
        error(404, &format!("Job {job} is not complete (state EXECUTING)"))
    );

    sleep_until(start, ms(350)).await;
    let (status, result) = omni.get(&result_path).await;
    assert_eq!(status, 200, "{result}");
    assert_eq!(result["resultSummary"], "Jeans sell best.");
    assert_eq!(result["message"], "Jeans sell best.");
    assert_eq!(result["topic"], "products");
    assert_eq!(result["omniChatUrl"], body["omniChatUrl"]);
    let actions = result["actions"].as_array().unwrap();
    let query = actions
        .iter()
        .find(|a| a["type"] == "generate_query")
        .expect("a query action");
    let query_result = &query["result"];
    assert_eq!(query_result["status"], "success");
    assert_eq!(query_result["hasResults"], true);
    assert_eq!(query_result["csvResultWasTruncated"], false);
    assert_eq!(query_result["totalRowCount"], 4);
    assert!(query_result["query"].is_object());
    assert!(query_result["queryName"].is_string());
    let csv = query_result["csvResult"].as_str().unwrap();
    assert_eq!(csv.lines().count(), 5, "{csv}");
    assert!(csv.starts_with("order_items.id,products.name,"), "{csv}");
    for action in actions {
        assert!(action["message"].is_string() && action["timestamp"].is_string());
    }
    let (_, ai) = omni.get(&format!("/v1/ai/jobs/{job}")).await;
    assert_eq!(ai["state"], "COMPLETE");
    assert_eq!(ai["resultSummary"], result["resultSummary"]);
}

#[tokio::test]
async fn ai_job_errors() {
    let sim = Simulator::start_default().await.unwrap();
    let omni = Omni::new(&sim);
    let model = Uuid::new_v4();

    for (body, detail) in [
        (json!({"prompt": "hi"}), "Bad Request: modelId: Required"),
        (
            json!({"modelId": "m-1", "prompt": "hi"}),
            "Bad Request: modelId: Invalid uuid",
        ),
        (json!({"modelId": model}), "Bad Request: prompt: Required"),
        (
            json!({"modelId": model, "prompt": ""}),
            "Bad Request: prompt: String must contain at least 1 character(s)",
        ),
        (
            json!({"modelId": model, "prompt": "hi", "conversationId": "c"}),
            "Bad Request: conversationId: Invalid uuid",
        ),
    ] {
        assert_eq!(
            omni.post("/v1/ai/jobs", body.clone()).await,
            error(400, detail),
            "{body}"
        );
    }
    assert_eq!(
        omni.post_raw("/v1/ai/jobs", "{not json").await,
        error(400, "Bad Request: body must be a JSON object")
    );
    assert!(sim.started_jobs().is_empty());

    // One active job per conversation.
    sim.script_next_ai_job(JobScript::succeed_after(ms(300)));
    let conversation = Uuid::new_v4();
    let submit = json!({"modelId": model, "prompt": "hi", "conversationId": conversation});
    let (status, body) = omni.post("/v1/ai/jobs", submit.clone()).await;
    assert_eq!(
        (status, &body["conversationId"]),
        (201, &json!(conversation))
    );
    assert_eq!(
        omni.post("/v1/ai/jobs", submit).await,
        error(409, "An active job already exists for this conversation")
    );

    let unknown = Uuid::new_v4();
    assert_eq!(
        omni.get(&format!("/v1/ai/jobs/{unknown}/result")).await,
        error(404, "Job not found")
    );
    assert_eq!(
        omni.post(&format!("/v1/ai/jobs/{unknown}/cancel"), json!(null))
            .await,
        error(404, "Job not found")
    );
    // Not an AI job.
    let refresh = sim.add_schema_refresh(JobScript::succeed_after(ms(10)));
    assert_eq!(
        omni.post(&format!("/v1/ai/jobs/{refresh}/cancel"), json!(null))
            .await,
        error(404, "Job not found")
    );
    assert_eq!(
        omni.get("/v1/ai/jobs/nope/result").await,
        error(400, "Bad Request: jobId: Invalid uuid")
    );
    assert_eq!(
        omni.post("/v1/ai/jobs/nope/cancel", json!(null)).await,
        error(400, "Bad Request: jobId: Invalid uuid")
    );
    let (status, _) = omni.get(&format!("/v1/ai/jobs/{unknown}/cancel")).await;
    assert_eq!(status, 405);
    let (status, _) = omni.get("/v1/ai/jobs").await;
    assert_eq!(status, 405);
}

#[tokio::test]
async fn cancel_makes_the_job_cancelled_for_good() {
    let sim = Simulator::start_default().await.unwrap();
    let omni = Omni::new(&sim);
    sim.script_next_ai_job(JobScript::succeed_after(ms(300)).with_queued_for(ms(50)));
    let start = Instant::now();
    let (_, body) = omni
        .post(
            "/v1/ai/jobs",
            json!({"modelId": Uuid::new_v4(), "prompt": "hi"}),
        )
        .await;
    let job = uuid_of(&body["jobId"]);

    sleep_until(start, ms(100)).await;
    let (_, ai) = omni.get(&format!("/v1/ai/jobs/{job}")).await;
    assert_eq!(ai["state"], "EXECUTING");
    let cancel_path = format!("/v1/ai/jobs/{job}/cancel");
    assert_eq!(
        omni.post(&cancel_path, json!(null)).await,
        (200, json!({"jobId": job, "state": "CANCELLED"}))
    );
    let (_, ai) = omni.get(&format!("/v1/ai/jobs/{job}")).await;
    assert_eq!(ai["state"], "CANCELLED");
    assert!(ai["cancelledAt"].is_string() && ai["executionStartedAt"].is_string());
    assert_eq!(ai["cancelledBy"], ai["userId"]);
    assert!(ai.get("progress").is_none() && ai.get("resultSummary").is_none());

    // Long after the script would have completed: still cancelled.
    sleep_until(start, ms(400)).await;
    let (_, later) = omni.get(&format!("/v1/ai/jobs/{job}")).await;
    assert_eq!(later["state"], "CANCELLED");
    assert_eq!(later["cancelledAt"], ai["cancelledAt"]);
    assert_eq!(
        omni.get(&format!("/v1/ai/jobs/{job}/result")).await,
        error(404, &format!("Job {job} is not complete (state CANCELLED)"))
    );
    // Idempotent, as Omni documents: 200 with the current state.
    assert_eq!(
        omni.post(&cancel_path, json!(null)).await,
        (200, json!({"jobId": job, "state": "CANCELLED"}))
    );
}

#[tokio::test]
async fn cancel_of_a_finished_job_answers_its_state_and_changes_nothing() {
    let sim = Simulator::start_default().await.unwrap();
    let omni = Omni::new(&sim);
    let complete = sim.add_ai_job(JobScript::succeed_after(Duration::ZERO));
    let failed = sim.add_ai_job(JobScript::fail_after(Duration::ZERO, "boom"));

    for (job, state) in [(complete, "COMPLETE"), (failed, "FAILED")] {
        assert_eq!(
            omni.post(&format!("/v1/ai/jobs/{job}/cancel"), json!(null))
                .await,
            (200, json!({"jobId": job, "state": state}))
        );
        let (_, ai) = omni.get(&format!("/v1/ai/jobs/{job}")).await;
        assert_eq!(
            ai["state"], state,
            "cancelling a finished job changes nothing"
        );
    }
    // A job added with `add_ai_job` has a result too.
    let (status, result) = omni.get(&format!("/v1/ai/jobs/{complete}/result")).await;
    assert_eq!(status, 200);
    assert!(
        result["resultSummary"]
            .as_str()
            .unwrap()
            .contains("Sunglasses")
    );
}
