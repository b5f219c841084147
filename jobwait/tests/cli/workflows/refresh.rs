//! `jobwait omni-refresh`: start a schema refresh and wait for it.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn omni_refresh_prints_the_job_id_then_the_final_status() {
    let sim = simulator().await;
    sim.require_branch(BRANCHED_MODEL);
    sim.script_next_refresh(JobScript::succeed_after(ms(300)));
    let model = MODEL.to_string();
    let url = sim.omni_base_url();
    let run = run(cmd(&sim, &["omni-refresh", &model])).await;
    run.assert_code(0);
    let job = only_started(&sim);
    assert_eq!(
        run.last_stdout_line(),
        format!("succeeded: {job} COMPLETED")
    );
    assert_eq!(
        run.messages()
            .lines()
            .filter(|l| l.starts_with("started "))
            .collect::<Vec<_>>(),
        [format!(
            "started schema refresh job {job} of model {MODEL}; resume with: jobwait omni-job {job} --base-url {url}"
        )],
        "{run}"
    );
    let starts = recorded(&sim, "POST", &format!("/v1/models/{MODEL}/refresh"));
    assert_eq!(starts.len(), 1);
    assert_eq!(starts[0].status, Some(200));
    assert_eq!(starts[0].decoded_query(), None);
    // Then the job's status, 1 s later (Omni's floor), which says COMPLETED.
    let polls = recorded(&sim, "GET", &format!("/v1/jobs/{job}/status"));
    assert_eq!(polls.len(), 1, "{polls:?}");
    assert!(polls[0].at - starts[0].at >= ms(950));

    // --branch goes on the start request, for a model that needs one.
    sim.clear_requests();
    sim.script_next_refresh(JobScript::succeed_after(ms(200)));
    let branched = BRANCHED_MODEL.to_string();
    let branch = BRANCH.to_string();
    let run = self::run(cmd(&sim, &["omni-refresh", &branched, "--branch", &branch])).await;
    run.assert_code(0);
    let job = sim.started_jobs()[1];
    assert_eq!(
        run.last_stdout_line(),
        format!("succeeded: {job} COMPLETED")
    );
    assert!(
        run.messages().contains(&format!(
            "started schema refresh job {job} of model {BRANCHED_MODEL} (branch {BRANCH})"
        )),
        "{run}"
    );
    let starts = recorded(&sim, "POST", "/refresh");
    assert_eq!(starts.len(), 1);
    assert_eq!(
        starts[0].decoded_query().as_deref(),
        Some(&*format!("branch_id={BRANCH}"))
    );

    // Without it, Omni's 400 answer ends the run: exit 4, the reason on stderr.
    sim.clear_requests();
    let run = self::run(cmd(&sim, &["omni-refresh", &branched])).await;
    run.assert_code(4);
    assert!(
        run.messages()
            .contains("branch_id is required when branch-based schema refresh is enabled"),
        "{run}"
    );
    assert_eq!(sim.started_jobs().len(), 2);
    assert_eq!(sim.request_count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn omni_refresh_job_id_is_on_stderr_before_the_end_and_resumes_the_wait() {
    let sim = simulator().await;
    sim.script_next_refresh(JobScript::succeed_after(ms(1300)));
    let model = MODEL.to_string();
    let mut live = Live::spawn(cmd(&sim, &["omni-refresh", &model, "--timeout", "30s"]));
    let line = tokio::task::block_in_place(|| live.wait_for_message("started schema refresh"));
    let job = only_started(&sim);
    // The job id is out while the wait goes on: the refresh takes 1.3 s, the first status
    // poll comes 1 s after the start.
    assert!(
        live.still_running(),
        "jobwait ended before printing {line:?}"
    );
    assert!(
        recorded(&sim, "GET", &format!("/v1/jobs/{job}/status")).is_empty(),
        "{line}"
    );
    let resume = line
        .split_once("resume with: ")
        .map(|(_, command)| command.to_owned())
        .unwrap_or_else(|| panic!("no resume command in {line:?}"));
    assert!(
        resume.starts_with(&format!("jobwait omni-job {job} --base-url ")),
        "{line}"
    );

    // A script that is stopped now...
    live.interrupt();
    let interrupted = tokio::task::block_in_place(|| live.finish());
    interrupted.assert_code(130);
    assert!(
        interrupted
            .messages()
            .contains("interrupted: polling stopped, nothing was cancelled on the server"),
        "{interrupted}"
    );
    // ...resumes the wait with the command it was given.
    let words: Vec<&str> = resume.split_whitespace().collect();
    assert_eq!(words[0], "jobwait");
    let mut args = words[1..].to_vec();
    args.extend(FAST);
    let resumed = run(jobwait_cmd(&args)).await;
    resumed.assert_code(0);
    assert_eq!(
        resumed.last_stdout_line(),
        format!("succeeded: {job} COMPLETED")
    );
    // One refresh was started, by the first run only.
    assert_eq!(posts(&sim).len(), 1, "{:?}", sim.requests());
}
