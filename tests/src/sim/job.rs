//! A simulated job of any kind: its phase over time and the JSON each API shows of it.

#[allow(clippy::wildcard_imports)]
use super::*;

/// Which API a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Api {
    Omni,
    Retailgrid,
}

impl Api {
    pub(crate) const OMNI_PREFIX: &str = "/omni";
    pub(crate) const RETAILGRID_PREFIX: &str = "/retailgrid";

    /// The API and the path below its prefix.
    pub(crate) fn of(path: &str) -> Option<(Api, &str)> {
        for (api, prefix) in [
            (Api::Omni, Self::OMNI_PREFIX),
            (Api::Retailgrid, Self::RETAILGRID_PREFIX),
        ] {
            if let Some(rest) = path.strip_prefix(prefix)
                && (rest.is_empty() || rest.starts_with('/'))
            {
                return Some((api, rest));
            }
        }
        None
    }

    /// An error response in this API's shape.
    pub(crate) fn error(self, status: StatusCode, message: &str) -> Response {
        let body = match self {
            Api::Omni => json!({"error": status.as_u16().to_string(), "message": message}),
            Api::Retailgrid => json!({"detail": message}),
        };
        json_response(status, &body)
    }
}

/// What kind of job an id belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JobKind {
    SchemaRefresh,
    Ai,
    Query,
    Download,
    Retailgrid,
}

/// A dashboard download format, `DashboardsDownloadBody.format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Pdf,
    Png,
    Csv,
    Xlsx,
    Json,
}

impl Format {
    pub(crate) const ALL: [Format; 5] = [
        Format::Pdf,
        Format::Png,
        Format::Csv,
        Format::Xlsx,
        Format::Json,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Format::Pdf => "pdf",
            Format::Png => "png",
            Format::Csv => "csv",
            Format::Xlsx => "xlsx",
            Format::Json => "json",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Format> {
        Self::ALL.into_iter().find(|f| f.as_str() == s)
    }

    pub(crate) fn content_type(self) -> &'static str {
        match self {
            Format::Pdf => "application/pdf",
            Format::Png => "image/png",
            Format::Csv => "text/csv",
            Format::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            Format::Json => "application/json",
        }
    }
}

/// What the request that started a job asked for; the status and result bodies echo it.
#[derive(Debug, Default)]
pub(crate) enum Origin {
    /// Added with a `Simulator::add_*` method, or started without anything to echo.
    #[default]
    Added,
    /// `POST /v1/ai/jobs`.
    Ai {
        prompt: String,
        model_id: Uuid,
        branch_id: Option<Uuid>,
        topic: Option<String>,
    },
    /// `POST /v1/dashboards/{identifier}/download`.
    Download {
        /// Percent-decoded.
        identifier: String,
        format: Format,
        filename: Option<String>,
    },
}

/// A job: its script and when it was added.
#[derive(Debug)]
pub(crate) struct Job {
    pub(crate) id: Uuid,
    pub(crate) kind: JobKind,
    pub(crate) script: JobScript,
    pub(crate) added: Instant,
    pub(crate) added_wall: DateTime<Utc>,
    /// Secondary ids (conversation, client result, grid): fixed per job.
    pub(crate) other_ids: [Uuid; 2],
    pub(crate) origin: Origin,
}

/// Where a job stands at some instant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Phase {
    Queued,
    /// Running, with the fraction of the running time elapsed.
    Running(f64),
    /// AI only: delivering the answer.
    Delivering,
    Done,
}

impl Job {
    pub(crate) fn queued_for(&self) -> Duration {
        let default = match self.kind {
            JobKind::Ai => self.script.duration / 10,
            _ => Duration::ZERO,
        };
        self.script
            .queued_for
            .unwrap_or(default)
            .min(self.script.duration)
    }

    /// When running ends (AI: when delivering starts), as an offset from `added`.
    pub(crate) fn running_end(&self) -> Duration {
        let duration = self.script.duration;
        let delivering = if self.kind == JobKind::Ai && self.script.outcome == Outcome::Succeed {
            self.script.delivering_for.unwrap_or(duration / 10)
        } else {
            Duration::ZERO
        };
        duration.saturating_sub(delivering).max(self.queued_for())
    }

