//! `jobwait`: wait for an Omni or Retailgrid job from a shell script or CI pipeline.
//!
//! Two kinds of subcommands: `omni-job`, `omni-ai`, `omni-query` and `retailgrid` wait for
//! a job that already exists; `omni-refresh`, `omni-run-query`, `omni-ask` and
//! `omni-download` start one (through the start-and-wait workflows of
//! [`poll_helpers::omni`]) and wait for it, printing its id on stderr as soon as Omni
//! answers, with the command that resumes the wait (see `start.rs`).
//!
//! Exit codes: 0 the job succeeded; 1 it failed or was cancelled (reason on stderr);
//! 2 usage or configuration error; 3 deadline exceeded; 4 permanent request error (401,
//! 403, 404 after the grace period, a failed start request); 130 interrupted (Ctrl-C stops
//! polling and cancels nothing on the server, except `omni-ask`, which cancels its AI job).
//! With several job ids (`omni-job`, `omni-ai`, `retailgrid`), the waits run at once on
//! one rate budget (`many.rs`) and the exit code is the first of 2, 4, 1, 3 that a job
//! ended with, else 0.
//!
//! `omni-query` and `omni-run-query` also decode each job's Arrow result: a table of the
//! first rows on stdout, the rows in the final `--json` line, or one file per job with
//! `--output DIR`.

mod args;
mod budget;
mod many;
mod report;
mod results;
mod start;

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use futures_util::StreamExt;
use poll_helpers::{PollError, PollPolicy, Poller, Snapshot, omni, retailgrid};

use crate::args::{Cli, Command, Connection};
use crate::budget::with_rate_limit;
use crate::report::{Describe, Outcome, Reporter};

/// Exit codes, also listed in `--help`.
pub(crate) mod exit {
    /// The job succeeded.
    pub(crate) const SUCCEEDED: u8 = 0;
    /// The job failed or was cancelled.
    pub(crate) const FAILED: u8 = 1;
    /// Usage or configuration error.
    pub(crate) const USAGE: u8 = 2;
    /// The deadline passed first.
    pub(crate) const DEADLINE: u8 = 3;
    /// A request failed permanently (401, 403, 404 after the grace period).
    pub(crate) const REQUEST: u8 = 4;
    /// Interrupted by Ctrl-C.
    pub(crate) const INTERRUPTED: u8 = 130;
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(exit::USAGE);
        }
    };
    ExitCode::from(runtime.block_on(async {
        install_interrupt();
        run(cli).await
    }))
}

/// Ctrl-C, as every wait of this process sees it.
static INTERRUPT: std::sync::OnceLock<tokio::sync::watch::Receiver<bool>> =
    std::sync::OnceLock::new();

/// Installs the Ctrl-C handler before anything is sent or printed. Why not
/// `tokio::signal::ctrl_c()` where it is awaited: tokio installs that handler on the
/// future's first poll, and a Ctrl-C that came in between (right after "started …" was
/// printed) killed the process with the default action instead of exit 130.
fn install_interrupt() {
    let (tx, rx) = tokio::sync::watch::channel(false);
    #[cfg(unix)]
    let installed = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .map(|mut signal| {
            let tx = tx.clone();
            tokio::spawn(async move {
                if signal.recv().await.is_some() {
                    let _ = tx.send(true);
                }
            });
        })
        .is_ok();
    #[cfg(not(unix))]
    let installed = false;
    if !installed {
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                let _ = tx.send(true);
            }
        });
    }
    let _ = INTERRUPT.set(rx);
}

