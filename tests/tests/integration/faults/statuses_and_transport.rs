//! Scenarios 1-11: 5xx answers, 429 with every form of `Retry-After`, connection and transport faults.

use super::*;

// ---------------------------------------------------------------------------------------
// 1–3: server errors
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn s01_500_once_then_success() {
    let sim = sim().await;
    let id = sim.add_retailgrid_job(JobScript::succeed_after(Duration::ZERO));
    sim.inject(Fault::status(500).times(1));
    let client = rg_client(&sim.retailgrid_base_url());
    let deadline = Duration::from_secs(3);
    let ((seen, result), elapsed) = timed(
        guard(deadline),
        events(retailgrid::wait_for_job(&client, id, &fast(deadline))),
    )
    .await;
    let job = result.unwrap();
    assert_eq!(job.status, "completed");
    assert_eq!(statuses(&sim), [Some(500), Some(200)]);
    let errs = errors(&seen);
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].status, Some(500));
    assert_eq!(errs[0].kind, FetchErrorKind::Transient);
    assert_in_time(elapsed, deadline);
}

#[tokio::test]
async fn s02_502_503_504_runs_then_success() {
    let sim = sim().await;
    let id = sim.add_retailgrid_job(JobScript::succeed_after(Duration::ZERO));
    // Faults answer in injection order: two of each, then the endpoint.
    for status in [502, 503, 504] {
        sim.inject(Fault::status(status).times(2));
    }
    let client = rg_client(&sim.retailgrid_base_url());
    let deadline = Duration::from_secs(3);
    let (result, elapsed) = timed(
        guard(deadline),
        retailgrid::wait_for_job(&client, id, &fast(deadline)).into_future(),
    )
    .await;
    assert_eq!(result.unwrap().status, "completed");
    assert_eq!(
        statuses(&sim),
        [502, 502, 503, 503, 504, 504, 200].map(Some)
    );
    assert_in_time(elapsed, deadline);
}

#[tokio::test]
async fn s03_500_forever_is_deadline_exceeded_with_the_last_500() {
    let sim = sim().await;
    let id = sim.add_retailgrid_job(JobScript::succeed_after(Duration::ZERO));
    sim.inject(Fault::status(500));
    let client = rg_client(&sim.retailgrid_base_url());
    let deadline = Duration::from_secs(1);
    let (result, elapsed) = timed(
        guard(deadline),
        retailgrid::wait_for_job(&client, id, &fast(deadline)).into_future(),
    )
    .await;
    let (attempts, _, last, last_error, reason) = expect_deadline(result);
    let last_error = last_error.expect("the last poll failed");
    assert_eq!(last_error.status, Some(500));
    assert_eq!(last_error.message, "Internal Server Error");
    assert!(last.is_none(), "no snapshot was ever received");
    assert!(reason.contains("deadline"), "{reason}");
    assert!(attempts >= 5, "{attempts} attempts in {elapsed:?}");
    assert_eq!(attempts as usize, sim.request_count());
    assert!(sim.requests().iter().all(|r| r.status == Some(500)));
    assert!(elapsed >= deadline - ms(150), "gave up early: {elapsed:?}");
    assert_in_time(elapsed, deadline);
}

// ---------------------------------------------------------------------------------------
// 4–7: 429 and Retry-After
// ---------------------------------------------------------------------------------------

async fn retry_after_seconds_is_honoured(seconds: u64) {
    let sim = sim().await;
    let id = sim.add_retailgrid_job(JobScript::succeed_after(Duration::ZERO));
    sim.inject(
        Fault::status(429)
            .retry_after(Duration::from_secs(seconds))
            .times(1),
    );
    let client = rg_client(&sim.retailgrid_base_url());
    let deadline = Duration::from_secs(seconds + 3);
    let (result, elapsed) = timed(
        guard(deadline),
        retailgrid::wait_for_job(&client, id, &fast(deadline)).into_future(),
    )
    .await;
    assert_eq!(result.unwrap().status, "completed");
    assert_eq!(statuses(&sim), [Some(429), Some(200)]);
    let requests = sim.requests();
    assert_eq!(
        requests[0].status,
        Some(429),
        "the first answer is the injected 429"
    );
    let gap = sim_gaps(&sim)[0];
    assert!(
        gap >= Duration::from_secs(seconds),
        "Retry-After: {seconds} not honoured: next poll after {gap:?}"
    );
    assert!(
        gap < Duration::from_secs(seconds) + ms(500),
        "waited far longer than asked: {gap:?}"
    );
    assert_in_time(elapsed, deadline);
}

