//! Omni's per-key rate limit as one process-wide budget per credential.

use std::sync::Mutex;

use crate::budget::RateBudget;

/// Omni's documented rate limit: 60 requests per minute per API key.
pub const RATE_LIMIT_PER_MINUTE: u32 = 60;

/// The process-wide [`RateBudget`] of `client`'s credential: Omni's 60 requests per
/// minute, shared by every client of this process that sends the same token to the same
/// base URL ([`omni_sdk::Client::credential_key`]).
///
/// Why: Omni limits requests per API key, not per job or per client object. Every Omni
/// adapter and workflow draws from this budget by default, so a service that waits for
/// fifty jobs at once slows itself down instead of collecting 429s. Attach your own with
/// [`Poller::rate_budget`](crate::Poller::rate_budget) (e.g. to leave room for other
/// traffic on the key) or opt out with
/// [`Poller::without_rate_budget`](crate::Poller::without_rate_budget).
///
/// ```
/// let a = omni_sdk::Client::builder().base_url("https://acme.omniapp.co/api").bearer_token("t").build()?;
/// let b = omni_sdk::Client::builder().base_url("https://acme.omniapp.co/api").bearer_token("t").build()?;
/// let shared = poll_helpers::omni::shared_budget(&a);
/// assert_eq!(shared.limit(), 60);
/// assert!(shared.same_budget(&poll_helpers::omni::shared_budget(&b)));
/// # Ok::<(), omni_sdk::ConfigError>(())
/// ```
pub fn shared_budget(client: &omni_sdk::Client) -> RateBudget {
    static BUDGETS: std::sync::OnceLock<Mutex<std::collections::HashMap<u64, RateBudget>>> =
        std::sync::OnceLock::new();
    let budgets = BUDGETS.get_or_init(Default::default);
    budgets
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .entry(client.credential_key())
        .or_insert_with(|| RateBudget::per_minute(RATE_LIMIT_PER_MINUTE))
        .clone()
}
