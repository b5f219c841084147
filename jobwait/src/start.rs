//! The start-and-wait subcommands: `omni-refresh`, `omni-run-query`, `omni-ask` and
//! `omni-download`.
//!
//! Each starts a job through its workflow in [`poll_helpers::omni`] and waits for it like
//! the other subcommands (same policy flags, progress, `--json` lines and exit codes).
//! The first event of each workflow carries the job id: it goes to stderr at once (and,
//! with `--json`, in a `"started"` line on stdout) with the command that resumes the wait,
//! so that a script interrupted mid-wait never loses the job. The start request is sent
//! once by the workflows (a retry could start a second job): its failure exits 4.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use omni_sdk::ErrorExt as _;
use omni_sdk::types::{
    AiJobCancelResponseState, AiJobSubmitBody, AiJobSubmitBodyPrompt, AiJobSubmitBodyTopicName,
    DashboardsDownloadBody, QueryRunBody,
};
use poll_helpers::PollPolicy;
use poll_helpers::omni::{self, AiAnswer, Download, QueryRun, SchemaRefresh};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::args::{Connection, DownloadFormat, Format};
use crate::report::{Describe, Outcome, Reporter};
use crate::{drive_with, exit, omni_client, omni_client_with_timeout, results, usage_error};

/// How long `omni-ask` waits for the cancel request after Ctrl-C.
const CANCEL_TIMEOUT: Duration = Duration::from_secs(10);

// -----------------------------------------------------------------------------------------
// omni-refresh
// -----------------------------------------------------------------------------------------

/// `omni-refresh`: starts a schema refresh and waits for it.
pub(crate) async fn refresh(
    connection: &Connection,
    model_id: Uuid,
    branch_id: Option<Uuid>,
    policy: &PollPolicy,
    reporter: &mut Reporter,
) -> u8 {
    let client = match omni_client(connection) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let flags = resume_flags(connection);
    let mut announced = false;
    let poller = omni::refresh_schema(&client, model_id, branch_id, policy);
    drive_with(poller, reporter, |refresh: &SchemaRefresh, reporter| {
        if std::mem::replace(&mut announced, true) {
            return;
        }
        let resume = format!("jobwait omni-job {}{flags}", refresh.job_id);
        let branch = branch_id
            .map(|b| format!(" (branch {b})"))
            .unwrap_or_default();
        reporter.started(
            &format!(
                "started schema refresh job {} of model {}{branch}; resume with: {resume}",
                refresh.job_id, refresh.model_id
            ),
            json!({
                "job_id": refresh.job_id,
                "model_id": refresh.model_id,
                "branch_id": branch_id,
                "resume": resume,
            }),
        );
    })
    .await
    .report(reporter)
}

// -----------------------------------------------------------------------------------------
// omni-run-query
// -----------------------------------------------------------------------------------------

/// Where `omni-run-query` puts the results.
pub(crate) struct QueryTarget<'a> {
    /// The format of the files in `output`.
    pub(crate) format: Format,
    /// `--output DIR`, else stdout.
    pub(crate) output: Option<&'a Path>,
}

/// `omni-run-query`: runs a query and prints or writes its results as `omni-query` does.
pub(crate) async fn run_query(
    connection: &Connection,
    body_path: &Path,
    target: QueryTarget<'_>,
    policy: &PollPolicy,
    reporter: &mut Reporter,
) -> u8 {
    let body = match read_query_body(body_path) {
        Ok(body) => body,
        Err(message) => return usage_error(message),
    };
    let client = match omni_client(connection) {
        Ok(c) => c,
        Err(code) => return code,
    };
    // Fail before starting anything, not after, when the results could not be written.
    if let Some(dir) = target.output
        && let Err(e) = std::fs::create_dir_all(dir)
    {
        return usage_error(format!(
            "cannot create the output directory {}: {e}",
            dir.display()
        ));
    }
    let flags = resume_flags(connection);
    let mut announced = false;
    let poller = omni::run_query(&client, body, policy);
    let ending = drive_with(poller, reporter, |run: &QueryRun, reporter| {
        if !run.started || std::mem::replace(&mut announced, true) {
            return;
        }
        announce_query_run(run, &flags, reporter);
    })
    .await;
    match (ending.code, ending.last) {
        (exit::SUCCEEDED, Some(run)) => {
            let target = match target.output {
                Some(dir) => results::Target::Files(dir, target.format),
                None => results::Target::Stdout,
            };
            let named = crate::report::named(&run.results);
            results::finish(&named, &run, &target, reporter)
        }
        (code, last) => {
            reporter.finish_with(&ending.outcome, last.as_ref());
            code
        }
    }
}