#[tokio::test]
async fn s04_429_retry_after_1_is_honoured() {
    retry_after_seconds_is_honoured(1).await;
}

#[tokio::test]
async fn s04_429_retry_after_3_is_honoured() {
    retry_after_seconds_is_honoured(3).await;
}

#[tokio::test]
async fn s05_429_retry_after_http_date_is_honoured() {
    let id = Uuid::new_v4();
    let server = Scripted::start(move |n| {
        if n == 0 {
            // 2 s ahead, at HTTP-date resolution (whole seconds, truncated).
            let at = chrono::Utc::now() + chrono::TimeDelta::seconds(2);
            let date = at.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
            let mut response = json_answer(
                StatusCode::TOO_MANY_REQUESTS,
                &json!({"detail": "Too Many Requests"}),
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_str(&date).unwrap());
            response
        } else {
            json_answer(StatusCode::OK, &rg_job_json(id, "completed"))
        }
    })
    .await;
    let client = rg_client(&server.base_url());
    let deadline = Duration::from_secs(5);
    let ((seen, result), elapsed) = timed(
        guard(deadline),
        events(retailgrid::wait_for_job(&client, id, &fast(deadline))),
    )
    .await;
    assert_eq!(result.unwrap().status, "completed");
    assert_eq!(server.count(), 2);
    let errs = errors(&seen);
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].status, Some(429));
    let asked = errs[0].retry_after.expect("the HTTP-date is parsed");
    assert!(
        asked > ms(900) && asked <= Duration::from_secs(2),
        "{asked:?}"
    );
    let gap = server.gaps()[0];
    assert!(gap >= Duration::from_secs(1), "next poll after {gap:?}");
    assert!(gap < ms(2600), "next poll after {gap:?}");
    assert_in_time(elapsed, deadline);
}

#[tokio::test]
async fn s06_429_retry_after_past_the_deadline_gives_up_at_once() {
    let sim = sim().await;
    let id = sim.add_retailgrid_job(JobScript::succeed_after(Duration::ZERO));
    sim.inject(Fault::status(429).retry_after(Duration::from_secs(10)));
    let client = rg_client(&sim.retailgrid_base_url());
    let deadline = Duration::from_secs(2);
    let (result, elapsed) = timed(
        guard(deadline),
        retailgrid::wait_for_job(&client, id, &fast(deadline)).into_future(),
    )
    .await;
    let (attempts, reported, _, last_error, reason) = expect_deadline(result);
    assert_eq!(attempts, 1);
    assert!(reason.contains("Retry-After"), "{reason}");
    assert!(reason.contains("10 s"), "{reason}");
    assert_eq!(last_error.and_then(|e| e.status), Some(429));
    assert!(
        elapsed < ms(500),
        "should give up at once, took {elapsed:?}"
    );
    assert!(reported < ms(500), "{reported:?}");
    assert_eq!(sim.request_count(), 1);
}

#[tokio::test]
async fn s07_429_without_retry_after_or_json_body_is_retried() {
    let id = Uuid::new_v4();
    let server = Scripted::start(move |n| match n {
        0 => StatusCode::TOO_MANY_REQUESTS.into_response(),
        _ => json_answer(StatusCode::OK, &rg_job_json(id, "completed")),
    })
    .await;
    let client = rg_client(&server.base_url());
    let deadline = Duration::from_secs(3);
    let ((seen, result), elapsed) = timed(
        guard(deadline),
        events(retailgrid::wait_for_job(&client, id, &fast(deadline))),
    )
    .await;
    assert_eq!(result.unwrap().status, "completed");
    assert_eq!(server.count(), 2);
    let errs = errors(&seen);
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].status, Some(429));
    assert_eq!(errs[0].kind, FetchErrorKind::Transient);
    assert_eq!(errs[0].retry_after, None);
    assert_eq!(errs[0].message, "Too Many Requests");
    // No Retry-After: the policy's backoff (20–50 ms), not a 1 s default.
    assert!(server.gaps()[0] < ms(500), "{:?}", server.gaps());
    assert_in_time(elapsed, deadline);
}

