//! Wait for an Omni schema refresh job and print every poll.
//!
//! ```sh
//! OMNI_API_TOKEN=... cargo run -p poll-helpers --example wait_for_job -- \
//!     https://blobsrus.omniapp.co/api 4e6953a9-a71b-4c0b-8b63-a9ea308f6aaf
//! ```
//!
//! The base URL comes from the command line (or `OMNI_BASE_URL`), the token only from
//! `OMNI_API_TOKEN`: a token on the command line would show up in `ps` and shell history.

use futures_util::StreamExt;
use poll_helpers::{PollError, omni};

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (base_url, job_id) = match (args.next(), args.next()) {
        (Some(base_url), Some(job_id)) => (Some(base_url), job_id),
        (Some(job_id), None) => (None, job_id),
        _ => return Err("usage: wait_for_job [BASE_URL] JOB_ID (token in OMNI_API_TOKEN)".into()),
    };
    let job_id: uuid::Uuid = job_id
        .parse()
        .map_err(|e| format!("JOB_ID {job_id:?} is not a UUID: {e}"))?;
    let mut builder = omni_sdk::Client::builder();
    if let Some(base_url) = base_url {
        builder = builder.base_url(base_url);
    }
    let client = builder.from_env()?;

    let policy = omni::default_policy();
    let mut events = omni::wait_for_job(&client, job_id, &policy).into_stream();
    while let Some(event) = events.next().await {
        match event {
            Ok(e) => match &e.outcome {
                Ok(job) => println!(
                    "#{} at {:.1?}: {} (next poll in {:?})",
                    e.attempt,
                    e.elapsed,
                    job.status.as_ref().map_or("(no status)", |s| s.as_str()),
                    e.next_delay
                ),
                Err(err) => println!(
                    "#{} at {:.1?}: {err} (next poll in {:?})",
                    e.attempt, e.elapsed, e.next_delay
                ),
            },
            Err(PollError::Failed { reason, .. }) => {
                return Err(format!("job failed: {reason}").into());
            }
            Err(e) => return Err(e.into()),
        }
    }
    println!("job {job_id} completed");
    Ok(())
}