/// Completes when Ctrl-C was pressed (at any time since the start).
pub(crate) async fn interrupted() {
    match INTERRUPT.get() {
        Some(rx) => {
            let mut rx = rx.clone();
            if rx.wait_for(|pressed| *pressed).await.is_err() {
                // No handler any more: no Ctrl-C will ever be reported.
                std::future::pending::<()>().await;
            }
        }
        None => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Logs go to stderr, filtered by `RUST_LOG` (default: warnings only).
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

pub(crate) fn usage_error(message: impl std::fmt::Display) -> u8 {
    eprintln!("error: {message}");
    exit::USAGE
}

async fn run(cli: Cli) -> u8 {
    let base = match cli.command {
        Command::Retailgrid { .. } => retailgrid::default_policy(),
        _ => omni::default_policy(),
    };
    let policy = cli.policy.to_policy(base);
    if let Err(e) = policy.validate() {
        return usage_error(format!("invalid polling options: {e}"));
    }
    let api = match cli.command {
        Command::Retailgrid { .. } => budget::Api::Retailgrid,
        _ => budget::Api::Omni,
    };
    if let Err(e) = budget::configure(&cli.policy, api) {
        return usage_error(e);
    }
    let mut reporter = Reporter::new(cli.output.json);
    match &cli.command {
        Command::OmniJob {
            job_ids,
            connection,
        } => {
            let client = match omni_client(connection) {
                Ok(c) => c,
                Err(code) => return code,
            };
            wait_for_all(
                job_ids,
                |id| omni::wait_for_job(&client, id, &policy),
                &mut reporter,
            )
            .await
        }
        Command::OmniAi {
            job_ids,
            connection,
        } => {
            let client = match omni_client(connection) {
                Ok(c) => c,
                Err(code) => return code,
            };
            wait_for_all(
                job_ids,
                |id| omni::wait_for_ai_job(&client, id, &policy),
                &mut reporter,
            )
            .await
        }
        Command::OmniQuery {
            job_ids,
            connection,
            format,
            output,
        } => {
            let client = match omni_client(connection) {
                Ok(c) => c,
                Err(code) => return code,
            };
            // Fail before waiting, not after, when the results could not be written.
            if let Some(dir) = output
                && let Err(e) = std::fs::create_dir_all(dir)
            {
                return usage_error(format!(
                    "cannot create the output directory {}: {e}",
                    dir.display()
                ));
            }
            let poller = omni::wait_for_queries(&client, job_ids, &policy);
            let ending = drive(poller, &mut reporter).await;
            match (ending.code, ending.last) {
                (exit::SUCCEEDED, Some(results)) => {
                    let target = match output {
                        Some(dir) => results::Target::Files(dir, *format),
                        None => results::Target::Stdout,
                    };
                    let named = report::named(results.values());
                    results::finish(&named, &results, &target, &mut reporter)
                }
                (code, last) => {
                    reporter.finish_with(&ending.outcome, last.as_ref());
                    code
                }
            }
        }
        Command::OmniRefresh {
            model_id,
            branch_id,
            connection,
        } => start::refresh(connection, *model_id, *branch_id, &policy, &mut reporter).await,
        Command::OmniRunQuery {
            body,
            connection,
            format,
            output,
        } => {
            let target = start::QueryTarget {
                format: *format,
                output: output.as_deref(),
            };
            start::run_query(connection, body, target, &policy, &mut reporter).await
        }
        Command::OmniAsk {
            prompt,
            model_id,
            branch_id,
            topic,
            connection,
        } => {
            let question = start::Question {
                prompt: prompt.clone(),
                model_id: *model_id,
                branch_id: *branch_id,
                topic: topic.clone(),
            };
            start::ask(connection, question, &policy, &mut reporter).await
        }
        Command::OmniDownload {
            dashboard,
            format,
            output,
            connection,
        } => {
            start::download(
                connection,
                dashboard,
                *format,
                output,
                &policy,
                &mut reporter,
            )
            .await
        }
        Command::Retailgrid { job_ids, base_url } => {
            let client = match retailgrid_client(base_url.as_deref()) {
                Ok(c) => c,
                Err(code) => return code,
            };
            wait_for_all(
                job_ids,
                |id| retailgrid::wait_for_job(&client, id, &policy),
                &mut reporter,
            )
            .await
        }
    }
}

/// Waits for the jobs `ids` (each waited for by `wait`): one job exactly as ever (its
/// polls, its final line, its exit code); several at once with [`many::drive_many`].
async fn wait_for_all<'a, T>(
    ids: &[uuid::Uuid],
    wait: impl Fn(uuid::Uuid) -> Poller<'a, T>,
    reporter: &mut Reporter,
) -> u8
where
    T: Snapshot + Describe + Clone + Send + 'a,
{
    // A job named twice is waited for once.
    let mut seen = std::collections::HashSet::new();
    let ids: Vec<uuid::Uuid> = ids.iter().copied().filter(|id| seen.insert(*id)).collect();
    match ids.as_slice() {
        [id] => drive(wait(*id), reporter).await.report(reporter),
        ids => {
            let pollers = ids.iter().map(|&id| (id, wait(id))).collect();
            many::drive_many(pollers, reporter).await
        }
    }
}

pub(crate) fn omni_client(connection: &Connection) -> Result<omni_sdk::Client, u8> {
    omni_client_with_timeout(
        connection,
        omni::long_poll_timeout() + Duration::from_secs(10),
    )
}

/// An Omni client whose requests (their bodies read included) time out after `timeout`.
pub(crate) fn omni_client_with_timeout(
    connection: &Connection,
    timeout: Duration,
) -> Result<omni_sdk::Client, u8> {
    let mut builder = omni_sdk::Client::builder();
    if let Some(url) = &connection.base_url {
        builder = builder.base_url(url.clone());
    } else if let Some(instance) = &connection.instance {
        builder = builder.instance(instance.clone());
    }
    let client = builder.timeout(timeout).from_env().map_err(usage_error)?;
    budget::bind_omni(&client);
    Ok(client)
}

fn retailgrid_client(base_url: Option<&str>) -> Result<retailgrid_sdk::Client, u8> {
    let mut builder = retailgrid_sdk::Client::builder();
    if let Some(url) = base_url {
        builder = builder.base_url(url);
    }
    let client = builder.from_env().map_err(usage_error)?;
    budget::bind_retailgrid(&client);
    Ok(client)
}

/// How a wait ended: what to report, the exit code, and the last snapshot seen.
pub(crate) struct Ending<T> {
    pub(crate) outcome: Outcome,
    pub(crate) code: u8,
    pub(crate) last: Option<T>,
}

impl<T: Describe> Ending<T> {
    /// Prints the ending and returns the exit code.
    pub(crate) fn report(self, reporter: &mut Reporter) -> u8 {
        reporter.finish_with(&self.outcome, self.last.as_ref());
        self.code
    }
}

/// Runs one wait to its end, reporting each poll, and maps the ending to an exit code.
/// The ending itself is left to the caller to print.
async fn drive<'a, T>(poller: Poller<'a, T>, reporter: &mut Reporter) -> Ending<T>
where
    T: Snapshot + Describe + Clone + Send + 'a,
{
    drive_with(poller, reporter, |_, _| {}).await
}