    pub(crate) fn finished_at(&self) -> Instant {
        later(self.added, self.script.duration)
    }

    pub(crate) fn phase(&self, now: Instant) -> Phase {
        let elapsed = now.saturating_duration_since(self.added);
        let (queued, running_end) = (self.queued_for(), self.running_end());
        if elapsed >= self.script.duration {
            Phase::Done
        } else if elapsed < queued {
            Phase::Queued
        } else if elapsed < running_end {
            Phase::Running(fraction(elapsed - queued, running_end - queued))
        } else {
            Phase::Delivering
        }
    }

    /// The wall-clock time `offset` after the job was added, as RFC 3339 with milliseconds.
    pub(crate) fn wall(&self, offset: Duration) -> String {
        let offset = TimeDelta::from_std(offset).unwrap_or(TimeDelta::zero());
        self.added_wall
            .checked_add_signed(offset)
            .unwrap_or(self.added_wall)
            .to_rfc3339_opts(SecondsFormat::Millis, true)
    }

    pub(crate) fn failure(&self) -> Option<&str> {
        match &self.script.outcome {
            Outcome::Fail(message) => Some(message),
            _ => None,
        }
    }

    /// `GET /v1/jobs/{jobId}/status` body.
    pub(crate) fn schema_refresh_body(&self, now: Instant) -> Value {
        let status = match (self.phase(now), &self.script.outcome) {
            (Phase::Done, Outcome::Succeed) => "COMPLETED",
            (Phase::Done, _) => "FAILED",
            _ => "RUNNING",
        };
        json!({"job_type": self.schema_job_type(), "job_id": self.id, "status": status})
    }

    pub(crate) fn schema_job_type(&self) -> &str {
        self.script.job_type.as_deref().unwrap_or("refresh_schema")
    }

    /// The AI conversation id.
    pub(crate) fn conversation(&self) -> Uuid {
        self.other_ids[0]
    }

    pub(crate) fn chat_url(&self) -> String {
        format!("{CHAT_URL}{}", self.conversation())
    }

    /// The AI topic: the one submitted, else the sample's.
    pub(crate) fn topic(&self) -> &str {
        match &self.origin {
            Origin::Ai {
                topic: Some(topic), ..
            } => topic,
            _ => "order_items",
        }
    }

