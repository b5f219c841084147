//! What `jobwait` prints: a progress bar on a terminal, JSON lines with `--json`, and one
//! final line.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use omni_sdk::types::{AiJob, GetJobStatusResponse};
use poll_helpers::omni::{AiAnswer, Download, QueryResult, QueryRun, SchemaRefresh};
use poll_helpers::{PollEvent, Snapshot, retailgrid};
use serde_json::{Value, json};
use uuid::Uuid;

/// How a wait ended.
#[derive(Debug)]
pub(crate) enum Outcome {
    Succeeded,
    Failed(String),
    DeadlineExceeded(String),
    RequestError(String),
    /// The results or the downloaded file could not be written (`--output`, stdout).
    OutputError(String),
    Interrupted,
    /// Interrupted, with what was done about it (`omni-ask` cancels its AI job).
    InterruptedWith(String),
}

impl Outcome {
    fn name(&self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Failed(_) => "failed",
            Outcome::DeadlineExceeded(_) => "deadline_exceeded",
            Outcome::RequestError(_) => "request_error",
            Outcome::OutputError(_) => "output_error",
            Outcome::Interrupted | Outcome::InterruptedWith(_) => "interrupted",
        }
    }

    fn reason(&self) -> Option<&str> {
        match self {
            Outcome::Failed(r)
            | Outcome::DeadlineExceeded(r)
            | Outcome::RequestError(r)
            | Outcome::OutputError(r)
            | Outcome::InterruptedWith(r) => Some(r),
            Outcome::Succeeded => None,
            Outcome::Interrupted => Some("polling stopped, nothing was cancelled on the server"),
        }
    }
}

/// What the reporter needs from a snapshot.
pub(crate) trait Describe {
    /// The job's state in the API's words.
    fn state(&self) -> String;
    /// The snapshot as JSON, for `--json`.
    fn to_json(&self) -> Value;
    /// The job id(s), for the final line.
    fn label(&self) -> String;
    /// A progress the API reported that [`Snapshot::progress`] does not (out of range),
    /// as reported: `"raw_progress"` in `--json` poll lines.
    fn raw_progress(&self) -> Option<Value> {
        None
    }
}

impl Describe for GetJobStatusResponse {
    fn state(&self) -> String {
        self.status
            .as_ref()
            .map_or("(no status)", |s| s.as_str())
            .to_owned()
    }
    fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
    fn label(&self) -> String {
        self.job_id.map(|id| id.to_string()).unwrap_or_default()
    }
}

impl Describe for AiJob {
    fn state(&self) -> String {
        match &self.progress {
            Some(p) => format!("{} (iteration {}: {})", self.state, p.iteration, p.message),
            None => self.state.to_string(),
        }
    }
    fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
    fn label(&self) -> String {
        self.id.to_string()
    }
}

impl Describe for retailgrid::Job {
    fn state(&self) -> String {
        self.status.clone()
    }
    fn to_json(&self) -> Value {
        serde_json::to_value(&**self).unwrap_or(Value::Null)
    }
    fn label(&self) -> String {
        self.job_id.to_string()
    }
    fn raw_progress(&self) -> Option<Value> {
        self.out_of_range_progress().map(Value::from)
    }
}

/// Query results as JSON: an object keyed by [`Who::key`], each the job's response (or
/// `{"finished": false}`).
fn results_json<'a>(results: impl IntoIterator<Item = &'a QueryResult>) -> Value {
    let jobs: serde_json::Map<String, Value> = named(results)
        .into_iter()
        .map(|(who, r)| {
            let v = match &r.response {
                Some(resp) => serde_json::to_value(resp).unwrap_or(Value::Null),
                None => json!({"finished": false}),
            };
            (who.key(), v)
        })
        .collect();
    Value::Object(jobs)
}

