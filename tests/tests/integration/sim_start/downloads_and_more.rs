//! Dashboard downloads and cross-cutting behaviour (auth, faults, recording).

use super::*;

// ---------------------------------------------------------------- dashboard downloads

#[tokio::test]
async fn download_is_processing_then_streams_the_file() {
    const SIZE: usize = 1024 * 1024;
    let sim = Simulator::start_default().await.unwrap();
    let omni = Omni::new(&sim);
    sim.script_next_download(JobScript::succeed_after(ms(150)).with_file_size(SIZE));
    let start = Instant::now();

    let (status, body) = omni
        .post(
            "/v1/dashboards/12db1a0a/download",
            json!({"format": "pdf", "filename": "monthly-report", "paperFormat": "a4"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let job = uuid_of(&body["job_id"]);
    assert_eq!(
        body,
        json!({"job_id": job, "message": "Download job started"})
    );
    assert_eq!(sim.started_jobs(), [job]);

    let file_path = format!("/v1/dashboards/12db1a0a/download/{job}");
    let status_path = format!("{file_path}/status");
    assert_eq!(
        omni.get(&file_path).await,
        (202, json!({"status": "processing"}))
    );
    assert_eq!(
        omni.get(&status_path).await,
        (200, json!({"job_id": job, "status": "PROCESSING"}))
    );

    sleep_until(start, ms(200)).await;
    assert_eq!(
        omni.get(&status_path).await,
        (200, json!({"job_id": job, "status": "COMPLETED"}))
    );
    let mut response = omni
        .request(reqwest::Method::GET, &file_path)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "application/pdf");
    assert_eq!(
        headers["content-disposition"],
        "attachment; filename=\"monthly-report.pdf\""
    );
    let mut received = Vec::new();
    let mut chunks = 0;
    while let Some(chunk) = response.chunk().await.unwrap() {
        chunks += 1;
        received.extend_from_slice(&chunk);
    }
    assert!(chunks > 1, "{chunks} chunk(s)");
    assert_eq!(received.len(), SIZE);
    assert!(
        received == download_file(job, "pdf", SIZE),
        "content differs"
    );
    assert!(received.starts_with(b"%PDF-1.7\n"));
    // Another job's file differs.
    assert!(received != download_file(Uuid::new_v4(), "pdf", SIZE));
}

#[tokio::test]
async fn download_formats_and_default_file_name() {
    let sim = Simulator::start_default().await.unwrap();
    let omni = Omni::new(&sim);
    for (format, content_type) in [
        ("pdf", "application/pdf"),
        ("png", "image/png"),
        ("csv", "text/csv"),
        (
            "xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ),
        ("json", "application/json"),
    ] {
        sim.script_next_download(JobScript::succeed_after(Duration::ZERO).with_file_size(300));
        let (status, body) = omni
            .post(
                "/v1/dashboards/sales/download",
                json!({"format": format, "filename": null}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let job = uuid_of(&body["job_id"]);
        let response = omni
            .request(
                reqwest::Method::GET,
                &format!("/v1/dashboards/sales/download/{job}"),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200, "{format}");
        assert_eq!(response.headers()["content-type"], content_type);
        assert_eq!(
            response.headers()["content-disposition"],
            format!("attachment; filename=\"dashboard.{format}\"").as_str()
        );
        let bytes = response.bytes().await.unwrap();
        assert_eq!(bytes.as_ref(), download_file(job, format, 300), "{format}");
    }
    // Text formats are text; the json one parses.
    let job = Uuid::new_v4();
    assert!(
        String::from_utf8(download_file(job, "csv", 1000))
            .unwrap()
            .starts_with("row,value\n")
    );
    let json: Value = serde_json::from_slice(&download_file(job, "json", 1000)).unwrap();
    assert_eq!(json["data"].as_str().unwrap().len(), 1000 - 11);
    // The default size.
    let (_, body) = omni
        .post("/v1/dashboards/sales/download", json!({"format": "png"}))
        .await;
    let job = uuid_of(&body["job_id"]);
    tokio::time::sleep(ms(250)).await;
    let bytes = omni
        .request(
            reqwest::Method::GET,
            &format!("/v1/dashboards/sales/download/{job}"),
        )
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(bytes.len(), sdk_tests::sim::DEFAULT_FILE_SIZE);
}

#[tokio::test]
async fn failing_download_answers_gone() {
    let sim = Simulator::start_default().await.unwrap();
    let omni = Omni::new(&sim);
    sim.script_next_download(JobScript::fail_after(ms(150), "Renderer crashed"));
    let (_, body) = omni
        .post("/v1/dashboards/12db1a0a/download", json!({"format": "png"}))
        .await;
    let job = uuid_of(&body["job_id"]);
    let file_path = format!("/v1/dashboards/12db1a0a/download/{job}");
    assert_eq!(omni.get(&file_path).await.0, 202);

    tokio::time::sleep(ms(200)).await;
    assert_eq!(
        omni.get(&file_path).await,
        error(410, "Download job failed: Renderer crashed")
    );
    assert_eq!(
        omni.get(&format!("{file_path}/status")).await,
        (200, json!({"job_id": job, "status": "FAILED"}))
    );
}

#[tokio::test]
async fn download_errors() {
    let sim = Simulator::start_default().await.unwrap();
    let omni = Omni::new(&sim);
    let start_path = "/v1/dashboards/12db1a0a/download";
    for (body, detail) in [
        (json!({}), "Bad Request: format: Required"),
        (
            json!({"format": "docx"}),
            "Bad Request: format: Invalid enum value. Expected 'pdf' | 'png' | 'csv' | 'xlsx' | 'json'",
        ),
        (
            json!({"format": "pdf", "colour": true}),
            "Bad Request: Unrecognized key(s) in object: 'colour'",
        ),
        (
            json!({"format": "pdf", "filename": ""}),
            "Bad Request: filename: Expected a string of 1 to 255 characters",
        ),
    ] {
        assert_eq!(
            omni.post(start_path, body.clone()).await,
            error(400, detail),
            "{body}"
        );
    }
    assert_eq!(
        omni.post_raw(start_path, "").await,
        error(400, "Bad Request: body must be a JSON object")
    );
    assert!(sim.started_jobs().is_empty());

    let (_, body) = omni.post(start_path, json!({"format": "csv"})).await;
    let job = uuid_of(&body["job_id"]);
    let not_found = error(404, "Download job not found");
    // Another dashboard, an unknown job, a job id that is not a UUID, a job of another kind.
    let ai = sim.add_ai_job(JobScript::succeed_after(ms(10)));
    for path in [
        format!("/v1/dashboards/other/download/{job}"),
        format!("/v1/dashboards/12db1a0a/download/{}", Uuid::new_v4()),
        "/v1/dashboards/12db1a0a/download/latest".to_owned(),
        format!("/v1/dashboards/12db1a0a/download/{ai}"),
    ] {
        assert_eq!(omni.get(&path).await, not_found, "{path}");
        assert_eq!(
            omni.get(&format!("{path}/status")).await,
            not_found,
            "{path}"
        );
    }
    // Method checks.
    let (status, _) = omni.get(start_path).await;
    assert_eq!(status, 405);
    let (status, _) = omni.post(&format!("{start_path}/{job}"), json!(null)).await;
    assert_eq!(status, 405);
}

// ---------------------------------------------------------------- cross-cutting

#[tokio::test]
async fn auth_rate_limit_and_faults_apply_to_start_endpoints() {
    let sim = Simulator::start(SimConfig {
        rate_limit: Some((3, Duration::from_secs(1))),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let omni = Omni::new(&sim);
    let path = format!("/v1/models/{}/refresh", Uuid::new_v4());

    assert_eq!(
        Omni::with_token(&sim, None).post(&path, json!(null)).await,
        (401, json!({"error": "401", "message": "Unauthorized"}))
    );
    assert_eq!(
        Omni::with_token(&sim, Some("wrong"))
            .post(&path, json!(null))
            .await
            .0,
        401
    );
    // A fault answers instead of the endpoint: no job.
    sim.inject(Fault::status(503).on_path("/omni/v1/models/").times(1));
    let (status, _) = omni.post(&path, json!(null)).await;
    assert_eq!(status, 503);
    assert!(sim.started_jobs().is_empty());

    for _ in 0..2 {
        assert_eq!(omni.post(&path, json!(null)).await.0, 200);
    }
    let response = omni
        .request(reqwest::Method::POST, &path)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 429);
    assert_eq!(response.headers()["retry-after"], "1");
    assert_eq!(sim.started_jobs().len(), 2);

    let requests = sim.requests();
    assert_eq!(
        requests
            .iter()
            .map(|r| (r.method.as_str(), r.authorized, r.status))
            .collect::<Vec<_>>(),
        [
            ("POST", false, Some(401)),
            ("POST", false, Some(401)),
            ("POST", true, Some(503)),
            ("POST", true, Some(200)),
            ("POST", true, Some(200)),
            ("POST", true, Some(429)),
        ]
    );
}

#[tokio::test]
async fn post_bodies_are_recorded() {
    let sim = Simulator::start_default().await.unwrap();
    let omni = Omni::new(&sim);
    let submit = json!({"modelId": Uuid::new_v4(), "prompt": "Top products?"});
    let (status, _) = omni.post("/v1/ai/jobs", submit.clone()).await;
    assert_eq!(status, 201);
    omni.post_raw("/v1/query/run", "not json").await;
    omni.get("/v1/ai/jobs/nope").await;

    let requests = sim.requests();
    assert_eq!(requests[0].body_json(), Some(submit));
    assert_eq!(requests[0].header("content-type"), Some("application/json"));
    assert_eq!(requests[1].body, b"not json");
    assert_eq!(requests[1].body_json(), None);
    assert!(requests[2].body.is_empty());
}