// ---------------------------------------------------------------------------------------
// 8–11: transport faults
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn s08_connection_refused_then_the_server_comes_up() {
    // A free port: bind, note it, release it.
    let addr = std::net::TcpListener::bind(("127.0.0.1", 0))
        .unwrap()
        .local_addr()
        .unwrap();
    let id = Uuid::new_v4();
    let started = Instant::now();
    let server = tokio::spawn(async move {
        tokio::time::sleep(ms(200)).await;
        let listener = TcpListener::bind(addr).await.unwrap();
        let up = Instant::now();
        let answer: Answer =
            Arc::new(move |_| json_answer(StatusCode::OK, &rg_job_json(id, "completed")));
        (Scripted::serve(listener, answer), up)
    });
    let client = rg_client(&format!("http://{addr}"));
    let deadline = Duration::from_secs(3);
    let ((seen, result), elapsed) = timed(
        guard(deadline),
        events(retailgrid::wait_for_job(&client, id, &fast(deadline))),
    )
    .await;
    let (server, up) = server.await.unwrap();
    assert_eq!(result.unwrap().status, "completed");
    assert_eq!(server.count(), 1, "one request once the server is up");
    let errs = errors(&seen);
    assert!(!errs.is_empty(), "the first polls found no server");
    for e in &errs {
        assert_eq!(e.kind, FetchErrorKind::Transient);
        assert_eq!(e.status, None);
        assert!(e.message.starts_with("request failed"), "{}", e.message);
    }
    assert!(up - started >= ms(200));
    assert!(elapsed >= ms(200), "{elapsed:?}");
    assert_in_time(elapsed, deadline);
}

#[tokio::test]
async fn s09_connection_reset_mid_response_is_retried() {
    let id = Uuid::new_v4();
    let good = http_json(&rg_job_json(id, "completed"));
    let (base_url, connections) = raw_server(move |n| match n {
        0 => Raw::WriteThenReset(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"job"
                .to_vec(),
        ),
        _ => Raw::Respond(good.clone()),
    })
    .await;
    let client = rg_client(&base_url);
    let deadline = Duration::from_secs(3);
    let ((seen, result), elapsed) = timed(
        guard(deadline),
        events(retailgrid::wait_for_job(&client, id, &fast(deadline))),
    )
    .await;
    assert_eq!(result.unwrap().status, "completed");
    assert_eq!(connections.load(Ordering::SeqCst), 2);
    let errs = errors(&seen);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].kind, FetchErrorKind::Transient);
    assert_eq!(errs[0].status, None);
    assert_in_time(elapsed, deadline);
}

#[tokio::test]
async fn s10_response_that_never_arrives_is_cut_at_the_request_timeout() {
    let (base_url, connections) = raw_server(|_| Raw::Hang).await;
    let client = rg_client(&base_url);
    let deadline = Duration::from_secs(1);
    let ((seen, result), elapsed) = timed(
        guard(deadline),
        events(retailgrid::wait_for_job(
            &client,
            Uuid::new_v4(),
            &fast(deadline),
        )),
    )
    .await;
    let (attempts, _, last, last_error, _) = expect_deadline(result);
    assert!(last.is_none());
    assert!(last_error.is_some());
    // Each request is cut by the client at 300 ms, and the wait goes on: 1 s holds three.
    assert!(attempts >= 3, "{attempts}");
    // Let the accept loop catch up with the last connection before counting.
    tokio::time::sleep(ms(50)).await;
    assert_eq!(connections.load(Ordering::SeqCst), attempts as usize);
    let first = &seen[0];
    assert!(
        first.elapsed >= ms(290) && first.elapsed < ms(600),
        "first request cut after {:?}",
        first.elapsed
    );
    let err = first.outcome.as_ref().unwrap_err();
    assert_eq!(err.kind, FetchErrorKind::Transient);
    assert!(err.message.contains("timed out"), "{}", err.message);
    assert!(elapsed >= deadline - ms(150), "{elapsed:?}");
    assert_in_time(elapsed, deadline);
}

#[tokio::test]
async fn s11_body_trickling_past_the_deadline_is_cut_at_the_deadline() {
    let head =
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"job_id\":"
            .to_vec();
    let (base_url, connections) = raw_server(move |_| Raw::Trickle {
        head: head.clone(),
        every: ms(50),
    })
    .await;
    // A client timeout far beyond the deadline: the poller's deadline must cut the request.
    let client = retailgrid_sdk::Client::builder()
        .base_url(&base_url)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let deadline = Duration::from_secs(1);
    let (result, elapsed) = timed(
        guard(deadline),
        retailgrid::wait_for_job(&client, Uuid::new_v4(), &fast(deadline)).into_future(),
    )
    .await;
    let (attempts, reported, _, last_error, _) = expect_deadline(result);
    assert_eq!(attempts, 1);
    assert_eq!(connections.load(Ordering::SeqCst), 1);
    assert_eq!(
        last_error.map(|e| e.message).as_deref(),
        Some("request cut off at the deadline")
    );
    assert!(
        elapsed >= deadline && elapsed < deadline + ms(250),
        "{elapsed:?}"
    );
    assert!(reported >= deadline, "{reported:?}");
}