impl Describe for BTreeMap<Uuid, QueryResult> {
    fn state(&self) -> String {
        let done = self.values().filter(|r| r.is_finished()).count();
        format!("{done}/{} queries finished", self.len())
    }
    fn to_json(&self) -> Value {
        results_json(self.values())
    }
    fn label(&self) -> String {
        self.keys()
            .map(Uuid::to_string)
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl Describe for QueryRun {
    fn state(&self) -> String {
        if !self.started {
            return "starting".to_owned();
        }
        let done = self.results.iter().filter(|r| r.is_finished()).count();
        format!("{done}/{} queries finished", self.results.len())
    }
    fn to_json(&self) -> Value {
        results_json(&self.results)
    }
    fn label(&self) -> String {
        named(&self.results)
            .iter()
            .map(|(who, _)| who.key())
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl Describe for SchemaRefresh {
    fn state(&self) -> String {
        match &self.status {
            Some(status) => status.state(),
            None => self.started.status.to_string(),
        }
    }
    fn to_json(&self) -> Value {
        json!({
            "job_id": self.job_id,
            "model_id": self.model_id,
            "started": serde_json::to_value(&self.started).unwrap_or(Value::Null),
            "status": self.status.as_ref().map(Describe::to_json),
        })
    }
    fn label(&self) -> String {
        self.job_id.to_string()
    }
}

impl Describe for AiAnswer {
    fn state(&self) -> String {
        match &self.job {
            Some(job) => job.state(),
            None => "submitted".to_owned(),
        }
    }
    fn to_json(&self) -> Value {
        json!({
            "job_id": self.job_id(),
            "conversation_id": self.submitted.conversation_id,
            "omni_chat_url": self.submitted.omni_chat_url,
            "job": self.job.as_ref().map(Describe::to_json),
            "result": self.result.as_ref().map(|r| serde_json::to_value(r).unwrap_or(Value::Null)),
            "markdown": self.markdown(),
        })
    }
    fn label(&self) -> String {
        self.job_id().to_string()
    }
}

impl Describe for Download {
    fn state(&self) -> String {
        match (&self.failure, self.bytes_written, self.job_id) {
            (Some(_), _, _) => "failed".to_owned(),
            (None, Some(bytes), _) => format!(
                "downloaded {bytes} bytes{}",
                self.content_type
                    .as_deref()
                    .map(|t| format!(" ({t})"))
                    .unwrap_or_default()
            ),
            (None, None, Some(_)) => "processing".to_owned(),
            (None, None, None) => "starting".to_owned(),
        }
    }
    fn to_json(&self) -> Value {
        json!({
            "job_id": self.job_id,
            "bytes_written": self.bytes_written,
            "content_type": self.content_type,
            "failure": self.failure,
        })
    }
    fn label(&self) -> String {
        self.job_id.map(|id| id.to_string()).unwrap_or_default()
    }
}

/// Which query a result is, in file names, JSON keys and messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Who {
    /// A query job, by id.
    Job(Uuid),
    /// A query Omni answered without a (distinct) job id: its 1-based place in the run.
    Unnamed(usize),
}

impl Who {
    /// The file name stem and the key in JSON: the job id, or `query-<N>`.
    pub(crate) fn key(&self) -> String {
        match self {
            Who::Job(id) => id.to_string(),
            Who::Unnamed(n) => format!("query-{n}"),
        }
    }

    /// The heading of its table on stdout.
    pub(crate) fn heading(&self) -> String {
        match self {
            Who::Job(id) => format!("query {id}"),
            Who::Unnamed(n) => format!("query #{n} (no job id)"),
        }
    }

    /// How messages name it.
    pub(crate) fn job(&self) -> String {
        match self {
            Who::Job(id) => format!("query job {id}"),
            Who::Unnamed(n) => format!("query #{n} of the run (no job id)"),
        }
    }
}

/// Names each result: by its job id, unless it is nil or already taken.
pub(crate) fn named<'a>(
    results: impl IntoIterator<Item = &'a QueryResult>,
) -> Vec<(Who, &'a QueryResult)> {
    let mut seen = std::collections::HashSet::new();
    results
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            let who = if !r.job_id.is_nil() && seen.insert(r.job_id) {
                Who::Job(r.job_id)
            } else {
                Who::Unnamed(i + 1)
            };
            (who, r)
        })
        .collect()
}

