//! Omni's newest query contract (the 2026-07-22 document), answered when
//! [`SimConfig::query_dialect`] is [`QueryDialect::Ndjson`]: `query/wait` takes `jobIds`
//! (comma-separated) and both `query/wait` and `query/run` answer a `text/ndjson` stream.

#[allow(clippy::wildcard_imports)]
use super::*;

/// Which of Omni's published query contracts the simulator answers.
///
/// ```
/// use sdk_tests::sim::{QueryDialect, SimConfig};
/// let config = SimConfig { query_dialect: QueryDialect::Ndjson, ..SimConfig::default() };
/// assert_eq!(SimConfig::default().query_dialect, QueryDialect::Json);
/// # let _ = config;
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum QueryDialect {
    /// The seeds' contract (the default): `job_ids` as one JSON array, one JSON object per
    /// answer (see [the long poll](crate::sim#long-poll-get-v1querywait) and
    /// [query run](crate::sim#query-run-post-v1queryrun)).
    #[default]
    Json,
    /// Omni's 2026-07-22 document: `GET /v1/query/wait?jobIds=a,b` (any other form is 400
    /// `{"detail": "Invalid or missing jobIds parameter", "status": 400}`), answered as a
    /// `text/ndjson` stream: one line per job as it finishes (`job_id`, `status`
    /// `COMPLETE` with `result`, or `FAILED`/`CANCELLED` with `error_message` and
    /// `error_type`), then a footer `{"remaining_job_ids": [...], "timed_out": "true" |
    /// "false"}` (strings, as documented) once every asked job finished or the hold
    /// ([`SimConfig::long_poll_wait`]) ended. `POST /v1/query/run` without `resultType`
    /// streams a `{"jobs_submitted": {job_id: client_result_id}}` header, the job lines
    /// and the footer (hold: [`SimConfig::query_run_wait`]); with `resultType` it answers
    /// as in [`QueryDialect::Json`].
    Ndjson,
}

const JOB_IDS_INVALID: &str = "Invalid or missing jobIds parameter";

/// The `jobIds` of a 2026-07-22 long poll, in order without duplicates.
fn parse_comma_job_ids(query: Option<&str>) -> Result<Vec<Uuid>, &'static str> {
    let values: Vec<String> = url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .filter(|(key, _)| key == "jobIds")
        .map(|(_, value)| value.into_owned())
        .collect();
    let [value] = values.as_slice() else {
        return Err(JOB_IDS_INVALID);
    };
    let mut ids = Vec::new();
    for part in value.split(',').map(str::trim) {
        let id = Uuid::parse_str(part).map_err(|_| JOB_IDS_INVALID)?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    if ids.is_empty() {
        return Err(JOB_IDS_INVALID);
    }
    Ok(ids)
}

/// One job line of the stream: the JSON answer's object, with a failure's `error` as
/// `error_message` and `error_type`, and without `timed_out`.
fn job_line(job: &Job, result: &str) -> Value {
    let mut line = job.query_body(result);
    if let Some(object) = line.as_object_mut() {
        object.remove("timed_out");
        if let Some(error) = object.remove("error") {
            object.insert("error_message".into(), error);
            object.insert("error_type".into(), json!("SQL"));
        }
    }
    line
}

/// Streams a job line for each job as it finishes, then the footer.
fn ndjson_response(
    header: Option<Value>,
    jobs: Vec<Arc<Job>>,
    result: String,
    deadline: Instant,
) -> Response {
    struct Pending {
        header: Option<Value>,
        jobs: Vec<Arc<Job>>,
        done: bool,
    }
    let start = Pending {
        header,
        jobs,
        done: false,
    };
    let stream = futures_util::stream::unfold(start, move |mut state| {
        let result = result.clone();
        async move {
            if state.done {
                return None;
            }
            let mut text = String::new();
            if let Some(header) = state.header.take() {
                text.push_str(&header.to_string());
                text.push('\n');
                return Some((Ok::<_, std::convert::Infallible>(text), state));
            }
            loop {
                let now = Instant::now();
                let (finished, running): (Vec<Arc<Job>>, Vec<Arc<Job>>) = state
                    .jobs
                    .drain(..)
                    .partition(|job| job.finished_at() <= now);
                state.jobs = running;
                for job in &finished {
                    text.push_str(&job_line(job, &result).to_string());
                    text.push('\n');
                }
                if state.jobs.is_empty() || now >= deadline {
                    let remaining: Vec<Uuid> = state.jobs.iter().map(|job| job.id).collect();
                    let timed_out = if remaining.is_empty() {
                        "false"
                    } else {
                        "true"
                    };
                    text.push_str(
                        &json!({"remaining_job_ids": remaining, "timed_out": timed_out})
                            .to_string(),
                    );
                    text.push('\n');
                    state.done = true;
                    return Some((Ok(text), state));
                }
                if !text.is_empty() {
                    return Some((Ok(text), state));
                }
                let next = state.jobs.iter().map(|job| job.finished_at()).min();
                tokio::time::sleep_until(next.map_or(deadline, |next| next.min(deadline))).await;
            }
        }
    });
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/ndjson")],
        Body::from_stream(stream),
    )
        .into_response()
}

/// `GET /v1/query/wait` in the 2026-07-22 contract.
pub(crate) fn ndjson_wait(shared: &Shared, query: Option<&str>) -> Response {
    let ids = match parse_comma_job_ids(query) {
        Ok(ids) => ids,
        Err(detail) => return detail_error(StatusCode::BAD_REQUEST, detail),
    };
    let jobs = match query_jobs(shared, &ids) {
        Ok(jobs) => jobs,
        Err(id) => return query_not_found(id),
    };
    let deadline = later(Instant::now(), shared.config.long_poll_wait);
    ndjson_response(None, jobs, shared.result_base64.clone(), deadline)
}

/// `POST /v1/query/run` without `resultType` in the 2026-07-22 contract: the run's jobs
/// are started already.
pub(crate) fn ndjson_run(shared: &Shared, jobs: Vec<Arc<Job>>) -> Response {
    let submitted: serde_json::Map<String, Value> = jobs
        .iter()
        .map(|job| (job.id.to_string(), json!(job.other_ids[0])))
        .collect();
    let deadline = later(Instant::now(), shared.config.query_run_wait);
    ndjson_response(
        Some(json!({ "jobs_submitted": submitted })),
        jobs,
        shared.result_base64.clone(),
        deadline,
    )
}
