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
    budgets()
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .entry(client.credential_key())
        .or_insert_with(|| RateBudget::per_minute(RATE_LIMIT_PER_MINUTE))
        .clone()
}

/// Makes `budget` the process-wide budget of `client`'s credential: from now on every
/// Omni adapter and workflow that waits through a client with this credential draws from
/// it (waits already running keep the budget they started with). Returns the budget
/// stored.
///
/// Why: to share Omni's per-key limit with other processes and machines, give it a budget
/// held in Redis (`RateBudget::redis`, feature `redis`): it is keyed here by the
/// credential's fingerprint ([`RateBudget::for_credential`]), so two API keys never
/// share a Redis budget and every process holding one key does. Also for a smaller local
/// budget (to leave room for other traffic on the key).
///
/// ```
/// use poll_helpers::{omni, RateBudget};
/// let client = omni_sdk::Client::builder()
///     .base_url("https://acme.omniapp.co/api")
///     .bearer_token("t")
///     .build()?;
/// let half = omni::set_shared_budget(&client, RateBudget::per_minute(30));
/// assert!(omni::shared_budget(&client).same_budget(&half));
/// # Ok::<(), omni_sdk::ConfigError>(())
/// ```
pub fn set_shared_budget(client: &omni_sdk::Client, budget: RateBudget) -> RateBudget {
    let budget = budget
        .for_credential(progenitor_client::ClientInfo::inner(client).credential_fingerprint());
    budgets()
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(client.credential_key(), budget.clone());
    budget
}

/// Every credential's budget in this process, by `credential_key`.
fn budgets() -> &'static Mutex<std::collections::HashMap<u64, RateBudget>> {
    static BUDGETS: std::sync::OnceLock<Mutex<std::collections::HashMap<u64, RateBudget>>> =
        std::sync::OnceLock::new();
    BUDGETS.get_or_init(Default::default)
}
