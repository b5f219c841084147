//! Retry-After, max_attempts, invalid policies, permanent errors, the not-found grace, outcomes and the event stream.

use super::*;

// ---------------------------------------------------------------------------------------
// 5. Retry-After
// ---------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn retry_after_sets_the_next_poll_even_above_the_schedule() {
    let calls = Calls::default();
    let t0 = Instant::now();
    let stream = Poller::new(
        fast(),
        scripted(&calls, vec![status_retry_after(429, secs(3)), done()]),
    )
    .into_stream();
    let (events, error) = drain(stream).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(calls.offsets(t0), vec![secs(0), secs(3)]);
    assert_eq!(events[0].next_delay, Some(secs(3)));
    assert_eq!(events[0].outcome.as_ref().unwrap_err().status, Some(429));
    assert_eq!(events[1].next_delay, None);
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_below_one_second_is_raised_to_one_second() {
    let calls = Calls::default();
    let t0 = Instant::now();
    let stream = Poller::new(
        fast(),
        scripted(&calls, vec![status_retry_after(503, ms(200)), done()]),
    )
    .into_stream();
    let (events, error) = drain(stream).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(calls.offsets(t0), vec![secs(0), secs(1)]);
    assert_eq!(events[0].next_delay, Some(secs(1)));

    // Zero too.
    let calls = Calls::default();
    let t0 = Instant::now();
    let job = Poller::new(
        fast(),
        scripted(
            &calls,
            vec![status_retry_after(429, Duration::ZERO), done()],
        ),
    )
    .await;
    assert_eq!(job.unwrap(), Snap::Done);
    assert_eq!(calls.offsets(t0), vec![secs(0), secs(1)]);
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_inside_the_last_margin_is_honoured_when_it_fits() {
    // 4.8 s of 5 s: inside the last-poll margin (0.5 s here), still before the deadline.
    let calls = Calls::default();
    let t0 = Instant::now();
    let job = Poller::new(
        fast().deadline(secs(5)),
        scripted(&calls, vec![status_retry_after(429, ms(4800)), done()]),
    )
    .await;
    assert_eq!(job.unwrap(), Snap::Done);
    assert_eq!(calls.offsets(t0), vec![secs(0), ms(4800)]);
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_past_the_deadline_ends_the_wait_at_once() {
    let calls = Calls::default();
    let t0 = Instant::now();
    let result = Poller::new(
        fast().deadline(secs(5)),
        scripted(&calls, vec![status_retry_after(429, secs(10)), done()]),
    )
    .job_id("busy")
    .await;
    assert_eq!(Instant::now() - t0, Duration::ZERO, "no sleeping");
    assert_eq!(calls.count(), 1);
    match result {
        Err(PollError::DeadlineExceeded {
            job,
            attempts,
            elapsed,
            last,
            last_error,
            reason,
        }) => {
            assert_eq!(job, "busy");
            assert_eq!(attempts, 1);
            assert_eq!(elapsed, Duration::ZERO);
            assert_eq!(last, None);
            assert_eq!(last_error.unwrap().status, Some(429));
            assert!(reason.contains("Retry-After"), "{reason}");
        }
        other => panic!("expected DeadlineExceeded, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// 6. max_attempts
// ---------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn max_attempts_ends_with_attempts_exhausted_after_exactly_that_many_polls() {
    let calls = Calls::default();
    let result = Poller::new(fast().max_attempts(4), scripted(&calls, vec![pending()]))
        .job_id("capped")
        .await;
    assert_eq!(calls.count(), 4);
    match result {
        Err(PollError::AttemptsExhausted {
            job,
            attempts,
            last,
            last_error,
            ..
        }) => {
            assert_eq!(job, "capped");
            assert_eq!(attempts, 4);
            assert_eq!(last, Some(Snap::Pending));
            assert!(last_error.is_none());
        }
        other => panic!("expected AttemptsExhausted, got {other:?}"),
    }

    // Transient errors count as attempts; the last one is reported.
    let calls = Calls::default();
    let result = Poller::new(fast().max_attempts(3), scripted(&calls, vec![status(500)])).await;
    assert_eq!(calls.count(), 3);
    match result {
        Err(PollError::AttemptsExhausted {
            attempts: 3,
            last: None,
            last_error: Some(e),
            ..
        }) => assert_eq!(e.status, Some(500)),
        other => panic!("expected AttemptsExhausted, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn max_attempts_one_polls_once() {
    let calls = Calls::default();
    let result = Poller::new(fast().max_attempts(1), scripted(&calls, vec![pending()])).await;
    assert_eq!(calls.count(), 1);
    assert!(
        matches!(
            result,
            Err(PollError::AttemptsExhausted { attempts: 1, .. })
        ),
        "{result:?}"
    );
}

// ---------------------------------------------------------------------------------------
// 7. Invalid policies
// ---------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn every_invalid_policy_is_refused_before_any_poll() {
    let p = PollPolicy::default;
    type Case = (&'static str, PollPolicy, fn(&PolicyError) -> bool);
    let cases: Vec<Case> = vec![
        (
            "min > max",
            p().min_delay(secs(5)).max_delay(secs(1)),
            |e| {
                *e == PolicyError::MinAboveMax {
                    min: secs(5),
                    max: secs(1),
                }
            },
        ),
        ("multiplier < 1", p().multiplier(0.5), |e| {
            *e == PolicyError::Multiplier(0.5)
        }),
        (
            "multiplier NaN",
            p().multiplier(f64::NAN),
            |e| matches!(e, PolicyError::Multiplier(m) if m.is_nan()),
        ),
        ("multiplier infinite", p().multiplier(f64::INFINITY), |e| {
            matches!(e, PolicyError::Multiplier(_))
        }),
        ("jitter > 1", p().jitter(1.5), |e| {
            *e == PolicyError::Jitter(1.5)
        }),
        ("jitter < 0", p().jitter(-0.1), |e| {
            *e == PolicyError::Jitter(-0.1)
        }),
        (
            "jitter NaN",
            p().jitter(f64::NAN),
            |e| matches!(e, PolicyError::Jitter(j) if j.is_nan()),
        ),
        ("zero deadline", p().deadline(Duration::ZERO), |e| {
            *e == PolicyError::ZeroDeadline
        }),
        ("zero attempts", p().max_attempts(0), |e| {
            *e == PolicyError::ZeroAttempts
        }),
        (
            "initial delay at the deadline",
            p().deadline(secs(60)).initial_delay(secs(60)),
            |e| {
                *e == PolicyError::InitialDelayPastDeadline {
                    initial: secs(60),
                    deadline: secs(60),
                }
            },
        ),
        (
            "initial delay of Duration::MAX",
            p().deadline(Duration::MAX).initial_delay(Duration::MAX),
            |e| matches!(e, PolicyError::InitialDelayPastDeadline { .. }),
        ),
    ];
    for (name, policy, expected) in cases {
        let validated = policy.validate();
        assert!(
            validated.as_ref().is_err_and(expected),
            "{name}: validate() = {validated:?}"
        );

        let calls = Calls::default();
        let t0 = Instant::now();
        let result = Poller::new(policy.clone(), scripted(&calls, vec![done()])).await;
        match &result {
            Err(PollError::InvalidPolicy(e)) => assert!(expected(e), "{name}: {e:?}"),
            other => panic!("{name}: expected InvalidPolicy, got {other:?}"),
        }
        assert_eq!(result.unwrap_err().attempts(), 0);

        let mut stream = Poller::new(policy, scripted(&calls, vec![done()])).into_stream();
        match stream.next().await {
            Some(Err(PollError::InvalidPolicy(e))) => assert!(expected(&e), "{name}: {e:?}"),
            other => panic!("{name}: expected InvalidPolicy first, got {other:?}"),
        }
        assert!(stream.next().await.is_none(), "{name}: stream must end");
        assert_eq!(calls.count(), 0, "{name}: no fetch for an invalid policy");
        assert_eq!(Instant::now(), t0, "{name}: no sleeping");
    }
}

// ---------------------------------------------------------------------------------------
// 8. Permanent errors and not-found grace
// ---------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_permanent_error_ends_the_wait_after_one_request() {
    for code in [400, 401, 403, 422] {
        let calls = Calls::default();
        let t0 = Instant::now();
        let result = Poller::new(fast(), scripted(&calls, vec![status(code), done()]))
            .job_id("denied")
            .await;
        assert_eq!(calls.count(), 1, "HTTP {code}");
        assert_eq!(Instant::now(), t0, "HTTP {code}: no sleeping");
        match result {
            Err(PollError::Request {
                job,
                attempts,
                status,
                message,
                last,
                elapsed,
            }) => {
                assert_eq!(job, "denied");
                assert_eq!(attempts, 1);
                assert_eq!(status, Some(code));
                assert_eq!(message, format!("server said {code}"));
                assert_eq!(last, None);
                assert_eq!(elapsed, Duration::ZERO);
            }
            other => panic!("HTTP {code}: expected Request, got {other:?}"),
        }
    }
    // A permanent error without a status too.
    let calls = Calls::default();
    let result = Poller::new(
        fast(),
        scripted(
            &calls,
            vec![Step::Err(FetchError::permanent("bad request"))],
        ),
    )
    .await;
    assert_eq!(calls.count(), 1);
    assert!(
        matches!(&result, Err(PollError::Request { status: None, message, .. }) if message == "bad request"),
        "{result:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn transient_errors_keep_polling_on_the_schedule() {
    let calls = Calls::default();
    let t0 = Instant::now();
    let job = Poller::new(
        steady(secs(1), secs(8), 2.0),
        scripted(
            &calls,
            vec![status(500), status(502), status(503), status(408), done()],
        ),
    )
    .await;
    assert_eq!(job.unwrap(), Snap::Done);
    assert_eq!(calls.offsets(t0), [0, 1, 3, 7, 15].map(secs).to_vec());
}

#[tokio::test(start_paused = true)]
async fn not_found_within_the_grace_keeps_polling_then_succeeds() {
    let calls = Calls::default();
    let t0 = Instant::now();
    let policy = steady(secs(1), secs(1), 1.0).not_found_grace(secs(10));
    let job = Poller::new(
        policy,
        scripted(&calls, vec![status(404), status(404), status(404), done()]),
    )
    .await;
    assert_eq!(job.unwrap(), Snap::Done);
    assert_eq!(calls.offsets(t0), [0, 1, 2, 3].map(secs).to_vec());
}

#[tokio::test(start_paused = true)]
async fn not_found_after_the_grace_is_a_request_error() {
    let calls = Calls::default();
    let policy = steady(secs(1), secs(1), 1.0).not_found_grace(ms(2500));
    let result = Poller::new(policy, scripted(&calls, vec![status(404)])).await;
    // 404s at 0, 1 and 2 s are "not visible yet"; the one at 3 s is final.
    assert_eq!(calls.count(), 4);
    match result {
        Err(PollError::Request {
            attempts,
            status,
            elapsed,
            last,
            ..
        }) => {
            assert_eq!(attempts, 4);
            assert_eq!(status, Some(404));
            assert_eq!(elapsed, secs(3));
            assert_eq!(last, None);
        }
        other => panic!("expected Request, got {other:?}"),
    }

    // A job seen, then gone: the Request error keeps the last snapshot.
    let calls = Calls::default();
    let policy = steady(secs(1), secs(1), 1.0).not_found_grace(Duration::ZERO);
    let result = Poller::new(policy, scripted(&calls, vec![pending(), status(404)])).await;
    assert_eq!(calls.count(), 2);
    assert!(
        matches!(
            &result,
            Err(PollError::Request {
                attempts: 2,
                status: Some(404),
                last: Some(Snap::Pending),
                ..
            })
        ),
        "{result:?}"
    );
}

// ---------------------------------------------------------------------------------------
// 9. Failure, success and the event stream
// ---------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_failure_phase_ends_with_failed_carrying_reason_and_snapshot() {
    let script = vec![
        pending(),
        pending(),
        Step::Ok(Snap::Failed("quota exceeded".into())),
    ];

    let calls = Calls::default();
    let result = Poller::new(fast(), scripted(&calls, script.clone()))
        .job_id("doomed")
        .await;
    assert_eq!(calls.count(), 3);
    match &result {
        Err(PollError::Failed {
            job,
            attempts,
            last,
            reason,
            ..
        }) => {
            assert_eq!(job, "doomed");
            assert_eq!(*attempts, 3);
            assert_eq!(*last, Snap::Failed("quota exceeded".into()));
            assert_eq!(reason, "quota exceeded");
        }
        other => panic!("expected Failed, got {other:?}"),
    }
    let e = result.unwrap_err();
    assert_eq!(e.last(), Some(&Snap::Failed("quota exceeded".into())));
    assert!(e.to_string().contains("quota exceeded"), "{e}");

    // The stream: one event per attempt, then the error, then nothing.
    let calls = Calls::default();
    let stream = Poller::new(fast(), scripted(&calls, script))
        .job_id("doomed")
        .into_stream();
    let (events, error) = drain(stream).await;
    assert_eq!(
        events.iter().map(|e| e.attempt).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert!(events[0].next_delay.is_some() && events[1].next_delay.is_some());
    assert_eq!(events[2].next_delay, None);
    assert_eq!(
        events[2].outcome.as_ref().unwrap(),
        &Snap::Failed("quota exceeded".into())
    );
    assert!(
        matches!(error, Some(PollError::Failed { attempts: 3, .. })),
        "{error:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn on_success_the_last_event_has_no_next_delay_and_the_stream_ends() {
    let calls = Calls::default();
    let t0 = Instant::now();
    let stream = Poller::new(
        steady(secs(1), secs(4), 2.0),
        scripted(&calls, vec![pending(), status(503), pending(), done()]),
    )
    .into_stream();
    let (events, error) = drain(stream).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(events.len(), 4);
    assert_eq!(
        events.iter().map(|e| e.attempt).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    assert_eq!(
        events.iter().map(|e| e.next_delay).collect::<Vec<_>>(),
        [Some(secs(1)), Some(secs(2)), Some(secs(4)), None]
    );
    assert_eq!(
        events.iter().map(|e| e.elapsed).collect::<Vec<_>>(),
        calls.offsets(t0),
        "elapsed is measured when each answer arrives"
    );
    assert_eq!(events[1].outcome.as_ref().unwrap_err().status, Some(503));
    assert_eq!(events[3].outcome.as_ref().unwrap(), &Snap::Done);
}
