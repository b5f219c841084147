//! Command-line arguments.

use std::path::PathBuf;

use clap::builder::NonEmptyStringValueParser;
use clap::{Args, Parser, Subcommand, ValueEnum};
use omni_sdk::types::{
    AiJobSubmitBodyPrompt, AiJobSubmitBodyTopicName, DashboardsDownloadBodyFormat,
};
use uuid::Uuid;

const AFTER_HELP: &str = "\
Tokens come only from the environment (flags show up in `ps` and shell history):
  OMNI_API_TOKEN, RETAILGRID_API_TOKEN; a Redis URL with a password: JOBWAIT_RATE_BUDGET_URL
Base URLs: --base-url, or OMNI_BASE_URL / OMNI_INSTANCE, RETAILGRID_BASE_URL.

Waiting for a job that already exists: omni-job, omni-ai, omni-query, retailgrid.
Starting a job and waiting for it: omni-refresh, omni-run-query, omni-ask, omni-download.
These print the job id on stderr as soon as Omni answers the start request (with --json,
also a \"started\" line on stdout), with the command that resumes the wait. Their start
request is sent once: a timeout or 5xx on it exits 4 (a retry could start a second job);
only a 429 is retried.

Several job ids (omni-job, omni-ai, retailgrid): all are waited for at once, sharing one
rate budget (--rate-limit, else Omni's 60 per minute per token; with --rate-budget-url,
shared through Redis with every jobwait using that token); one final line per job
(with --json, each \"done\" line has its \"job_id\"), then a summary line. The exit code is
the first of 2, 4, 1, 3 that any job ended with, else 0.

Exit codes:
  0    the job succeeded
  1    the job failed or was cancelled (reason on stderr)
  2    usage or configuration error (missing token, bad UUID, unreadable or invalid
       --body file, output that cannot be written, ...)
  3    deadline exceeded (--timeout)
  4    permanent request error (401, 403, 404 after the grace period; any failed start
       request but a 429)
  130  interrupted (Ctrl-C stops polling; nothing is cancelled on the server, except by
       omni-ask, which cancels the AI job it submitted)

Examples:
  OMNI_API_TOKEN=... jobwait omni-job 4e6953a9-a71b-4c0b-8b63-a9ea308f6aaf --instance blobsrus --timeout 10m
  jobwait retailgrid 4e6953a9-a71b-4c0b-8b63-a9ea308f6aaf --json | jq -c .
  jobwait retailgrid 4e6953a9-a71b-4c0b-8b63-a9ea308f6aaf 0c3e2f4e-5d1b-4c8e-9a7f-2b6d8e1f3a5c --rate-limit 10/1s
  JOBWAIT_RATE_BUDGET_URL=redis://:pw@cache:6379 jobwait omni-job 4e6953a9-a71b-4c0b-8b63-a9ea308f6aaf 0c3e2f4e-5d1b-4c8e-9a7f-2b6d8e1f3a5c
  jobwait omni-query 4e6953a9-a71b-4c0b-8b63-a9ea308f6aaf --output results/ --format json
  jobwait omni-refresh 770e8400-e29b-41d4-a716-446655440002 --branch 880e8400-e29b-41d4-a716-446655440003
  jobwait omni-run-query --body query.json --output results/
  jobwait omni-ask \"Top 5 products by revenue?\" --model 770e8400-e29b-41d4-a716-446655440002 > answer.md
  jobwait omni-download 12db1a0a --format pdf --output dashboard.pdf";

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
    /// Omni schema refresh jobs (GET /v1/jobs/{jobId}/status).
    ///
    /// With several job ids, waits for all of them in one process, sharing one rate
    /// budget: one final line per job, then a summary (see --json).
    OmniJob {
        /// The job ids returned when the refreshes were started.
        #[arg(value_name = "JOB_ID", required = true, num_args = 1..)]
        job_ids: Vec<Uuid>,
        #[command(flatten)]
        connection: Connection,
    },
    /// Omni AI jobs (GET /v1/ai/jobs/{jobId}).
    ///
    /// With several job ids, waits for all of them in one process, sharing one rate
    /// budget: one final line per job, then a summary (see --json).
    OmniAi {
        /// The AI job ids.
        #[arg(value_name = "JOB_ID", required = true, num_args = 1..)]
        job_ids: Vec<Uuid>,
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
    /// Start an Omni schema refresh (POST /v1/models/{modelId}/refresh) and wait for it.
    ///
    /// The job id goes to stderr as soon as Omni answers: "started schema refresh job
    /// <JOB_ID> ...; resume with: jobwait omni-job <JOB_ID>". On success, the final status on
    /// stdout, as omni-job prints it.
    OmniRefresh {
        /// The model to refresh.
        #[arg(value_name = "MODEL_ID")]
        model_id: Uuid,
        /// The branch to refresh (Omni requires one when branch-based schema refresh is
        /// enabled for the model).
        #[arg(long = "branch", value_name = "BRANCH_ID")]
        branch_id: Option<Uuid>,
        #[command(flatten)]
        connection: Connection,
    },
    /// Run an Omni query (POST /v1/query/run), wait for every query job it starts, and
    /// print or write the results as omni-query does.
    ///
    /// The body is Omni's QueryRunBody, e.g. {"query": {"modelId": "...", "table":
    /// "order_items", "fields": ["order_items.count"]}}; the results must be Arrow (no
    /// "resultType", no "planOnly"). The ids of the query jobs still running after the start
    /// request go to stderr, with the omni-query command that resumes the wait.
    OmniRunQuery {
        /// The QueryRunBody JSON document, `-` for stdin.
        #[arg(long, value_name = "FILE")]
        body: PathBuf,
        #[command(flatten)]
        connection: Connection,
        /// How to write results with --output.
        #[arg(long, value_enum, default_value_t = Format::Csv)]
        format: Format,
        /// Write one file per query into this directory (created if missing), named by job
        /// id (query-1, query-2, ... for a query Omni answered without one).
        #[arg(long, value_name = "DIR")]
        output: Option<PathBuf>,
    },
    /// Submit an Omni AI job (POST /v1/ai/jobs), wait for it, and print its answer
    /// (markdown) on stdout.
    ///
    /// The job id goes to stderr as soon as Omni answers, with the omni-ai command that
    /// resumes the wait; so does the final "succeeded" line, so that stdout holds the answer
    /// only (with --json: the JSON lines, the answer in the last one's job.markdown). Ctrl-C
    /// cancels the AI job on the server (POST /v1/ai/jobs/{jobId}/cancel) if its id is known,
    /// and says so on stderr.
    OmniAsk {
        /// The question, in natural language.
        #[arg(value_name = "PROMPT", value_parser = parse_prompt)]
        prompt: AiJobSubmitBodyPrompt,
        /// The shared model to ask.
        #[arg(long = "model", value_name = "MODEL_ID")]
        model_id: Uuid,
        /// A branch of that model.
        #[arg(long = "branch", value_name = "BRANCH_ID")]
        branch_id: Option<Uuid>,
        /// The topic to scope the question to (else Omni picks one).
        #[arg(long = "topic", value_name = "NAME", value_parser = parse_topic)]
        topic: Option<AiJobSubmitBodyTopicName>,
        #[command(flatten)]
        connection: Connection,
    },
    /// Download an Omni dashboard (POST /v1/dashboards/{identifier}/download, then its
    /// file) into a file.
    ///
    /// The file is written to a temporary file next to --output and renamed on success: a
    /// failed, cut off or interrupted download never leaves a partial file at --output (nor
    /// replaces a file already there). With `--output -`, the file goes to stdout once
    /// received in full, and the final "succeeded" line to stderr. A failed download job
    /// (HTTP 410) exits 1.
    OmniDownload {
        /// The dashboard's identifier.
        #[arg(value_name = "DASHBOARD", value_parser = NonEmptyStringValueParser::new())]
        dashboard: String,
        /// The file format.
        #[arg(long, value_enum)]
        format: DownloadFormat,
        /// Where to write the file, `-` for stdout.
        #[arg(long, value_name = "FILE")]
        output: PathBuf,
        #[command(flatten)]
        connection: Connection,
    },
    /// Retailgrid jobs: bulk upserts or CSV imports (GET /v1/jobs/{job_id}).
    ///
    /// With several job ids, waits for all of them in one process (sharing --rate-limit,
    /// if given): one final line per job, then a summary (see --json).
    Retailgrid {
        /// The job ids.
        #[arg(value_name = "JOB_ID", required = true, num_args = 1..)]
        job_ids: Vec<Uuid>,
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

/// Result formats for `omni-query --output` and `omni-run-query --output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// Comma-separated values with a header row (`<JOB_ID>.csv`).
    Csv,
    /// One JSON object per row, JSON Lines (`<JOB_ID>.jsonl`).
    Json,
    /// The Arrow IPC file as Omni sent it, base64-decoded (`<JOB_ID>.arrow`).
    Arrow,
}

/// Dashboard download formats (`omni-download --format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum DownloadFormat {
    /// PDF document.
    Pdf,
    /// PNG image.
    Png,
    /// Comma-separated values.
    Csv,
    /// Excel workbook.
    Xlsx,
    /// JSON document.
    Json,
}

impl DownloadFormat {
    /// The format as `DashboardsDownloadBody.format`.
    pub(crate) fn to_body(self) -> DashboardsDownloadBodyFormat {
        match self {
            DownloadFormat::Pdf => DashboardsDownloadBodyFormat::Pdf,
            DownloadFormat::Png => DashboardsDownloadBodyFormat::Png,
            DownloadFormat::Csv => DashboardsDownloadBodyFormat::Csv,
            DownloadFormat::Xlsx => DashboardsDownloadBodyFormat::Xlsx,
            DownloadFormat::Json => DashboardsDownloadBodyFormat::Json,
        }
    }
}

/// `<PROMPT>`: at least one character (Omni's constraint).
fn parse_prompt(value: &str) -> Result<AiJobSubmitBodyPrompt, String> {
    value.parse().map_err(|_| "the prompt is empty".to_owned())
}

/// `--topic`: at most 256 characters (Omni's constraint).
fn parse_topic(value: &str) -> Result<AiJobSubmitBodyTopicName, String> {
    value.parse().map_err(|e| format!("the topic name is {e}"))
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
    /// At most N requests per DURATION for the whole process, e.g. 60/1m, 10/2s (default:
    /// 60/1m per Omni token, Omni's limit; no limit for Retailgrid).
    #[arg(long, global = true, value_name = "N/DURATION", value_parser = parse_rate_limit)]
    pub(crate) rate_limit: Option<RateLimit>,
    /// Share the rate budget (--rate-limit, else Omni's 60/1m) with every jobwait on any
    /// machine using this Redis, e.g. redis://cache:6379/0 (or JOBWAIT_RATE_BUDGET_URL; a
    /// URL with a password only through that variable). Retailgrid needs --rate-limit.
    #[arg(long, global = true, value_name = "URL")]
    pub(crate) rate_budget_url: Option<String>,
}

/// `--rate-limit N/DURATION`: at most `requests` requests in any window of `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RateLimit {
    pub(crate) requests: u32,
    pub(crate) per: std::time::Duration,
}

/// `N/DURATION`, N at least 1, DURATION in humantime syntax and not zero.
pub(crate) fn parse_rate_limit(value: &str) -> Result<RateLimit, String> {
    let (n, per) = value
        .split_once('/')
        .ok_or_else(|| format!("{value:?} is not N/DURATION (e.g. 60/1m, 10/2s)"))?;
    let requests: u32 = n.trim().parse().map_err(|_| {
        format!("{n:?} in {value:?} is not a whole number of requests (N/DURATION, e.g. 60/1m)")
    })?;
    if requests == 0 {
        return Err(format!("{value:?} allows no request: N must be at least 1"));
    }
    let per: std::time::Duration = humantime::parse_duration(per.trim())
        .map_err(|e| format!("{per:?} in {value:?} is not a duration ({e}; e.g. 1m, 2s)"))?;
    if per.is_zero() {
        return Err(format!("{value:?} has a zero DURATION"));
    }
    Ok(RateLimit { requests, per })
}

/// What to print.
#[derive(Debug, Args)]
pub(crate) struct OutputArgs {
    /// Print one JSON line per poll on stdout, then one with the outcome (the
    /// start-and-wait subcommands first print one with the job id, "event": "started").
    #[arg(long, global = true)]
    pub(crate) json: bool,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rate_limits_are_n_per_a_humantime_duration() {
        assert_eq!(
            parse_rate_limit("60/1m").unwrap(),
            RateLimit {
                requests: 60,
                per: Duration::from_secs(60)
            }
        );
        assert_eq!(
            parse_rate_limit("10/2s").unwrap(),
            RateLimit {
                requests: 10,
                per: Duration::from_secs(2)
            }
        );
        for bad in [
            "", "60", "60/", "/1m", "0/1m", "-1/1m", "x/1m", "60/soon", "60/0s", "1.5/1m",
        ] {
            let e = parse_rate_limit(bad).unwrap_err();
            assert!(
                e.contains(&format!("{bad:?}")) || bad.is_empty(),
                "{bad}: {e}"
            );
        }
    }
}
