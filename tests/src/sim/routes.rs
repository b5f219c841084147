//! The HTTP front: authentication, rate limit, faults, recording, then routing to an API.

#[allow(clippy::wildcard_imports)]
use super::*;

/// Percent-decodes a query string, reading `+` as a space.
pub(crate) fn decode(query: &str) -> String {
    percent_encoding::percent_decode_str(&query.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

/// Percent-decodes a path segment (`+` stays a `+`).
pub(crate) fn decode_segment(segment: &str) -> String {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8_lossy()
        .into_owned()
}

/// Whether `headers` carry exactly one `Authorization: Bearer <token>`.
pub(crate) fn bearer_matches(headers: &HeaderMap, token: &str) -> bool {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return false;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    value.split_once(' ').is_some_and(|(scheme, credentials)| {
        scheme.eq_ignore_ascii_case("bearer") && credentials.trim_start() == token
    })
}

/// The recorded form of a header: `authorization` redacted.
pub(crate) fn recorded_header(name: &HeaderName, value: &HeaderValue) -> (String, String) {
    let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
    if *name == header::AUTHORIZATION {
        let redacted = if value
            .get(..7)
            .is_some_and(|s| s.eq_ignore_ascii_case("bearer "))
        {
            "Bearer <redacted>"
        } else {
            "<redacted>"
        };
        return (name.as_str().to_owned(), redacted.to_owned());
    }
    (name.as_str().to_owned(), value)
}

pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// Whole seconds, rounded up, at least 1.
pub(crate) fn retry_after_secs(after: Duration) -> u64 {
    let secs = after
        .as_secs()
        .saturating_add(u64::from(after.subsec_nanos() > 0));
    secs.max(1)
}

/// The server's only handler: records the request, then answers it.
pub(crate) async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let arrived = Instant::now();
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().map(str::to_owned);
    let api = Api::of(&path);
    let authorized = match api {
        Some((Api::Omni, _)) => bearer_matches(&parts.headers, &shared.config.omni_token),
        Some((Api::Retailgrid, _)) => shared
            .config
            .retailgrid_token
            .as_deref()
            .is_none_or(|token| bearer_matches(&parts.headers, token)),
        None => false,
    };
    let index = {
        let mut state = shared.lock();
        state.requests.push(RecordedRequest {
            method: parts.method.as_str().to_owned(),
            path: path.clone(),
            query: query.clone(),
            headers: parts
                .headers
                .iter()
                .map(|(n, v)| recorded_header(n, v))
                .collect(),
            body: Vec::new(),
            authorized,
            at: arrived.into_std(),
            status: None,
        });
        state.requests.len() - 1
    };
    // Read whatever the request is: the body is recorded even when it is not used.
    let body = axum::body::to_bytes(body, MAX_REQUEST_BODY).await.ok();
    if let Some(bytes) = body.as_ref().filter(|bytes| !bytes.is_empty())
        && let Some(recorded) = recorded_mut(&mut shared.lock(), index, arrived, &path)
    {
        recorded.body = bytes.to_vec();
    }
    let response = respond(
        &shared,
        api,
        authorized,
        &parts.method,
        query.as_deref(),
        body.as_deref(),
    )
    .await;
    if let Some(recorded) = recorded_mut(&mut shared.lock(), index, arrived, &path) {
        recorded.status = Some(response.status().as_u16());
    }
    response
}

/// The recorded request at `index`, if it is still the one that arrived at `arrived` for
/// `path` (`clear_requests` may have run meanwhile).
pub(crate) fn recorded_mut<'a>(
    state: &'a mut Mutable,
    index: usize,
    arrived: Instant,
    path: &str,
) -> Option<&'a mut RecordedRequest> {
    state
        .requests
        .get_mut(index)
        .filter(|recorded| recorded.at == arrived.into_std() && recorded.path == path)
}

