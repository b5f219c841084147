//! Injected faults: the next requests of an API or a job answer 429, 5xx, garbage or hang.

#[allow(clippy::wildcard_imports)]
use super::*;

/// Which responses a [`Fault`] replaces or slows down.
#[derive(Debug, Clone)]
pub(crate) enum FaultKind {
    Status {
        status: u16,
        retry_after: Option<Duration>,
    },
    Delay(Duration),
    MalformedBody,
}

/// Which requests a [`Fault`] applies to.
#[derive(Debug, Clone)]
pub(crate) enum FaultScope {
    All,
    PathPrefix(String),
    Job(Uuid),
}

/// A scripted misbehaviour, injected with [`Simulator::inject`].
///
/// A fault applies to every request that passed authentication and the rate limit
/// and is in its scope (default: all requests), as many times as [`Fault::times`] says
/// (default: until [`Simulator::clear_faults`]). Faults are tried in injection order: every
/// matching [`delay`](Fault::delay) is applied (their delays add up), then the first
/// matching [`status`](Fault::status) or [`malformed_body`](Fault::malformed_body) fault
/// answers instead of the endpoint. Each fault applied uses one of its times.
///
/// ```
/// use std::time::Duration;
/// use sdk_tests::sim::Fault;
///
/// let twice_500 = Fault::status(500).times(2);
/// let throttled = Fault::status(429).retry_after(Duration::from_secs(2)).times(1);
/// let slow_wait = Fault::delay(Duration::from_millis(200)).on_path("/omni/v1/query/wait");
/// let garbage = Fault::malformed_body().on_job(uuid::Uuid::nil()).times(1);
/// ```
#[derive(Debug, Clone)]
pub struct Fault {
    pub(crate) kind: FaultKind,
    pub(crate) remaining: Option<u32>,
    pub(crate) scope: FaultScope,
}

impl Fault {
    pub(crate) fn new(kind: FaultKind) -> Self {
        Fault {
            kind,
            remaining: None,
            scope: FaultScope::All,
        }
    }

    /// Answers with this HTTP status and the API's error body (Omni `{"error": "<status>",
    /// "message": <reason>}`, Retailgrid `{"detail": <reason>}`). A status outside
    /// 100–999 is answered as 500.
    pub fn status(status: u16) -> Self {
        Self::new(FaultKind::Status {
            status,
            retry_after: None,
        })
    }

    /// Adds `Retry-After: <whole seconds, rounded up>` to a [`status`](Fault::status)
    /// fault (typically 429 or 503); no effect on other faults.
    pub fn retry_after(mut self, after: Duration) -> Self {
        if let FaultKind::Status { retry_after, .. } = &mut self.kind {
            *retry_after = Some(after);
        }
        self
    }

    /// Holds the request this long, then answers it normally (or with the next fault).
    pub fn delay(delay: Duration) -> Self {
        Self::new(FaultKind::Delay(delay))
    }

    /// Answers 200 with `Content-Type: application/json` and a truncated JSON body.
    pub fn malformed_body() -> Self {
        Self::new(FaultKind::MalformedBody)
    }

    /// Applies to the next `times` matching requests only.
    pub fn times(mut self, times: u32) -> Self {
        self.remaining = Some(times);
        self
    }

    /// Applies only to requests whose path (as received, e.g. `/omni/v1/query/wait`)
    /// starts with `prefix`.
    pub fn on_path(mut self, prefix: impl Into<String>) -> Self {
        self.scope = FaultScope::PathPrefix(prefix.into());
        self
    }

    /// Applies only to requests naming this job in their path or query (case-insensitive).
    pub fn on_job(mut self, job_id: Uuid) -> Self {
        self.scope = FaultScope::Job(job_id);
        self
    }

    pub(crate) fn matches(&self, path: &str, query: Option<&str>) -> bool {
        if self.remaining == Some(0) {
            return false;
        }
        match &self.scope {
            FaultScope::All => true,
            FaultScope::PathPrefix(prefix) => path.starts_with(prefix.as_str()),
            FaultScope::Job(id) => {
                let id = id.to_string();
                let decoded = query.map(decode).unwrap_or_default();
                [path, &decoded]
                    .iter()
                    .any(|s| s.to_ascii_lowercase().contains(&id))
            }
        }
    }

    pub(crate) fn use_once(&mut self) {
        if let Some(n) = &mut self.remaining {
            *n = n.saturating_sub(1);
        }
    }
}