/// Prints events and the ending.
pub(crate) struct Reporter {
    json: bool,
    bar: Option<ProgressBar>,
    /// The final line goes to stderr: stdout carries the product (an answer, a file).
    final_to_stderr: bool,
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Reporter {
    pub(crate) fn new(json: bool) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new_spinner();
            if let Ok(style) = ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}") {
                bar.set_style(style);
            }
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Self {
            json,
            bar,
            final_to_stderr: false,
        }
    }

    /// Keeps stdout for the product (`omni-ask`'s answer, `omni-download --output -`'s
    /// file): the final line goes to stderr instead.
    pub(crate) fn final_line_to_stderr(&mut self) {
        self.final_to_stderr = true;
    }

    /// Says on stderr that a job started (above the progress bar, if any), and with
    /// `--json` prints `{"event": "started", ...fields}` on stdout.
    pub(crate) fn started(&mut self, message: &str, fields: Value) {
        match &self.bar {
            Some(bar) => bar.suspend(|| eprintln!("{message}")),
            None => eprintln!("{message}"),
        }
        if self.json {
            let mut line = json!({"event": "started"});
            if let (Value::Object(line), Value::Object(fields)) = (&mut line, fields) {
                line.extend(fields);
            }
            print_line(&line);
        }
    }

    pub(crate) fn event<T: Snapshot + Describe>(&mut self, event: &PollEvent<T>) {
        self.event_of(event, None);
    }

    /// Reports one poll; with `job`, of one of several jobs (`"job_id"` in the JSON line).
    pub(crate) fn event_of<T: Snapshot + Describe>(
        &mut self,
        event: &PollEvent<T>,
        job: Option<Uuid>,
    ) {
        if let Some(bar) = &self.bar {
            let text = match &event.outcome {
                Ok(s) => match s.progress() {
                    Some(p) => format!(
                        "{} · {:.0}% · attempt {}",
                        s.state(),
                        p * 100.0,
                        event.attempt
                    ),
                    None => format!("{} · attempt {}", s.state(), event.attempt),
                },
                Err(e) => format!("{e} · attempt {} (retrying)", event.attempt),
            };
            match job {
                Some(id) => bar.set_message(format!("{id}: {text}")),
                None => bar.set_message(text),
            }
        }
        if self.json {
            let mut line = json!({
                "event": "poll",
                "attempt": event.attempt,
                "elapsed_ms": millis(event.elapsed),
                "next_delay_ms": event.next_delay.map(millis),
            });
            match &event.outcome {
                Ok(s) => {
                    line["state"] = json!(s.state());
                    line["progress"] = json!(s.progress());
                    if let Some(raw) = s.raw_progress() {
                        line["raw_progress"] = raw;
                    }
                }
                Err(e) => {
                    line["error"] = json!({
                        "status": e.status,
                        "message": e.message,
                        "retry_after_ms": e.retry_after.map(millis),
                    });
                }
            }
            if let Some(id) = job {
                line["job_id"] = json!(id);
            }
            print_line(&line);
        }
    }

    /// Prints how one of several jobs ended, above the progress bar: with `--json`, its
    /// `"event":"done"` line with `"job_id"` (and the reason on stderr); else
    /// `succeeded: <JOB_ID> <state>` on stdout, or `<outcome>: <reason>` on stderr.
    pub(crate) fn job_done<T: Describe>(&mut self, job: Uuid, outcome: &Outcome, last: Option<&T>) {
        let reason = outcome.reason().map(|r| {
            if r.contains(&job.to_string()) {
                r.to_owned()
            } else {
                format!("job {job}: {r}")
            }
        });
        let state = last.map(Describe::state);
        let json = self.json;
        let print = || {
            if json {
                print_line(&json!({
                    "event": "done",
                    "job_id": job,
                    "outcome": outcome.name(),
                    "reason": outcome.reason(),
                    "state": state,
                    "job": last.map(Describe::to_json),
                }));
            } else if matches!(outcome, Outcome::Succeeded) {
                println!("succeeded: {job} {}", state.clone().unwrap_or_default());
            }
            if let Some(reason) = &reason {
                eprintln!("{}: {reason}", outcome.name().replace('_', " "));
            }
        };
        match &self.bar {
            Some(bar) => bar.suspend(print),
            None => print(),
        }
    }

    /// Prints the summary of several jobs: with `--json`,
    /// `{"event":"summary","succeeded":n,"failed":n,"deadline_exceeded":n,"errors":n}`;
    /// else `summary: <n> jobs: <n> succeeded, <n> failed, <n> deadline exceeded, <n>
    /// errors`. On stdout either way.
    pub(crate) fn summary(&mut self, summary: &Summary) {
        self.clear_progress();
        if self.json {
            print_line(&json!({
                "event": "summary",
                "succeeded": summary.succeeded,
                "failed": summary.failed,
                "deadline_exceeded": summary.deadline_exceeded,
                "errors": summary.errors,
            }));
        } else {
            let jobs =
                summary.succeeded + summary.failed + summary.deadline_exceeded + summary.errors;
            print_line_text(&format!(
                "summary: {jobs} jobs: {} succeeded, {} failed, {} deadline exceeded, {} errors",
                summary.succeeded, summary.failed, summary.deadline_exceeded, summary.errors
            ));
        }
    }

    /// Whether `--json` was given.
    pub(crate) fn json(&self) -> bool {
        self.json
    }

    /// Removes the progress bar (if any) so that stdout can be written to.
    pub(crate) fn clear_progress(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }

    /// Prints the ending: the final line, or the `"event":"done"` JSON line.
    pub(crate) fn finish_with<T: Describe>(&mut self, outcome: &Outcome, last: Option<&T>) {
        self.finish_raw(
            outcome,
            last.map(Describe::state),
            last.map(Describe::label),
            last.map(Describe::to_json),
        );
    }

    /// Like [`Reporter::finish_with`], with the job's state, label and JSON given as is
    /// (`omni-query` replaces the base64 results with rows or file names).
    pub(crate) fn finish_raw(
        &mut self,
        outcome: &Outcome,
        state: Option<String>,
        label: Option<String>,
        job: Option<Value>,
    ) {
        self.clear_progress();
        if self.json {
            print_line(&json!({
                "event": "done",
                "outcome": outcome.name(),
                "reason": outcome.reason(),
                "state": state,
                "job": job,
            }));
        } else {
            match outcome {
                Outcome::Succeeded => {
                    let line = format!(
                        "succeeded: {} {}",
                        label.unwrap_or_default(),
                        state.unwrap_or_default()
                    );
                    if self.final_to_stderr {
                        eprintln!("{line}");
                    } else {
                        println!("{line}");
                    }
                }
                other => {
                    let reason = other.reason().unwrap_or_default();
                    eprintln!("{}: {reason}", other.name().replace('_', " "));
                }
            }
        }
        if let Some(reason) = outcome.reason().filter(|_| self.json) {
            eprintln!("{}: {reason}", outcome.name().replace('_', " "));
        }
    }
}

/// How several jobs ended, counted by outcome.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Summary {
    pub(crate) succeeded: usize,
    pub(crate) failed: usize,
    pub(crate) deadline_exceeded: usize,
    /// Request errors, usage errors and interrupted waits.
    pub(crate) errors: usize,
}

impl Summary {
    /// Counts one ending.
    pub(crate) fn count(&mut self, outcome: &Outcome) {
        match outcome {
            Outcome::Succeeded => self.succeeded += 1,
            Outcome::Failed(_) => self.failed += 1,
            Outcome::DeadlineExceeded(_) => self.deadline_exceeded += 1,
            Outcome::RequestError(_)
            | Outcome::OutputError(_)
            | Outcome::Interrupted
            | Outcome::InterruptedWith(_) => self.errors += 1,
        }
    }
}

fn print_line_text(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

fn print_line(value: &Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{value}");
    let _ = out.flush();
}