/// [`drive`], calling `on_snapshot` with each snapshot received, before it is reported
/// (the start-and-wait subcommands print the job id from the first one).
pub(crate) async fn drive_with<'a, T>(
    poller: Poller<'a, T>,
    reporter: &mut Reporter,
    mut on_snapshot: impl FnMut(&T, &mut Reporter),
) -> Ending<T>
where
    T: Snapshot + Describe + Clone + Send + 'a,
{
    let mut events = with_rate_limit(poller).into_stream();
    let ctrl_c = interrupted();
    tokio::pin!(ctrl_c);
    let mut last: Option<T> = None;
    loop {
        let item = tokio::select! {
            item = events.next() => item,
            _ = &mut ctrl_c => {
                // Dropping the stream stops polling; nothing is cancelled on the server.
                return Ending { outcome: Outcome::Interrupted, code: exit::INTERRUPTED, last };
            }
        };
        match item {
            Some(Ok(event)) => {
                if let Ok(snapshot) = &event.outcome {
                    on_snapshot(snapshot, reporter);
                }
                reporter.event(&event);
                if let Ok(snapshot) = &event.outcome {
                    last = Some(snapshot.clone());
                }
            }
            Some(Err(error)) => {
                let (outcome, code) = ending(&error);
                let last = error.last().cloned().or(last);
                if let Some(snapshot) = error.last() {
                    // A job that fails on its first poll: its id is still worth printing.
                    on_snapshot(snapshot, reporter);
                }
                return Ending {
                    outcome,
                    code,
                    last,
                };
            }
            None => {
                return Ending {
                    outcome: Outcome::Succeeded,
                    code: exit::SUCCEEDED,
                    last,
                };
            }
        }
    }
}

pub(crate) fn ending<T>(error: &PollError<T>) -> (Outcome, u8) {
    match error {
        PollError::Failed { reason, .. } => (Outcome::Failed(reason.clone()), exit::FAILED),
        PollError::DeadlineExceeded { .. } | PollError::AttemptsExhausted { .. } => {
            (Outcome::DeadlineExceeded(error_text(error)), exit::DEADLINE)
        }
        PollError::Request { .. } => (Outcome::RequestError(error_text(error)), exit::REQUEST),
        PollError::InvalidPolicy(e) => (Outcome::RequestError(e.to_string()), exit::USAGE),
        _ => (Outcome::RequestError(error_text(error)), exit::REQUEST),
    }
}

fn error_text<T>(error: &PollError<T>) -> String {
    // `PollError`'s Display needs `T: Debug`; rebuild the text from the fields we print.
    match error {
        PollError::DeadlineExceeded {
            job,
            attempts,
            elapsed,
            reason,
            last_error,
            ..
        } => {
            let last = last_error
                .as_ref()
                .map(|e| format!(" (last error: {e})"))
                .unwrap_or_default();
            format!(
                "gave up waiting for job {job} after {attempts} polls in {elapsed:.1?}: {reason}{last}"
            )
        }
        PollError::AttemptsExhausted {
            job,
            attempts,
            elapsed,
            ..
        } => {
            format!("job {job} not finished after {attempts} polls ({elapsed:.1?})")
        }
        PollError::Request {
            job,
            status,
            message,
            ..
        } => match status {
            Some(s) => format!("polling job {job} failed with HTTP {s}: {message}"),
            None => format!("polling job {job} failed: {message}"),
        },
        PollError::Failed { job, reason, .. } => format!("job {job} failed: {reason}"),
        PollError::InvalidPolicy(e) => format!("invalid poll policy: {e}"),
        _ => "the wait ended with an error".to_owned(),
    }
}

impl args::PolicyArgs {
    /// The adapter's default policy with the flags given on top.
    fn to_policy(&self, base: PollPolicy) -> PollPolicy {
        let mut policy = base;
        if let Some(timeout) = self.timeout {
            policy = policy.deadline(timeout.into());
        }
        if let Some(initial) = self.initial_delay {
            policy = policy.initial_delay(initial.into());
        }
        if let Some(min) = self.min_delay {
            policy = policy.min_delay(min.into());
        }
        if let Some(max) = self.max_delay {
            policy = policy.max_delay(max.into());
        }
        if let Some(grace) = self.not_found_grace {
            policy = policy.not_found_grace(grace.into());
        }
        policy
    }
}
