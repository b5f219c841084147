//! The rate budget of this process: `--rate-limit`, shared with every `jobwait` on any
//! machine through Redis with `--rate-budget-url` (or `JOBWAIT_RATE_BUDGET_URL`).
//!
//! The budget is made once from the flags ([`configure`]), then bound to the credential
//! of the client when it is built ([`bind_omni`], [`bind_retailgrid`]): a Redis budget's
//! key holds the credential's fingerprint, so that jobwaits with different tokens never
//! share a budget.

use std::sync::OnceLock;

use poll_helpers::{Poller, RateBudget, Snapshot, omni};

use crate::args::PolicyArgs;

/// The variable a Redis URL with a password must come from (argv shows in `ps`).
pub(crate) const URL_VAR: &str = "JOBWAIT_RATE_BUDGET_URL";

/// The budget the flags ask for, before it knows the credential.
static CONFIGURED: OnceLock<RateBudget> = OnceLock::new();
/// The budget of this process's credential, once a client is built.
static BOUND: OnceLock<RateBudget> = OnceLock::new();

/// Which API the command talks to (Retailgrid documents no limit: a shared budget needs
/// one given).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Api {
    Omni,
    Retailgrid,
}

/// Makes the process's budget from `--rate-limit` and `--rate-budget-url` (or the
/// variable). `Err` is a usage error's message; it never contains a password.
pub(crate) fn configure(args: &PolicyArgs, api: Api) -> Result<(), String> {
    let from_env = std::env::var(URL_VAR).ok().filter(|v| !v.trim().is_empty());
    let (url, source) = match (&args.rate_budget_url, from_env) {
        (Some(url), _) => {
            if has_password(url) {
                return Err(format!(
                    "--rate-budget-url must not contain a password (the command line shows \
                     in `ps` and shell history): set {URL_VAR} instead"
                ));
            }
            (Some(url.clone()), "--rate-budget-url")
        }
        (None, Some(url)) => (Some(url), URL_VAR),
        (None, None) => (None, ""),
    };
    let Some(url) = url else {
        if let Some(limit) = args.rate_limit {
            let _ = CONFIGURED.set(RateBudget::new(limit.requests, limit.per));
        }
        return Ok(());
    };
    let (requests, per) = match (args.rate_limit, api) {
        (Some(limit), _) => (limit.requests, limit.per),
        (None, Api::Omni) => (
            omni::RATE_LIMIT_PER_MINUTE,
            std::time::Duration::from_secs(60),
        ),
        (None, Api::Retailgrid) => {
            return Err(format!(
                "{source} needs --rate-limit N/DURATION for Retailgrid: it documents no rate \
                 limit to share"
            ));
        }
    };
    let namespace = match api {
        Api::Omni => "omni",
        Api::Retailgrid => "retailgrid",
    };
    let budget =
        redis_budget(&url, namespace, requests, per).map_err(|e| format!("{source}: {e}"))?;
    let _ = CONFIGURED.set(budget);
    Ok(())
}

#[cfg(feature = "redis")]
fn redis_budget(
    url: &str,
    namespace: &str,
    requests: u32,
    per: std::time::Duration,
) -> Result<RateBudget, String> {
    // The error names the URL with its password redacted.
    RateBudget::redis(url, namespace, requests, per).map_err(|e| e.to_string())
}

#[cfg(not(feature = "redis"))]
fn redis_budget(
    _url: &str,
    _namespace: &str,
    _requests: u32,
    _per: std::time::Duration,
) -> Result<RateBudget, String> {
    Err("this jobwait was built without the `redis` feature".to_owned())
}

/// Whether `url` carries a password (`redis://:pw@host`, `redis://user:pw@host`). A URL
/// that does not parse but has `:…@` is taken as carrying one.
fn has_password(url: &str) -> bool {
    match url::Url::parse(url) {
        Ok(parsed) => parsed.password().is_some(),
        Err(_) => url
            .rsplit_once('@')
            .is_some_and(|(userinfo, _)| userinfo.contains(':')),
    }
}

/// Binds the configured budget to `client`'s credential and makes it the budget of every
/// Omni wait of this process (the adapters' and workflows' too).
pub(crate) fn bind_omni(client: &omni_sdk::Client) {
    if let Some(budget) = CONFIGURED.get() {
        let bound = omni::set_shared_budget(client, budget.clone());
        let _ = BOUND.set(bound);
    }
}

/// Binds the configured budget to `client`'s credential (Retailgrid waits draw from it
/// through [`with_rate_limit`]).
pub(crate) fn bind_retailgrid(client: &retailgrid_sdk::Client) {
    if let Some(budget) = CONFIGURED.get() {
        let fingerprint = progenitor_client::ClientInfo::inner(client).credential_fingerprint();
        let _ = BOUND.set(budget.for_credential(fingerprint));
    }
}

/// `poller`, drawing from the process's budget if one was configured (else from its
/// adapter's default: Omni's 60 per minute per token, nothing for Retailgrid).
pub(crate) fn with_rate_limit<'a, T>(poller: Poller<'a, T>) -> Poller<'a, T>
where
    T: Snapshot + Clone + Send + 'a,
{
    match BOUND.get().or(CONFIGURED.get()) {
        Some(budget) => poller.rate_budget(budget.clone()),
        None => poller,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_found_in_redis_urls() {
        assert!(has_password("redis://:pw@cache:6379/0"));
        assert!(has_password("rediss://user:pw@cache:6380"));
        assert!(has_password("redis://u:p@[::1"));
        assert!(!has_password("redis://cache:6379/0"));
        assert!(!has_password("redis://user@cache:6379"));
    }
}