fn announce_query_run(run: &QueryRun, flags: &str, reporter: &mut Reporter) {
    let ids: Vec<Uuid> = run
        .results
        .iter()
        .map(|r| r.job_id)
        .filter(|id| !id.is_nil())
        .collect();
    let pending = run.pending_job_ids();
    let list = |ids: &[Uuid]| {
        ids.iter()
            .map(Uuid::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    };
    let count = run.results.len();
    let queries = if count == 1 { "query" } else { "queries" };
    let (message, resume) = if pending.is_empty() {
        let named = if ids.is_empty() {
            String::new()
        } else {
            format!(" (query jobs {})", list(&ids))
        };
        (
            format!("query run answered at once: {count} {queries} finished{named}"),
            None,
        )
    } else {
        let resume = format!("jobwait omni-query {}{flags}", list(&pending));
        (
            format!(
                "started query run: {count} {queries}, query jobs {}; {} still running; \
                 resume with: {resume}",
                list(&ids),
                pending.len()
            ),
            Some(resume),
        )
    };
    reporter.started(
        &message,
        json!({"job_ids": ids, "pending_job_ids": pending, "resume": resume}),
    );
}

/// The `--body` document as a `QueryRunBody`, or why not, naming the file.
fn read_query_body(path: &Path) -> Result<QueryRunBody, String> {
    let stdin = path.as_os_str() == "-";
    let name = if stdin {
        "--body - (stdin)".to_owned()
    } else {
        format!("--body {}", path.display())
    };
    let text = if stdin {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| format!("cannot read {name}: {e}"))?;
        text
    } else {
        std::fs::read_to_string(path).map_err(|e| format!("cannot read {name}: {e}"))?
    };
    parse_query_body(&text).map_err(|e| format!("invalid {name}: {e}"))
}

