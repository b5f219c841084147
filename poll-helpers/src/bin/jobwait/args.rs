//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use uuid::Uuid;

const AFTER_HELP: &str = "\
Tokens come only from the environment (flags show up in `ps` and shell history):
  OMNI_API_TOKEN, RETAILGRID_API_TOKEN
Base URLs: --base-url, or OMNI_BASE_URL / OMNI_INSTANCE, RETAILGRID_BASE_URL.

Exit codes:
  0    the job succeeded
  1    the job failed or was cancelled (reason on stderr)
  2    usage or configuration error (missing token, bad UUID, ...)
  3    deadline exceeded (--timeout)
  4    permanent request error (401, 403, 404 after the grace period)
  130  interrupted (Ctrl-C stops polling; nothing is cancelled on the server)

Examples:
  OMNI_API_TOKEN=... jobwait omni-job 4e6953a9-a71b-4c0b-8b63-a9ea308f6aaf --instance blobsrus --timeout 10m
  jobwait retailgrid 4e6953a9-a71b-4c0b-8b63-a9ea308f6aaf --json | jq -c .
  jobwait omni-query 4e6953a9-a71b-4c0b-8b63-a9ea308f6aaf --output results/ --format json";

/// Wait for an Omni or Retailgrid job to finish, then exit with its outcome.
#[derive(Debug, Parser)]
#[command(name = "jobwait", version, about, after_help = AFTER_HELP)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
    #[command(flatten)]
    pub(crate) policy: PolicyArgs,
    #[command(flatten)]
    pub(crate) output: OutputArgs,
}

/// Which job to wait for.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// An Omni schema refresh job (GET /v1/jobs/{jobId}/status).
    OmniJob {
        /// The job id returned when the refresh was started.
        #[arg(value_name = "JOB_ID")]
        job_id: Uuid,
        #[command(flatten)]
        connection: Connection,
    },
    /// An Omni AI job (GET /v1/ai/jobs/{jobId}).
    OmniAi {
        /// The AI job id.
        #[arg(value_name = "JOB_ID")]
        job_id: Uuid,
        #[command(flatten)]
        connection: Connection,
    },
    /// Omni query jobs, through the /v1/query/wait long poll; prints their results.
    ///
    /// Without --output, a table of the first rows of each result goes to stdout (with
    /// --json: every row, in the final JSON line). With --output DIR, one file per job:
    /// DIR/<JOB_ID>.csv, .jsonl or .arrow.
    OmniQuery {
        /// The query job ids (`remaining_job_ids` of a query run).
        #[arg(value_name = "JOB_ID", required = true, num_args = 1..)]
        job_ids: Vec<Uuid>,
        #[command(flatten)]
        connection: Connection,
        /// How to write results with --output.
        #[arg(long, value_enum, default_value_t = Format::Csv)]
        format: Format,
        /// Write one file per job into this directory (created if missing), named by job
        /// id.
        #[arg(long, value_name = "DIR")]
        output: Option<PathBuf>,
    },
    /// A Retailgrid job: bulk upsert or CSV import (GET /v1/jobs/{job_id}).
    Retailgrid {
        /// The job id.
        #[arg(value_name = "JOB_ID")]
        job_id: Uuid,
        /// Base URL of the Retailgrid API (else RETAILGRID_BASE_URL).
        #[arg(long, value_name = "URL")]
        base_url: Option<String>,
    },
}

/// Where Omni is.
// Doc comments here are `--help` text: the URLs stay bare there.
#[allow(rustdoc::bare_urls)]
#[derive(Debug, Args)]
pub(crate) struct Connection {
    /// Base URL of the Omni API, e.g. https://blobsrus.omniapp.co/api (else OMNI_BASE_URL).
    #[arg(long, value_name = "URL", conflicts_with = "instance")]
    pub(crate) base_url: Option<String>,
    /// Omni instance name: https://NAME.omniapp.co/api (else OMNI_INSTANCE).
    #[arg(long, value_name = "NAME")]
    pub(crate) instance: Option<String>,
}

/// Result formats for `omni-query --output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// Comma-separated values with a header row (`<JOB_ID>.csv`).
    Csv,
    /// One JSON object per row, JSON Lines (`<JOB_ID>.jsonl`).
    Json,
    /// The Arrow IPC file as Omni sent it, base64-decoded (`<JOB_ID>.arrow`).
    Arrow,
}

/// How to poll.
#[derive(Debug, Args)]
pub(crate) struct PolicyArgs {
    /// Give up after this long, e.g. 90s, 10m, 2h (default: 15m for Omni, 2h for Retailgrid).
    #[arg(long, global = true, value_name = "DURATION")]
    pub(crate) timeout: Option<humantime::Duration>,
    /// First backoff delay (default 2s).
    #[arg(long, global = true, value_name = "DURATION")]
    pub(crate) min_delay: Option<humantime::Duration>,
    /// Largest backoff delay (default 15s for Omni, 30s for Retailgrid).
    #[arg(long, global = true, value_name = "DURATION")]
    pub(crate) max_delay: Option<humantime::Duration>,
    /// Wait this long before the first poll (default 0s).
    #[arg(long, global = true, value_name = "DURATION")]
    pub(crate) initial_delay: Option<humantime::Duration>,
    /// How long a 404 still means "not visible yet" rather than "no such job" (default 10s).
    #[arg(long, global = true, value_name = "DURATION")]
    pub(crate) not_found_grace: Option<humantime::Duration>,
}

/// What to print.
#[derive(Debug, Args)]
pub(crate) struct OutputArgs {
    /// Print one JSON line per poll on stdout, then one with the outcome.
    #[arg(long, global = true)]
    pub(crate) json: bool,
}
