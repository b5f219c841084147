//! `RateBudget::redis` through the public API against a real `redis-server`
//! (`sdk_tests::redis`): one budget per credential shared by separate handles (as by
//! separate processes), two credentials never sharing, a 429's cool-down reaching every
//! sharer, and no hang when Redis is away. The fleet scenarios (several `jobwait`
//! processes, Redis killed mid-run) are in `jobwait/tests/cli/basic/fleet.rs`.

use std::time::Duration;

use poll_helpers::{RateBudget, omni};
use sdk_tests::redis::RedisServer;
use tokio::time::{Instant, timeout};

const TOKEN_A: &str = "redis-budget-test-token-a-71c3";
const TOKEN_B: &str = "redis-budget-test-token-b-94d0";

fn client(token: &str) -> omni_sdk::Client {
    omni_sdk::Client::builder()
        .base_url("https://acme.omniapp.co/api")
        .bearer_token(token)
        .build()
        .unwrap()
}

/// A budget of one request per 10 s (a burst of 1) under `key`, as a separate process
/// would make it: a handle of its own.
fn one_per_10s(redis: &RedisServer, key: &str) -> RateBudget {
    RateBudget::redis(&redis.url(), key, 1, Duration::from_secs(10)).unwrap()
}

#[tokio::test]
async fn separate_handles_of_one_credential_share_one_budget_and_two_credentials_do_not() {
    let redis = RedisServer::start();
    let a = one_per_10s(&redis, "omni");
    let fingerprint = |token: &str| {
        progenitor_client::ClientInfo::inner(&client(token))
            .credential_fingerprint()
            .to_owned()
    };
    let first = a.for_credential(&fingerprint(TOKEN_A));
    // "Another process" with the same credential: a budget made separately.
    let second = one_per_10s(&redis, "omni").for_credential(&fingerprint(TOKEN_A));
    let other_key = one_per_10s(&redis, "omni").for_credential(&fingerprint(TOKEN_B));

    timeout(Duration::from_secs(2), first.acquire())
        .await
        .expect("a fresh budget admits at once");
    assert!(
        timeout(Duration::from_millis(1500), second.acquire())
            .await
            .is_err(),
        "the same credential's budget was spent by the other handle: nothing for 10 s"
    );
    timeout(Duration::from_secs(2), other_key.acquire())
        .await
        .expect("another credential has a budget of its own");

    // Two keys, each with the credential's fingerprint, never the token.
    let keys = redis.keys("rate-budget:*");
    assert_eq!(keys.len(), 2, "{keys:?}");
    for key in &keys {
        assert!(
            key.starts_with("rate-budget:{omni:") && key.ends_with("}:tat"),
            "{key}"
        );
        assert!(!key.contains(TOKEN_A) && !key.contains(TOKEN_B), "{key}");
    }
    assert!(keys.iter().any(|k| k.contains(&fingerprint(TOKEN_A))));
}

#[tokio::test]
async fn omni_adapters_share_a_redis_budget_set_for_the_credential() {
    let redis = RedisServer::start();
    let a = client(TOKEN_A);
    let budget = omni::set_shared_budget(&a, one_per_10s(&redis, "omni"));
    // Every client with this credential now draws from it, whichever object it is.
    assert!(omni::shared_budget(&client(TOKEN_A)).same_budget(&budget));
    assert!(!omni::shared_budget(&client(TOKEN_B)).same_budget(&budget));
    budget.acquire().await;
    let fingerprint = progenitor_client::ClientInfo::inner(&a)
        .credential_fingerprint()
        .to_owned();
    assert_eq!(
        redis.keys("rate-budget:*"),
        vec![format!("rate-budget:{{omni:{fingerprint}}}:tat")]
    );
}

#[tokio::test]
async fn a_cool_down_reaches_every_sharer() {
    let redis = RedisServer::start();
    let generous = |r: &RedisServer| {
        RateBudget::redis(&r.url(), "cool", 1000, Duration::from_secs(1)).unwrap()
    };
    let a = generous(&redis);
    let b = generous(&redis);
    timeout(Duration::from_secs(2), b.acquire())
        .await
        .expect("admitted at once");
    // A 429 seen through `a` (Retry-After: 3 s) ...
    a.cool_down(Duration::from_secs(3));
    // (stored in the background)
    tokio::time::sleep(Duration::from_millis(300)).await;
    // ... stops `b`, a separate handle (another process), too.
    let start = Instant::now();
    timeout(Duration::from_secs(5), b.acquire())
        .await
        .expect("admitted after the cool-down");
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(2000),
        "b was admitted {waited:?} after a 3 s cool-down stored 0.3 s earlier"
    );
}

#[tokio::test]
async fn an_unreachable_redis_falls_back_to_a_local_share_without_hanging() {
    let mut redis = RedisServer::start();
    let url = redis.url();
    redis.kill();
    // 80 per second among an expected 8 sharers: 10 per second while Redis is away.
    let budget = RateBudget::redis(&url, "away", 80, Duration::from_secs(1))
        .unwrap()
        .expected_sharers(8);
    let start = Instant::now();
    for _ in 0..12 {
        timeout(Duration::from_secs(5), budget.acquire())
            .await
            .expect("a budget never hangs on a missing Redis");
    }
    // The local share (10/s: a burst of 1, then one per 1/9 s) paces them: 12 admissions
    // need at least 11 intervals of 111 ms, i.e. over 1.2 s. The full limit would have
    // needed 11/72 s.
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(1100),
        "12 admissions in {took:?}"
    );
    assert!(took < Duration::from_secs(10), "12 admissions in {took:?}");

    // Redis is back: the budget returns to it (the key appears) within a few of its 2 s
    // retry periods (the connection manager may need one failed call to reconnect).
    redis.restart();
    let back = Instant::now();
    while redis.keys("rate-budget:*").is_empty() {
        assert!(
            back.elapsed() < Duration::from_secs(8),
            "the budget did not return to Redis within 8 s"
        );
        timeout(Duration::from_secs(5), budget.acquire())
            .await
            .unwrap();
    }
    assert_eq!(
        redis.keys("rate-budget:*"),
        vec!["rate-budget:{away}:tat".to_owned()]
    );
}

#[tokio::test]
async fn a_stalled_redis_costs_at_most_its_call_timeout_then_the_fallback_paces() {
    let redis = RedisServer::start();
    let budget = RateBudget::redis(&redis.url(), "stalled", 1000, Duration::from_secs(1))
        .unwrap()
        .expected_sharers(2);
    // Connected and healthy first.
    timeout(Duration::from_secs(2), budget.acquire())
        .await
        .unwrap();
    redis.freeze();
    let start = Instant::now();
    for _ in 0..5 {
        timeout(Duration::from_secs(5), budget.acquire())
            .await
            .expect("a stalled Redis never holds a wait beyond its call timeout");
    }
    let took = start.elapsed();
    redis.thaw();
    // One call waits out the 1 s timeout; the rest go to the fallback at once (500/s).
    assert!(took >= Duration::from_millis(900), "{took:?}");
    assert!(took < Duration::from_millis(2500), "{took:?}");
}