/// An endpoint, with its path parameters (as received, still percent-encoded).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Route<'a> {
    RefreshStatus(&'a str),
    ModelRefresh(&'a str),
    AiStatus(&'a str),
    AiSubmit,
    AiResult(&'a str),
    AiCancel(&'a str),
    QueryWait,
    QueryRun,
    DownloadStart(&'a str),
    DownloadFile(&'a str, &'a str),
    DownloadStatus(&'a str, &'a str),
    RetailgridJob(&'a str),
}

impl<'a> Route<'a> {
    /// The endpoint of a path (below the API prefix, split at `/`), if any.
    pub(crate) fn of(api: Api, segments: &[&'a str]) -> Option<Route<'a>> {
        let route = match (api, segments) {
            (Api::Omni, ["v1", "jobs", id, "status"]) => Route::RefreshStatus(id),
            (Api::Omni, ["v1", "models", model, "refresh"]) => Route::ModelRefresh(model),
            (Api::Omni, ["v1", "ai", "jobs"]) => Route::AiSubmit,
            (Api::Omni, ["v1", "ai", "jobs", id]) => Route::AiStatus(id),
            (Api::Omni, ["v1", "ai", "jobs", id, "result"]) => Route::AiResult(id),
            (Api::Omni, ["v1", "ai", "jobs", id, "cancel"]) => Route::AiCancel(id),
            (Api::Omni, ["v1", "query", "wait"]) => Route::QueryWait,
            (Api::Omni, ["v1", "query", "run"]) => Route::QueryRun,
            (Api::Omni, ["v1", "dashboards", dashboard, "download"]) => {
                Route::DownloadStart(dashboard)
            }
            (Api::Omni, ["v1", "dashboards", dashboard, "download", id]) => {
                Route::DownloadFile(dashboard, id)
            }
            (Api::Omni, ["v1", "dashboards", dashboard, "download", id, "status"]) => {
                Route::DownloadStatus(dashboard, id)
            }
            (Api::Retailgrid, ["v1", "jobs", id]) => Route::RetailgridJob(id),
            _ => return None,
        };
        Some(route)
    }

    /// The one method the endpoint answers.
    pub(crate) fn method(self) -> &'static str {
        match self {
            Route::ModelRefresh(_)
            | Route::AiSubmit
            | Route::AiCancel(_)
            | Route::QueryRun
            | Route::DownloadStart(_) => "POST",
            Route::RefreshStatus(_)
            | Route::AiStatus(_)
            | Route::AiResult(_)
            | Route::QueryWait
            | Route::DownloadFile(..)
            | Route::DownloadStatus(..)
            | Route::RetailgridJob(_) => "GET",
        }
    }
}

/// Steps 1–5 of the module documentation.
pub(crate) async fn respond(
    shared: &Shared,
    api: Option<(Api, &str)>,
    authorized: bool,
    method: &Method,
    query: Option<&str>,
    body: Option<&[u8]>,
) -> Response {
    let Some((api, rest)) = api else {
        return json_response(StatusCode::NOT_FOUND, &json!({"detail": "Not Found"}));
    };
    if !authorized {
        return match api {
            Api::Omni => api.error(StatusCode::UNAUTHORIZED, "Unauthorized"),
            Api::Retailgrid => {
                let mut response = api.error(StatusCode::UNAUTHORIZED, "Not authenticated");
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                response
            }
        };
    }
    let path = format!(
        "{}{rest}",
        match api {
            Api::Omni => Api::OMNI_PREFIX,
            Api::Retailgrid => Api::RETAILGRID_PREFIX,
        }
    );
    let (delay, answer) = {
        let mut state = shared.lock();
        let now = Instant::now();
        let limited = match api {
            Api::Omni => shared
                .config
                .rate_limit
                .map(|limit| state.omni_window.admit(now, limit)),
            Api::Retailgrid => shared
                .config
                .retailgrid_rate_limit
                .map(|limit| state.retailgrid_window.admit(now, limit)),
        };
        if let Some(Err(after)) = limited {
            let mut response = api.error(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests");
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(retry_after_secs(after)),
            );
            return response;
        }
        take_faults(&mut state.faults, &path, query)
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if let Some(kind) = answer {
        return fault_response(api, &kind);
    }
    let segments: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
    let Some(route) = Route::of(api, &segments) else {
        return api.error(StatusCode::NOT_FOUND, "Not Found");
    };
    if method.as_str() != route.method() {
        let mut response = api.error(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static(route.method()));
        return response;
    }
    let answer = match route {
        Route::RefreshStatus(id) => Ok(schema_refresh_status(shared, id)),
        Route::ModelRefresh(model) => model_refresh(shared, model, query),
        Route::AiStatus(id) => Ok(ai_job(shared, id)),
        Route::AiSubmit => ai_submit(shared, body),
        Route::AiResult(id) => ai_result(shared, id),
        Route::AiCancel(id) => ai_cancel(shared, id),
        Route::QueryWait => Ok(wait_for_query(shared, query).await),
        Route::QueryRun => query_run(shared, body).await,
        Route::DownloadStart(dashboard) => download_start(shared, dashboard, body),
        Route::DownloadFile(dashboard, id) => download_file_response(shared, dashboard, id),
        Route::DownloadStatus(dashboard, id) => download_status(shared, dashboard, id),
        Route::RetailgridJob(id) => Ok(retailgrid_job(shared, id)),
    };
    answer.unwrap_or_else(Reject::into_response)
}

/// The summed delay of the matching delay faults, and the first matching answering fault.
pub(crate) fn take_faults(
    faults: &mut [Fault],
    path: &str,
    query: Option<&str>,
) -> (Duration, Option<FaultKind>) {
    let mut delay = Duration::ZERO;
    for fault in faults.iter_mut() {
        if let FaultKind::Delay(d) = fault.kind
            && fault.matches(path, query)
        {
            fault.use_once();
            delay = delay.saturating_add(d);
        }
    }
    let answer = faults
        .iter_mut()
        .find(|f| !matches!(f.kind, FaultKind::Delay(_)) && f.matches(path, query))
        .map(|fault| {
            fault.use_once();
            fault.kind.clone()
        });
    (delay, answer)
}

pub(crate) fn fault_response(api: Api, kind: &FaultKind) -> Response {
    match kind {
        FaultKind::Status {
            status,
            retry_after,
        } => {
            let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut response = api.error(status, status.canonical_reason().unwrap_or("Error"));
            if let Some(after) = retry_after {
                response.headers_mut().insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(retry_after_secs(*after)),
                );
            }
            response
        }
        FaultKind::MalformedBody => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            r#"{"job_id": "4e6953a9-a71b-4c0b-8b63-a9ea308f6aaf", "status": "RUNN"#,
        )
            .into_response(),
        // Delays never answer; `take_faults` does not return them.
        FaultKind::Delay(_) => {
            api.error(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
        }
    }
}