    /// The AI `state` at `now`, given when (if ever) the job was cancelled through the
    /// endpoint.
    pub(crate) fn ai_state(&self, now: Instant, cancelled: Option<Instant>) -> &'static str {
        if cancelled.is_some_and(|at| at <= now) {
            return "CANCELLED";
        }
        match self.phase(now) {
            Phase::Queued => "QUEUED",
            Phase::Running(_) => "EXECUTING",
            Phase::Delivering => "DELIVERING",
            Phase::Done => match self.script.outcome {
                Outcome::Succeed => "COMPLETE",
                Outcome::Fail(_) => "FAILED",
                Outcome::Cancel => "CANCELLED",
            },
        }
    }

    /// `GET /v1/ai/jobs/{jobId}` body at `now`, given when (if ever) the job was cancelled
    /// through `POST /v1/ai/jobs/{jobId}/cancel`: from that instant on it is `CANCELLED`.
    pub(crate) fn ai_body(&self, now: Instant, cancelled: Option<Instant>) -> Value {
        let [conversation, user] = self.other_ids;
        let (prompt, model_id, branch_id) = match &self.origin {
            Origin::Ai {
                prompt,
                model_id,
                branch_id,
                ..
            } => (prompt.as_str(), *model_id, *branch_id),
            _ => (
                "What are the top 5 products by revenue?",
                Uuid::from_u128(0x770e_8400_e29b_41d4_a716_4466_5544_0002),
                None,
            ),
        };
        let mut body = json!({
            "id": self.id,
            "prompt": prompt,
            "conversationId": conversation,
            "modelId": model_id,
            "branchId": branch_id,
            "organizationId": Uuid::from_u128(0x880e_8400_e29b_41d4_a716_4466_5544_0003),
            "userId": user,
            "topicName": self.topic(),
            "omniChatUrl": self.chat_url(),
            "createdAt": self.wall(Duration::ZERO),
        });
        let (queued, running_end, duration) =
            (self.queued_for(), self.running_end(), self.script.duration);
        if let Some(at) = cancelled.filter(|at| *at <= now) {
            let offset = at.saturating_duration_since(self.added);
            if self.phase(at) != Phase::Queued {
                body["executionStartedAt"] = json!(self.wall(queued));
            }
            body["state"] = json!("CANCELLED");
            body["cancelledAt"] = json!(self.wall(offset));
            body["cancelledBy"] = json!(user);
            body["updatedAt"] = json!(self.wall(offset));
            return body;
        }
        let phase = self.phase(now);
        let started = match phase {
            Phase::Queued => false,
            // A job that ends while queued never started executing.
            Phase::Done => queued < duration,
            _ => true,
        };
        if started {
            body["executionStartedAt"] = json!(self.wall(queued));
        }
        let (state, updated) = match phase {
            Phase::Queued => ("QUEUED", Duration::ZERO),
            Phase::Running(fraction) => {
                let messages = self.progress_messages();
                let count = messages.len().max(1);
                let index = ((fraction * count as f64).floor() as usize).min(count - 1);
                let slice = (running_end - queued) / u32::try_from(count).unwrap_or(1);
                let updated = queued + slice * u32::try_from(index).unwrap_or(0);
                body["progress"] = json!({
                    "iteration": index + 1,
                    "message": messages.get(index).map_or("Thinking", String::as_str),
                    "updatedAt": self.wall(updated),
                });
                ("EXECUTING", updated)
            }
            Phase::Delivering => ("DELIVERING", running_end),
            Phase::Done => {
                match &self.script.outcome {
                    Outcome::Succeed => {
                        let summary = self.script.result_summary.as_deref();
                        body["resultSummary"] = json!(summary.unwrap_or(DEFAULT_RESULT_SUMMARY));
                        body["completedAt"] = json!(self.wall(duration));
                    }
                    Outcome::Fail(message) => {
                        let mut error = json!({"message": message});
                        if let Some(code) = &self.script.error_code {
                            error["code"] = json!(code);
                        }
                        if let Some(detail) = &self.script.error_detail {
                            error["detail"] = json!(detail);
                        }
                        body["error"] = error;
                        body["completedAt"] = json!(self.wall(duration));
                    }
                    Outcome::Cancel => {
                        body["cancelledAt"] = json!(self.wall(duration));
                        body["cancelledBy"] = json!(user);
                    }
                }
                let state = match self.script.outcome {
                    Outcome::Succeed => "COMPLETE",
                    Outcome::Fail(_) => "FAILED",
                    Outcome::Cancel => "CANCELLED",
                };
                (state, duration)
            }
        };
        body["state"] = json!(state);
        body["updatedAt"] = json!(self.wall(updated));
        body
    }

    pub(crate) fn progress_messages(&self) -> Vec<String> {
        if self.script.messages.is_empty() {
            [
                "Choosing a topic",
                "Running query: Top products by revenue",
                "Summarizing results",
            ]
            .map(str::to_owned)
            .to_vec()
        } else {
            self.script.messages.clone()
        }
    }

    /// Retailgrid `GET /v1/jobs/{job_id}` body.
    pub(crate) fn retailgrid_body(&self, now: Instant) -> Value {
        let (queued, duration) = (self.queued_for(), self.script.duration);
        let curve = self.script.curve;
        let phase = self.phase(now);
        let (status, progress) = match phase {
            Phase::Queued => ("pending", curve.at(0.0)),
            Phase::Running(fraction) => ("running", curve.at(fraction)),
            Phase::Delivering => ("running", curve.at(1.0)),
            Phase::Done => match self.script.outcome {
                Outcome::Succeed => ("completed", Some(100)),
                Outcome::Fail(_) => ("failed", curve.at(1.0)),
                Outcome::Cancel => ("cancelled", curve.at(1.0)),
            },
        };
        let started = phase != Phase::Queued;
        let done = phase == Phase::Done;
        json!({
            "job_id": self.id,
            "job_type": self.script.job_type.as_deref().unwrap_or("bulk_upsert"),
            "status": status,
            "progress": progress,
            "created_at": self.wall(Duration::ZERO),
            "started_at": started.then(|| self.wall(queued)),
            "completed_at": done.then(|| self.wall(duration)),
            "error_message": if done { self.failure() } else { None },
            "grid_id": self.other_ids[0],
            "related_grid_fill_job_id": null,
            "grid_items_count": null,
        })
    }

    /// The long poll's answer for this (finished) query job.
    pub(crate) fn query_body(&self, result: &str) -> Value {
        let [client_result_id, _] = self.other_ids;
        let execution_ms = u64::try_from(self.script.duration.as_millis()).unwrap_or(u64::MAX);
        match &self.script.outcome {
            Outcome::Succeed => json!({
                "job_id": self.id,
                "status": "COMPLETE",
                "client_result_id": client_result_id,
                "summary": {
                    "sql": "SELECT order_items.id, products.name, order_items.sale_price, \
                            order_items.returned, order_items.created_at FROM order_items \
                            JOIN products ON products.id = order_items.product_id LIMIT 4",
                    "total_rows": SAMPLE_RESULT_ROWS,
                    "execution_time_ms": execution_ms,
                    "fields": SAMPLE_RESULT_FIELDS,
                },
                "query": {
                    "table": "order_items",
                    "fields": SAMPLE_RESULT_FIELDS,
                    "limit": SAMPLE_RESULT_ROWS,
                },
                "result": result,
                "stream_stats": {"server_stream": 1},
                "timed_out": false,
            }),
            Outcome::Fail(message) => json!({
                "job_id": self.id,
                "status": "FAILED",
                "client_result_id": client_result_id,
                "error": message,
                "timed_out": false,
            }),
            Outcome::Cancel => json!({
                "job_id": self.id,
                "status": "CANCELLED",
                "client_result_id": client_result_id,
                "error": "Query was cancelled",
                "timed_out": false,
            }),
        }
    }
}

