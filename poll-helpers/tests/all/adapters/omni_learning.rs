//! Learned durations on by default in the Omni adapters (real time, local server).

use super::*;

#[tokio::test]
async fn unseeded_omni_waits_teach_the_kinds_process_wide_model_and_seeded_ones_do_not() {
    let server = MockServer::start_async().await;
    let id = Uuid::new_v4();
    answer(&server, &status_path(id), None, |t| {
        t.status(200).json_body(omni_status(id, "COMPLETED"))
    })
    .await;
    let client = omni_client(&server);
    let model = omni::duration_model(omni::JobKind::SchemaRefresh);
    assert!(model.is_warm(), "the prior makes it warm from the start");
    // On Omni's time scale (max_delay ≥ 1 s) and unseeded: the adapter attaches it.
    let policy = PollPolicy::default()
        .min_delay(Duration::from_secs(1))
        .max_delay(Duration::from_secs(1))
        .deadline(Duration::from_secs(20));
    let before = model.observed();
    omni::wait_for_job(&client, id, &policy).await.unwrap();
    assert!(model.observed() > before, "the wait was not recorded");

    // Seeded, or opted out: the schedule stays the plain backoff and nothing is recorded
    // (no other test waits on schema refreshes with a policy in seconds, unseeded).
    let before = model.observed();
    omni::wait_for_job(&client, id, &policy.clone().seed(1))
        .await
        .unwrap();
    omni::wait_for_job(&client, id, &policy.clone().default_learning(false))
        .await
        .unwrap();
    assert_eq!(model.observed(), before);
    // The other kind has its own model.
    assert_ne!(model, omni::duration_model(omni::JobKind::Ai));
}
