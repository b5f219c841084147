//! Retailgrid's endpoint: `GET /v1/jobs/{job_id}`.

#[allow(clippy::wildcard_imports)]
use super::*;

pub(crate) fn retailgrid_job(shared: &Shared, id: &str) -> Response {
    let raw = percent_encoding::percent_decode_str(id)
        .decode_utf8_lossy()
        .into_owned();
    let id = match Uuid::parse_str(&raw) {
        Ok(id) => id,
        Err(e) => {
            // pydantic-core parses UUIDs with the same `uuid` crate, so its reason reads
            // the same.
            let reason = e.to_string();
            let body = json!({"detail": [{
                "type": "uuid_parsing",
                "loc": ["path", "job_id"],
                "msg": format!("Input should be a valid UUID, {reason}"),
                "input": raw,
                "ctx": {"error": reason},
            }]});
            return json_response(StatusCode::UNPROCESSABLE_ENTITY, &body);
        }
    };
    let job = shared
        .lock()
        .jobs
        .get(&id)
        .filter(|job| job.kind == JobKind::Retailgrid)
        .cloned();
    match job {
        Some(job) => json_response(StatusCode::OK, &job.retailgrid_body(Instant::now())),
        None => Api::Retailgrid.error(StatusCode::NOT_FOUND, "Job not found"),
    }
}