/// Parses a `QueryRunBody` strictly: a field the type does not know would be dropped
/// silently (the query would run without it), so it is an error; and the results must be
/// the Arrow tables the output code reads.
fn parse_query_body(text: &str) -> Result<QueryRunBody, String> {
    let body: QueryRunBody =
        serde_json::from_str(text).map_err(|e| format!("not a QueryRunBody JSON document: {e}"))?;
    // The document parsed as a body, so it is an object.
    let given: serde_json::Map<String, Value> = serde_json::from_str(text).unwrap_or_default();
    let kept = serde_json::to_value(&body).unwrap_or(Value::Null);
    let unknown: Vec<&str> = given
        .iter()
        .filter(|(key, value)| !value.is_null() && kept.get(key.as_str()).is_none())
        .map(|(key, _)| key.as_str())
        .collect();
    if !unknown.is_empty() {
        return Err(format!(
            "unknown field(s) {} (a QueryRunBody has branchId, cache, formatResults, planOnly, \
             query, resultType, userId)",
            unknown
                .iter()
                .map(|k| format!("{k:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if body.query.is_none() {
        return Err("no \"query\": the body must hold the query to run, e.g. \
                    {\"query\": {\"modelId\": \"...\", \"table\": \"...\", \"fields\": [...]}}"
            .to_owned());
    }
    if let Some(kind) = &body.result_type {
        return Err(format!(
            "\"resultType\": {:?} is not supported: jobwait reads Arrow results (omit \
             resultType; --output DIR --format csv|json converts them)",
            kind.as_str()
        ));
    }
    if body.plan_only {
        return Err(
            "\"planOnly\": true is not supported: a plan has no result to print".to_owned(),
        );
    }
    Ok(body)
}

// -----------------------------------------------------------------------------------------
// omni-ask
// -----------------------------------------------------------------------------------------

/// What `omni-ask` asks.
pub(crate) struct Question {
    pub(crate) prompt: AiJobSubmitBodyPrompt,
    pub(crate) model_id: Uuid,
    pub(crate) branch_id: Option<Uuid>,
    pub(crate) topic: Option<AiJobSubmitBodyTopicName>,
}

/// `omni-ask`: submits an AI job, waits for it, and prints its answer; cancels the job on
/// Ctrl-C.
pub(crate) async fn ask(
    connection: &Connection,
    question: Question,
    policy: &PollPolicy,
    reporter: &mut Reporter,
) -> u8 {
    let body: AiJobSubmitBody = match AiJobSubmitBody::builder()
        .model_id(question.model_id)
        .prompt(question.prompt)
        .branch_id(question.branch_id)
        .topic_name(question.topic)
        .try_into()
    {
        Ok(body) => body,
        Err(e) => return usage_error(format!("invalid question: {e}")),
    };
    let client = match omni_client(connection) {
        Ok(c) => c,
        Err(code) => return code,
    };
    // stdout is for the answer.
    reporter.final_line_to_stderr();
    let flags = resume_flags(connection);
    let mut announced = false;
    let poller = omni::ask_ai(&client, body, policy);
    let ending = drive_with(poller, reporter, |answer: &AiAnswer, reporter| {
        if std::mem::replace(&mut announced, true) {
            return;
        }
        let submitted = &answer.submitted;
        let resume = format!("jobwait omni-ai {}{flags}", submitted.job_id);
        reporter.started(
            &format!(
                "submitted AI job {} (conversation {}, {}); resume with: {resume}",
                submitted.job_id, submitted.conversation_id, submitted.omni_chat_url
            ),
            json!({
                "job_id": submitted.job_id,
                "conversation_id": submitted.conversation_id,
                "omni_chat_url": submitted.omni_chat_url,
                "resume": resume,
            }),
        );
    })
    .await;
    match (ending.code, ending.last) {
        (exit::SUCCEEDED, Some(answer)) => {
            reporter.clear_progress();
            if !reporter.json() {
                match answer.markdown() {
                    Some(markdown) => {
                        let mut out = std::io::stdout().lock();
                        let newline = if markdown.ends_with('\n') { "" } else { "\n" };
                        let written = write!(out, "{markdown}{newline}").and_then(|()| out.flush());
                        if let Err(e) = written {
                            let reason = format!("cannot write the answer to stdout: {e}");
                            reporter.finish_with(&Outcome::OutputError(reason), Some(&answer));
                            return exit::USAGE;
                        }
                    }
                    None => eprintln!(
                        "note: AI job {} completed without an answer message",
                        answer.job_id()
                    ),
                }
            }
            reporter.finish_with(&Outcome::Succeeded, Some(&answer));
            exit::SUCCEEDED
        }
        (exit::INTERRUPTED, last) => {
            let reason = match &last {
                Some(answer) => cancel(&client, answer.job_id()).await,
                None => "interrupted before Omni answered the submit request: the AI job may \
                         have been created, but its id is unknown, so nothing was cancelled"
                    .to_owned(),
            };
            reporter.finish_with(&Outcome::InterruptedWith(reason), last.as_ref());
            exit::INTERRUPTED
        }
        (code, last) => {
            reporter.finish_with(&ending.outcome, last.as_ref());
            code
        }
    }
}

/// Cancels the AI job after Ctrl-C; says what happened.
async fn cancel(client: &omni_sdk::Client, job_id: Uuid) -> String {
    let follow = format!("`jobwait omni-ai {job_id}` follows it");
    match tokio::time::timeout(CANCEL_TIMEOUT, omni::cancel_ai_job(client, job_id)).await {
        Ok(Ok(response)) => match response.state {
            AiJobCancelResponseState::Cancelled => {
                format!("polling stopped; AI job {job_id} was cancelled on the server")
            }
            state => {
                format!("polling stopped; AI job {job_id} was not cancelled: it is already {state}")
            }
        },
        Ok(Err(e)) if e.http_status() == Some(409) => format!(
            "polling stopped; AI job {job_id} was not cancelled: it had already ended ({})",
            e.message()
        ),
        Ok(Err(e)) => {
            let status = e
                .http_status()
                .map(|s| format!("HTTP {s}: "))
                .unwrap_or_default();
            format!(
                "polling stopped; cancelling AI job {job_id} failed ({status}{}): it may still \
                 be running; {follow}",
                e.message()
            )
        }
        Err(_) => format!(
            "polling stopped; cancelling AI job {job_id} got no answer within {CANCEL_TIMEOUT:?}: \
             it may still be running; {follow}"
        ),
    }
}

// -----------------------------------------------------------------------------------------
// omni-download
// -----------------------------------------------------------------------------------------

/// A file being downloaded, removed when dropped unless [`Partial::keep`] was called: a
/// failed, cut off or interrupted download leaves nothing behind.
struct Partial {
    path: PathBuf,
    armed: bool,
}

impl Partial {
    /// The file is now somewhere else (renamed) or gone: nothing to remove.
    fn keep(&mut self) {
        self.armed = false;
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        if self.armed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Where the download goes.
enum Destination<'a> {
    /// `--output FILE`: renamed there on success.
    File(&'a Path),
    /// `--output -`: copied to stdout on success.
    Stdout,
}

/// The temporary file to download into: next to `--output` (so that the final rename
/// stays on one file system), or in the temporary directory for stdout.
fn partial_path(destination: &Destination<'_>) -> Result<PathBuf, String> {
    let tag = Uuid::new_v4().simple().to_string();
    let tag = &tag[..12];
    let Destination::File(output) = destination else {
        return Ok(std::env::temp_dir().join(format!("jobwait-download-{tag}.part")));
    };
    if output.is_dir() {
        return Err(format!("--output {} is a directory", output.display()));
    }
    let Some(name) = output.file_name() else {
        return Err(format!("--output {} names no file", output.display()));
    };
    let dir = output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    Ok(dir.join(format!(".{}.{tag}.jobwait-part", name.to_string_lossy())))
}

/// `omni-download`: downloads a dashboard into `--output` (or stdout), never leaving a
/// partial file there.
pub(crate) async fn download(
    connection: &Connection,
    dashboard: &str,
    format: DownloadFormat,
    output: &Path,
    policy: &PollPolicy,
    reporter: &mut Reporter,
) -> u8 {
    let destination = if output.as_os_str() == "-" {
        Destination::Stdout
    } else {
        Destination::File(output)
    };
    if matches!(destination, Destination::Stdout) && reporter.json() {
        return usage_error("--output - and --json both write to stdout: give --output a FILE");
    }
    let body: DashboardsDownloadBody = match DashboardsDownloadBody::builder()
        .format(format.to_body())
        .try_into()
    {
        Ok(body) => body,
        Err(e) => return usage_error(format!("invalid download request: {e}")),
    };
    // The file is read within one request: let the policy's deadline, not the client's
    // timeout, bound it.
    let timeout = policy
        .get_deadline()
        .saturating_add(Duration::from_secs(10))
        .max(omni::long_poll_timeout() + Duration::from_secs(10))
        .min(Duration::from_secs(7 * 24 * 3600));
    let client = match omni_client_with_timeout(connection, timeout) {
        Ok(c) => c,
        Err(code) => return code,
    };
    // Fail before starting anything, not after, when the file could not be written.
    let path = match partial_path(&destination) {
        Ok(path) => path,
        Err(message) => return usage_error(message),
    };
    let file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .await;
    let mut file = match file {
        Ok(file) => file,
        Err(e) => {
            return usage_error(format!(
                "cannot create the temporary file {} for --output {}: {e}",
                path.display(),
                output.display()
            ));
        }
    };
    let mut partial = Partial { path, armed: true };
    if matches!(destination, Destination::Stdout) {
        reporter.final_line_to_stderr();
    }

    let mut announced = false;
    let poller = omni::download_dashboard(&client, dashboard, body, &mut file, policy);
    let ending = drive_with(poller, reporter, |download: &Download, reporter| {
        let Some(job_id) = download.job_id else {
            return;
        };
        if std::mem::replace(&mut announced, true) {
            return;
        }
        reporter.started(
            &format!("started download job {job_id} of dashboard {dashboard}"),
            json!({"job_id": job_id, "dashboard": dashboard}),
        );
    })
    .await;
    let download = match (ending.code, ending.last) {
        (exit::SUCCEEDED, Some(download)) => download,
        (code, last) => {
            // `partial` is removed on return.
            reporter.finish_with(&ending.outcome, last.as_ref());
            return code;
        }
    };
    reporter.clear_progress();
    let bytes = download.bytes_written.unwrap_or_default();
    let saved = async {
        file.sync_all().await?;
        drop(file);
        match destination {
            Destination::File(output) => {
                tokio::fs::rename(&partial.path, output).await?;
                partial.keep();
            }
            Destination::Stdout => {
                let path = partial.path.clone();
                tokio::task::spawn_blocking(move || {
                    let mut file = std::fs::File::open(path)?;
                    let mut stdout = std::io::stdout().lock();
                    std::io::copy(&mut file, &mut stdout)?;
                    stdout.flush()
                })
                .await
                .map_err(std::io::Error::other)??;
            }
        }
        Ok::<(), std::io::Error>(())
    }
    .await;
    let mut job = download.to_json();
    match (&saved, &destination) {
        (Err(e), Destination::File(output)) => {
            let reason = format!(
                "the download job succeeded, but its file cannot be written to --output {}: {e}",
                output.display()
            );
            reporter.finish_with(&Outcome::OutputError(reason), Some(&download));
            return exit::USAGE;
        }
        (Err(e), Destination::Stdout) => {
            let reason = format!(
                "the download job succeeded, but its file cannot be written to stdout: {e}"
            );
            reporter.finish_with(&Outcome::OutputError(reason), Some(&download));
            return exit::USAGE;
        }
        (Ok(()), Destination::File(output)) => {
            if !reporter.json() {
                println!("wrote {} ({bytes} bytes)", output.display());
            }
            job["file"] = json!(output.display().to_string());
        }
        (Ok(()), Destination::Stdout) => {}
    }
    reporter.finish_raw(
        &Outcome::Succeeded,
        Some(download.state()),
        Some(download.label()),
        Some(job),
    );
    exit::SUCCEEDED
}

// -----------------------------------------------------------------------------------------
// Shared
// -----------------------------------------------------------------------------------------

/// The connection flags given, to repeat in a resume command (` --instance NAME`), shell
/// quoted. A base URL with credentials in it is not repeated.
fn resume_flags(connection: &Connection) -> String {
    match (&connection.base_url, &connection.instance) {
        (Some(url), _) if url.contains('@') => " --base-url <URL>".to_owned(),
        (Some(url), _) => format!(" --base-url {}", shell_quote(url)),
        (None, Some(instance)) => format!(" --instance {}", shell_quote(instance)),
        (None, None) => String::new(),
    }
}

/// `value` as one POSIX shell word.
fn shell_quote(value: &str) -> String {
    let plain = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:,+=%".contains(c));
    if plain {
        value.to_owned()
    } else {
        format!("'{}'", value.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn query_bodies_are_read_strictly() {
        let body = parse_query_body(r#"{"query": {"table": "t", "fields": ["t.a"]}}"#).unwrap();
        assert!(body.query.is_some());
        let null_ok = parse_query_body(r#"{"query": {}, "branchId": null}"#).unwrap();
        assert!(null_ok.branch_id.is_none());

        let error = parse_query_body("{\"query\": {}, \"qeury\": 1}").unwrap_err();
        assert!(error.starts_with("unknown field(s) \"qeury\""), "{error}");
        let error = parse_query_body("{}").unwrap_err();
        assert!(error.starts_with("no \"query\""), "{error}");
        let error = parse_query_body(r#"{"query": {}, "resultType": "csv"}"#).unwrap_err();
        assert!(error.starts_with("\"resultType\": \"csv\""), "{error}");
        let error = parse_query_body(r#"{"query": {}, "planOnly": true}"#).unwrap_err();
        assert!(error.starts_with("\"planOnly\""), "{error}");
        let error = parse_query_body(r#"{"query": {}, "branchId": "main"}"#).unwrap_err();
        assert!(
            error.starts_with("not a QueryRunBody JSON document: "),
            "{error}"
        );
        assert!(error.contains("line 1 column"), "{error}");
        let error = parse_query_body("[1, 2]").unwrap_err();
        assert!(
            error.starts_with("not a QueryRunBody JSON document: "),
            "{error}"
        );
    }

    #[test]
    fn resume_flags_repeat_the_connection_quoted() {
        let connection = |base_url: Option<&str>, instance: Option<&str>| Connection {
            base_url: base_url.map(str::to_owned),
            instance: instance.map(str::to_owned),
        };
        assert_eq!(resume_flags(&connection(None, None)), "");
        assert_eq!(
            resume_flags(&connection(None, Some("blobsrus"))),
            " --instance blobsrus"
        );
        assert_eq!(
            resume_flags(&connection(Some("http://127.0.0.1:9/omni"), None)),
            " --base-url http://127.0.0.1:9/omni"
        );
        assert_eq!(
            resume_flags(&connection(Some("http://h/a b?x=it's"), None)),
            r" --base-url 'http://h/a b?x=it'\''s'"
        );
        assert_eq!(
            resume_flags(&connection(Some("https://u:p@h/api"), None)),
            " --base-url <URL>"
        );
    }

    #[test]
    fn partial_files_go_next_to_the_output() {
        let path = partial_path(&Destination::File(Path::new("out/dash.pdf"))).unwrap();
        assert_eq!(path.parent(), Some(Path::new("out")));
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name.starts_with(".dash.pdf.") && name.ends_with(".jobwait-part"),
            "{name}"
        );
        let path = partial_path(&Destination::File(Path::new("dash.pdf"))).unwrap();
        assert_eq!(path.parent(), Some(Path::new(".")));
        let dir = std::env::temp_dir();
        let error = partial_path(&Destination::File(&dir)).unwrap_err();
        assert!(error.ends_with("is a directory"), "{error}");
        let stdout = partial_path(&Destination::Stdout).unwrap();
        assert_eq!(stdout.parent(), Some(dir.as_path()));
    }
}
