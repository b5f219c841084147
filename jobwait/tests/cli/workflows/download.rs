//! `jobwait omni-download`: start a dashboard download and stream the file to disk.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn omni_download_writes_exactly_the_served_file() {
    let sim = simulator().await;
    let len = 300_000;
    sim.script_next_download(JobScript::succeed_after(ms(400)).with_file_size(len));
    let dir = scratch_dir();
    let output = dir.join("dashboard.pdf");
    // A file already there is replaced.
    std::fs::write(&output, "an older download").unwrap();
    let output_arg = output.to_string_lossy().into_owned();
    let run = run(cmd(
        &sim,
        &[
            "omni-download",
            "12db1a0a",
            "--format",
            "pdf",
            "--output",
            &output_arg,
        ],
    ))
    .await;
    run.assert_code(0);
    let job = only_started(&sim);
    assert!(
        std::fs::read(&output).unwrap() == download_file(job, "pdf", len),
        "the file differs from the one served"
    );
    assert_eq!(
        entries(&dir),
        ["dashboard.pdf"],
        "a temporary file was left"
    );
    assert!(
        run.stdout
            .contains(&format!("wrote {output_arg} ({len} bytes)")),
        "{run}"
    );
    assert_eq!(
        run.last_stdout_line(),
        format!("succeeded: {job} downloaded {len} bytes (application/pdf)")
    );
    assert!(
        run.messages()
            .contains(&format!("started download job {job} of dashboard 12db1a0a")),
        "{run}"
    );
    let starts = recorded(&sim, "POST", "/v1/dashboards/12db1a0a/download");
    assert_eq!(starts.len(), 1);
    assert_eq!(starts[0].body_json().unwrap()["format"], "pdf");

    // `--output -`: the bytes on stdout, the final line on stderr.
    sim.script_next_download(JobScript::succeed_after(ms(300)).with_file_size(5000));
    let run = self::run(cmd(
        &sim,
        &[
            "omni-download",
            "weekly-sales",
            "--format",
            "csv",
            "--output",
            "-",
        ],
    ))
    .await;
    run.assert_code(0);
    let job = sim.started_jobs()[1];
    assert!(
        run.raw_stdout == download_file(job, "csv", 5000),
        "stdout differs from the file served:\n{run}"
    );
    assert!(
        run.messages().contains(&format!(
            "succeeded: {job} downloaded 5000 bytes (text/csv)"
        )),
        "{run}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn omni_download_job_id_is_on_stderr_before_the_file() {
    let sim = simulator().await;
    sim.script_next_download(JobScript::succeed_after(ms(1200)).with_file_size(1000));
    let dir = scratch_dir();
    let output = dir.join("d.png");
    let mut live = Live::spawn(cmd(
        &sim,
        &[
            "omni-download",
            "dash",
            "--format",
            "png",
            "--output",
            &output.to_string_lossy(),
        ],
    ));
    let line = tokio::task::block_in_place(|| live.wait_for_message("started download job"));
    let job = only_started(&sim);
    assert_eq!(
        line,
        format!("started download job {job} of dashboard dash")
    );
    assert!(live.still_running());
    assert!(!output.exists());
    let run = tokio::task::block_in_place(|| live.finish());
    run.assert_code(0);
    assert!(std::fs::read(&output).unwrap() == download_file(job, "png", 1000));
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_or_timed_out_download_leaves_no_file() {
    let sim = simulator().await;
    let dir = scratch_dir();
    let output = dir.join("d.pdf");
    let output_arg = output.to_string_lossy().into_owned();
    let args = [
        "omni-download",
        "dash",
        "--format",
        "pdf",
        "--output",
        &output_arg,
    ];

    // Ctrl-C once the job is started.
    sim.script_next_download(JobScript::succeed_after(Duration::from_secs(60)));
    let mut interrupted_args = args.to_vec();
    interrupted_args.extend(["--timeout", "30s"]);
    let mut live = Live::spawn(cmd(&sim, &interrupted_args));
    tokio::task::block_in_place(|| live.wait_for_message("started download job"));
    // The temporary file exists meanwhile, next to --output.
    let partial = entries(&dir);
    assert_eq!(partial.len(), 1, "{partial:?}");
    assert!(
        partial[0].starts_with(".d.pdf.") && partial[0].ends_with(".jobwait-part"),
        "{partial:?}"
    );
    live.interrupt();
    let run = tokio::task::block_in_place(|| live.finish());
    run.assert_code(130);
    assert!(
        run.messages()
            .contains("interrupted: polling stopped, nothing was cancelled on the server"),
        "{run}"
    );
    assert!(entries(&dir).is_empty(), "{:?}", entries(&dir));

    // The deadline.
    sim.script_next_download(JobScript::succeed_after(Duration::from_secs(60)));
    let mut timed_out_args = args.to_vec();
    timed_out_args.extend(["--timeout", "1500ms"]);
    let run = self::run(cmd(&sim, &timed_out_args)).await;
    run.assert_code(3);
    assert!(run.messages().contains("deadline exceeded: "), "{run}");
    assert!(entries(&dir).is_empty(), "{:?}", entries(&dir));
    assert_eq!(sim.started_jobs().len(), 2);
    std::fs::remove_dir_all(dir).unwrap();
}
