//! What `jobwait` prints: a progress bar on a terminal, JSON lines with `--json`, and one
//! final line.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use omni_sdk::types::{AiJob, GetJobStatusResponse};
use poll_helpers::omni::QueryResult;
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
    /// The results could not be written (`omni-query --output`).
    OutputError(String),
    Interrupted,
}

impl Outcome {
    fn name(&self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Failed(_) => "failed",
            Outcome::DeadlineExceeded(_) => "deadline_exceeded",
            Outcome::RequestError(_) => "request_error",
            Outcome::OutputError(_) => "output_error",
            Outcome::Interrupted => "interrupted",
        }
    }

    fn reason(&self) -> Option<&str> {
        match self {
            Outcome::Failed(r)
            | Outcome::DeadlineExceeded(r)
            | Outcome::RequestError(r)
            | Outcome::OutputError(r) => Some(r),
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
}

impl Describe for BTreeMap<Uuid, QueryResult> {
    fn state(&self) -> String {
        let done = self.values().filter(|r| r.is_finished()).count();
        format!("{done}/{} queries finished", self.len())
    }
    fn to_json(&self) -> Value {
        let jobs: serde_json::Map<String, Value> = self
            .iter()
            .map(|(id, r)| {
                let v = match &r.response {
                    Some(resp) => serde_json::to_value(resp).unwrap_or(Value::Null),
                    None => json!({"finished": false}),
                };
                (id.to_string(), v)
            })
            .collect();
        Value::Object(jobs)
    }
    fn label(&self) -> String {
        self.keys()
            .map(Uuid::to_string)
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// Prints events and the ending.
pub(crate) struct Reporter {
    json: bool,
    bar: Option<ProgressBar>,
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
        Self { json, bar }
    }

    pub(crate) fn event<T: Snapshot + Describe>(&mut self, event: &PollEvent<T>) {
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
            bar.set_message(text);
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
                }
                Err(e) => {
                    line["error"] = json!({
                        "status": e.status,
                        "message": e.message,
                        "retry_after_ms": e.retry_after.map(millis),
                    });
                }
            }
            print_line(&line);
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
                Outcome::Succeeded => println!(
                    "succeeded: {} {}",
                    label.unwrap_or_default(),
                    state.unwrap_or_default()
                ),
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

fn print_line(value: &Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{value}");
    let _ = out.flush();
}