impl Job {
    /// `GET /v1/ai/jobs/{jobId}/result` body of a complete AI job: one `generate_query`
    /// action answering the table of [`sample_result_ipc`] as CSV, then a `summarize`
    /// action with the result summary.
    pub(crate) fn ai_result_body(&self) -> Value {
        let summary = self
            .script
            .result_summary
            .as_deref()
            .unwrap_or(DEFAULT_RESULT_SUMMARY);
        json!({
            "actions": [
                {
                    "type": "generate_query",
                    "message": "I'll generate a query to list recent order items with their \
                                products.",
                    "timestamp": self.wall(self.queued_for()),
                    "result": {
                        "csvResult": SAMPLE_RESULT_CSV,
                        "csvResultWasTruncated": false,
                        "hasResults": true,
                        "query": {
                            "table": "order_items",
                            "fields": SAMPLE_RESULT_FIELDS,
                            "limit": SAMPLE_RESULT_ROWS,
                        },
                        "queryName": "Recent order items",
                        "status": "success",
                        "totalRowCount": SAMPLE_RESULT_ROWS,
                    },
                },
                {
                    "type": "summarize",
                    "message": summary,
                    "timestamp": self.wall(self.running_end()),
                },
            ],
            "message": summary,
            "omniChatUrl": self.chat_url(),
            "resultSummary": summary,
            "topic": self.topic(),
        })
    }

    /// Where a download stands at `now`: `Ok(false)` processing, `Ok(true)` succeeded,
    /// `Err(message)` failed.
    pub(crate) fn download_outcome(&self, now: Instant) -> Result<bool, String> {
        if self.phase(now) != Phase::Done {
            return Ok(false);
        }
        match &self.script.outcome {
            Outcome::Succeed => Ok(true),
            Outcome::Fail(message) => Err(message.clone()),
            Outcome::Cancel => Err("Download was cancelled".to_owned()),
        }
    }
}

/// `at + after`, capped at about 30 years from `at` instead of overflowing (scripts and
/// configurations may use `Duration::MAX` for "never").
pub(crate) fn later(at: Instant, after: Duration) -> Instant {
    const FAR: Duration = Duration::from_secs(30 * 365 * 24 * 3600);
    at.checked_add(after.min(FAR)).unwrap_or(at)
}

/// `part / whole` in `[0, 1]`; 1 when `whole` is zero.
pub(crate) fn fraction(part: Duration, whole: Duration) -> f64 {
    if whole.is_zero() {
        1.0
    } else {
        (part.as_secs_f64() / whole.as_secs_f64()).clamp(0.0, 1.0)
    }
}
