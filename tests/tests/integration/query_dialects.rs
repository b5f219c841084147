//! Query waits and runs against the simulator speaking Omni's 2026-07-22 contract
//! (`QueryDialect::Ndjson`: `jobIds`, NDJSON streams), and the long polls shared by
//! concurrent waits on one credential. Real time.

use std::time::Duration;

use futures_util::future::join_all;
use omni_sdk::types::QueryRunBody;
use poll_helpers::{PollPolicy, omni};
use sdk_tests::sim::{JobScript, QueryDialect, QueryRun, RecordedRequest, SimConfig, Simulator};
use uuid::Uuid;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn policy() -> PollPolicy {
    omni::default_policy()
        .min_delay(ms(50))
        .max_delay(ms(200))
        .deadline(Duration::from_secs(20))
        .seed(7)
}

async fn ndjson_sim(long_poll_wait: Duration) -> Simulator {
    Simulator::start(SimConfig {
        query_dialect: QueryDialect::Ndjson,
        long_poll_wait,
        rate_limit: None,
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

fn waits(requests: &[RecordedRequest]) -> Vec<&RecordedRequest> {
    requests
        .iter()
        .filter(|r| r.path == "/omni/v1/query/wait")
        .collect()
}

fn query_body() -> QueryRunBody {
    QueryRunBody::builder()
        .query(serde_json::json!({"table": "order_items", "fields": ["order_items.count"]}))
        .try_into()
        .unwrap()
}

#[tokio::test]
async fn the_streamed_contract_is_read_after_one_400_asking_for_job_ids() {
    let sim = ndjson_sim(ms(2000)).await;
    let client = sim.omni_client().unwrap();
    let ids: Vec<Uuid> = [300, 600, 900]
        .into_iter()
        .map(|d| sim.add_query_job(JobScript::succeed_after(ms(d))))
        .collect();
    let results = omni::wait_for_queries(&client, &ids, &policy())
        .await
        .unwrap();
    for id in &ids {
        assert!(results[id].result_base64().is_some(), "{id}: {results:?}");
    }
    let requests = sim.requests();
    let waits = waits(&requests);
    // The seeds' form first (400 naming jobIds), then the comma form: one held stream
    // answers all three jobs as they finish.
    assert_eq!(waits.len(), 2, "{waits:?}");
    assert_eq!(waits[0].status, Some(400));
    assert!(waits[0].query.as_deref().unwrap().starts_with("job_ids="));
    assert_eq!(waits[1].status, Some(200));
    assert!(waits[1].query.as_deref().unwrap().starts_with("jobIds="));
}

#[tokio::test]
async fn a_failed_streamed_job_is_a_failure_naming_it() {
    let sim = ndjson_sim(ms(1000)).await;
    let client = sim.omni_client().unwrap();
    let ok = sim.add_query_job(JobScript::succeed_after(ms(100)));
    let bad = sim.add_query_job(JobScript::fail_after(ms(200), "No such view"));
    match omni::wait_for_queries(&client, &[ok, bad], &policy()).await {
        Err(poll_helpers::PollError::Failed { reason, last, .. }) => {
            assert!(reason.contains(&bad.to_string()), "{reason}");
            assert!(reason.contains("No such view"), "{reason}");
            assert!(last[&ok].result_base64().is_some());
        }
        other => panic!("expected Failed, got {other:?}"),
    }
}

#[tokio::test]
async fn run_query_reads_the_stream_and_keeps_every_query() {
    let sim = ndjson_sim(ms(2000)).await;
    let client = sim.omni_client().unwrap();
    // Two queries finish within the run's hold (200 ms), one after it.
    sim.script_next_query_run(QueryRun::many([
        JobScript::succeed_after(ms(30)),
        JobScript::succeed_after(ms(60)),
        JobScript::succeed_after(ms(800)),
    ]));
    let run = omni::run_query(&client, query_body(), &policy())
        .await
        .unwrap();
    let started = sim.started_jobs();
    assert_eq!(started.len(), 3);
    assert_eq!(
        run.results.iter().map(|r| r.job_id).collect::<Vec<_>>(),
        started,
        "every query of the run, in the order the stream named them"
    );
    assert!(run.results.iter().all(|r| r.result_base64().is_some()));
    let requests = sim.requests();
    assert_eq!(requests[0].path, "/omni/v1/query/run");
    assert!(
        requests[0]
            .headers
            .iter()
            .any(|(k, v)| k == "accept" && v.contains("ndjson")),
        "{:?}",
        requests[0].headers
    );
    let waits = waits(&requests);
    assert!(
        waits.iter().all(|w| {
            let q = w.query.as_deref().unwrap_or("");
            !q.contains(&started[0].to_string()) && !q.contains(&started[1].to_string())
        }),
        "only the unfinished query is waited for: {waits:?}"
    );
}

#[tokio::test]
async fn many_job_ids_are_split_so_that_no_url_exceeds_8000_bytes() {
    let sim = ndjson_sim(ms(1000)).await;
    let client = sim.omni_client().unwrap();
    let ids: Vec<Uuid> = (0..400)
        .map(|_| sim.add_query_job(JobScript::succeed_after(ms(0))))
        .collect();
    let results = omni::wait_for_queries(&client, &ids, &policy())
        .await
        .unwrap();
    assert!(results.values().all(|r| r.result_base64().is_some()));
    let requests = sim.requests();
    let answered: Vec<&RecordedRequest> = waits(&requests)
        .into_iter()
        .filter(|r| r.status == Some(200))
        .collect();
    let base = sim.omni_base_url();
    for r in &answered {
        let url = format!("{base}/v1/query/wait?{}", r.query.as_deref().unwrap_or(""));
        assert!(url.len() <= 8000, "{} bytes", url.len());
    }
    // 400 ids of 36 characters (39 bytes encoded with their comma) need several requests,
    // and every id was asked once.
    assert!(answered.len() >= 2, "{}", answered.len());
    let asked: usize = answered
        .iter()
        .map(|r| r.query.as_deref().unwrap_or("").matches("%2C").count() + 1)
        .sum();
    assert_eq!(asked, 400);
}

#[tokio::test]
async fn a_streamed_line_answers_its_wait_before_the_stream_ends() {
    let sim = ndjson_sim(ms(3000)).await;
    let client = sim.omni_client().unwrap();
    let warm = sim.add_query_job(JobScript::succeed_after(ms(0)));
    omni::wait_for_queries(&client, &[warm], &policy())
        .await
        .unwrap();
    sim.clear_requests();
    let quick = sim.add_query_job(JobScript::succeed_after(ms(200)));
    let slow = sim.add_query_job(JobScript::succeed_after(ms(1800)));
    let start = std::time::Instant::now();
    let quick_wait = async {
        let r = omni::wait_for_queries(&client, &[quick], &policy())
            .await
            .unwrap();
        (start.elapsed(), r)
    };
    let slow_wait = omni::wait_for_queries(&client, &[slow], &policy());
    let ((quick_done, quick_results), slow_results) = tokio::join!(quick_wait, slow_wait);
    assert!(quick_results[&quick].result_base64().is_some());
    assert!(slow_results.unwrap()[&slow].result_base64().is_some());
    // One shared stream for both; the quick job's line ended its wait long before the end.
    assert!(quick_done < ms(1200), "{quick_done:?}");
    assert_eq!(waits(&sim.requests()).len(), 1, "{:?}", sim.requests());
}

/// Request counts of the three ways to wait for 20 query jobs, with the jobs finishing
/// 0.6–1.5 s after they were added: `(one wait for 20, 20 concurrent single-job waits,
/// 20 single-job waits one after another)`.
async fn measure(sim: &Simulator, policy: &PollPolicy) -> (usize, usize, usize) {
    let client = sim.omni_client().unwrap();
    // Warm-up: the credential learns the comma form, so that no 400 is counted below.
    let warm = sim.add_query_job(JobScript::succeed_after(ms(0)));
    omni::wait_for_queries(&client, &[warm], policy)
        .await
        .unwrap();
    let jobs = |sim: &Simulator| -> Vec<Uuid> {
        (0..20u64)
            .map(|i| sim.add_query_job(JobScript::succeed_after(ms(600 + 45 * i))))
            .collect()
    };
    let count = |sim: &Simulator| waits(&sim.requests()).len();

    sim.clear_requests();
    let ids = jobs(sim);
    let results = omni::wait_for_queries(&client, &ids, policy).await.unwrap();
    assert_eq!(results.len(), 20);
    let one_wait = count(sim);

    sim.clear_requests();
    let ids = jobs(sim);
    let all = join_all(ids.iter().map(|id| {
        let client = &client;
        async move {
            omni::wait_for_queries(client, &[*id], policy)
                .await
                .unwrap()
        }
    }))
    .await;
    assert!(
        all.iter()
            .zip(&ids)
            .all(|(r, id)| r[id].result_base64().is_some())
    );
    let coalesced = count(sim);

    sim.clear_requests();
    let ids = jobs(sim);
    for id in &ids {
        omni::wait_for_queries(&client, &[*id], policy)
            .await
            .unwrap();
    }
    let separate = count(sim);
    (one_wait, coalesced, separate)
}

#[tokio::test]
async fn twenty_concurrent_single_job_waits_cost_no_more_than_one_wait_for_twenty() {
    let sim = ndjson_sim(ms(3000)).await;
    let (one_wait, coalesced, separate) = measure(&sim, &policy()).await;
    eprintln!(
        "query/wait requests for 20 jobs (NDJSON): one 20-job wait {one_wait}, 20 concurrent single-job waits {coalesced}, 20 single-job waits one after another {separate}"
    );
    assert!(
        coalesced <= one_wait,
        "coalesced {coalesced} > one wait {one_wait}"
    );
    assert!(coalesced < separate, "{coalesced} vs {separate}");
}

/// The same measure on the seeds' contract, where an answer carries one job: about one
/// request per job whichever way the waits are made (slow: Omni's 1 s floor between the
/// polls of a wait). Run with `--ignored` for the figures.
#[tokio::test]
#[ignore = "about a minute of real time; prints request counts"]
async fn request_counts_on_the_seeds_contract() {
    let sim = Simulator::start(SimConfig {
        long_poll_wait: ms(3000),
        rate_limit: None,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let slow = policy().deadline(Duration::from_secs(120));
    let (one_wait, coalesced, separate) = measure(&sim, &slow).await;
    eprintln!(
        "query/wait requests for 20 jobs (seeds' JSON): one 20-job wait {one_wait}, 20 concurrent single-job waits {coalesced}, 20 single-job waits one after another {separate}"
    );
    assert!(coalesced <= separate, "{coalesced} vs {separate}");
}
