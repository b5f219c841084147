//! `jobwait omni-ask`: submit an AI job, wait for it, print its answer; Ctrl-C cancels it.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn omni_ask_prints_the_markdown_answer_on_stdout() {
    let sim = simulator().await;
    let answer = "**Sunglasses** lead with $89.99.\n\n| product | revenue |\n|---|---|\n| Sunglasses | 89.99 |";
    sim.script_next_ai_job(JobScript::succeed_after(ms(400)).with_result_summary(answer));
    let model = MODEL.to_string();
    let branch = BRANCH.to_string();
    let prompt = "What are the top products by revenue?";
    let run = run(cmd(
        &sim,
        &[
            "omni-ask",
            prompt,
            "--model",
            &model,
            "--branch",
            &branch,
            "--topic",
            "order_items",
        ],
    ))
    .await;
    run.assert_code(0);
    let job = only_started(&sim);
    // stdout is the answer, and only the answer.
    assert_eq!(run.stdout, format!("{answer}\n"), "{run}");
    let messages = run.messages();
    assert!(
        messages.contains(&format!("submitted AI job {job} (conversation ")),
        "{run}"
    );
    assert!(
        messages.contains(&format!("resume with: jobwait omni-ai {job} --base-url ")),
        "{run}"
    );
    assert!(
        messages.contains(&format!("succeeded: {job} COMPLETE")),
        "{run}"
    );
    let submits = recorded(&sim, "POST", "/v1/ai/jobs");
    assert_eq!(submits.len(), 1);
    let body = submits[0].body_json().unwrap();
    assert_eq!(body["prompt"], prompt);
    assert_eq!(body["modelId"], model);
    assert_eq!(body["branchId"], branch);
    assert_eq!(body["topicName"], "order_items");
    assert_eq!(
        recorded(&sim, "GET", &format!("/v1/ai/jobs/{job}/result")).len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn omni_ask_ctrl_c_cancels_the_submitted_job() {
    let sim = simulator().await;
    sim.script_next_ai_job(JobScript::succeed_after(Duration::from_secs(60)));
    let model = MODEL.to_string();
    let mut live = Live::spawn(cmd(
        &sim,
        &["omni-ask", "Why?", "--model", &model, "--timeout", "30s"],
    ));
    let line = tokio::task::block_in_place(|| live.wait_for_message("submitted AI job"));
    let job = only_started(&sim);
    assert!(
        line.starts_with(&format!("submitted AI job {job} ")),
        "{line}"
    );
    assert!(live.still_running());
    live.interrupt();
    let run = tokio::task::block_in_place(|| live.finish());
    run.assert_code(130);
    assert!(run.stdout.is_empty(), "{run}");
    assert!(
        run.messages().contains(&format!(
            "interrupted: polling stopped; AI job {job} was cancelled on the server"
        )),
        "{run}"
    );
    let cancels = recorded(&sim, "POST", &format!("/v1/ai/jobs/{job}/cancel"));
    assert_eq!(cancels.len(), 1, "{:?}", sim.requests());
    assert_eq!(cancels[0].status, Some(200));
    // The server says so too.
    let client = sim.omni_client().unwrap();
    let state = client
        .get_ai_job()
        .job_id(job)
        .send()
        .await
        .unwrap()
        .into_inner()
        .state;
    assert_eq!(state.as_str(), "CANCELLED");
}
