//! The budget held in Redis: one GCRA per key shared by every process on every machine,
//! with a local fallback while Redis is away.
//!
//! Why a Lua script and not a client-side read-modify-write: the decision (read the
//! theoretical arrival time, compare, write it back) must be atomic across processes, and
//! it must use one clock. The script runs atomically on the server and reads the server's
//! `TIME`, so clients never send a timestamp: clock skew between machines cannot break the
//! pacing. The script only returns durations ("admitted" or "ask again in N µs"), which
//! each client adds to its own monotonic clock.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::OnceCell;
use tokio::time::Instant;

/// How long one Redis call may take before Redis counts as unavailable (connecting
/// included). Why 1 s: a healthy Redis answers in well under a millisecond on a LAN; a
/// wait that hangs on a slow Redis is the failure this backend must not have.
const CALL_TIMEOUT: Duration = Duration::from_secs(1);

/// After a failure, how long the budget runs on its local fallback before trying Redis
/// again.
const RETRY_REDIS_AFTER: Duration = Duration::from_secs(2);

/// The expected number of processes sharing a key, when the user sets none: during a
/// Redis outage each process falls back to `limit / DEFAULT_SHARERS`.
pub(crate) const DEFAULT_SHARERS: u32 = 8;

/// A fresh GCRA per key: `KEYS[1]` the theoretical arrival time (µs of the server's
/// clock), `KEYS[2]` the cool-down's end; `ARGV[1]` the interval and `ARGV[2]` the
/// tolerance (µs). Returns 0 when admitted (and records it), else the µs to wait.
/// A value under either key that is not a number, or a theoretical arrival time further
/// ahead than these parameters can produce, is an error reply naming the key.
const ACQUIRE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local cool = redis.call('GET', KEYS[2])
if cool then
  local c = tonumber(cool)
  if not c then return redis.error_reply('CORRUPT ' .. KEYS[2]) end
  if c > now then return math.floor(c - now) end
end
local tat = now
local v = redis.call('GET', KEYS[1])
if v then
  local x = tonumber(v)
  if not x or x > now + 2 * (tolerance + interval) + 1000000 then
    return redis.error_reply('CORRUPT ' .. KEYS[1])
  end
  if x > tat then tat = x end
end
local allow_at = tat - tolerance
if allow_at > now then return math.floor(allow_at - now) end
local new_tat = tat + interval
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX',
  math.floor((new_tat - now) / 1000) + 1000)
return 0
";

/// A 429's cool-down for every sharer: `KEYS[1]` the cool-down's end (µs of the server's
/// clock), `ARGV[1]` the wait (µs). A shorter cool-down never shortens a longer one.
const COOL_DOWN: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local wait = tonumber(ARGV[1])
local target = now + wait
local cur = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
if target > cur then
  redis.call('SET', KEYS[1], string.format('%.0f', target), 'PX', math.floor(wait / 1000) + 1)
end
return 0
";

/// Why [`RateBudget::redis`](crate::RateBudget::redis) refused its arguments.
///
/// ```
/// use std::time::Duration;
/// let e = poll_helpers::RateBudget::redis("http://:pw@cache:6379", "omni", 60, Duration::from_secs(60))
///     .unwrap_err();
/// assert!(e.to_string().contains("http://:***@cache:6379"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RateBudgetError {
    /// The URL is not a Redis URL (`redis://`, `rediss://` or `redis+unix://`). The URL
    /// in the message has its password replaced by `***`.
    #[error("invalid Redis URL for the rate budget: {url}: {reason}")]
    InvalidUrl {
        /// The URL, password redacted.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// `url` with any password (and user name) replaced by `***`, for logs and errors.
pub(crate) fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some("***"));
            }
            if !parsed.username().is_empty() {
                let _ = parsed.set_username("***");
            }
            parsed.to_string()
        }
        // Unparseable: keep the scheme and host-ish part only, never what may be a secret.
        Err(_) => match url.rsplit_once('@') {
            Some((_, host)) => format!("***@{host}"),
            None => url.to_owned(),
        },
    }
}

/// What a budget held in Redis adds to the local one.
pub(crate) struct Remote {
    pub(crate) server: Arc<Server>,
    /// The `key` given to `RateBudget::redis`.
    pub(crate) namespace: String,
    pub(crate) keys: Keys,
    /// The credential's, once bound (`RateBudget::for_credential`).
    pub(crate) fingerprint: Option<String>,
    /// The expected number of processes sharing the key (the fallback's divisor).
    pub(crate) sharers: u32,
    /// The fallback GCRA's `(interval, tolerance)`: the limit divided by `sharers`.
    pub(crate) fallback: (Duration, Duration),
}

/// One Redis server, shared by every budget made from it (one per credential).
pub(crate) struct Server {
    client: redis::Client,
    /// Redacted, for messages.
    url: String,
    connection: OnceCell<redis::aio::ConnectionManager>,
    health: Mutex<Health>,
    acquire: redis::Script,
    cool_down: redis::Script,
}

#[derive(Default)]
struct Health {
    /// While set: Redis failed; use the local fallback until then.
    down_until: Option<Instant>,
    /// Whether this outage was reported (one warning per outage).
    reported: bool,
}

/// What Redis said about one request.
pub(crate) enum Answer {
    Admitted,
    RetryIn(Duration),
    /// Redis could not decide: the caller uses its local fallback.
    Unavailable,
}

impl Server {
    pub(crate) fn open(url: &str) -> Result<Arc<Self>, RateBudgetError> {
        let redacted = redact(url);
        let invalid = |reason: String| RateBudgetError::InvalidUrl {
            url: redacted.clone(),
            reason,
        };
        let scheme = url.split_once("://").map(|(s, _)| s).unwrap_or_default();
        if !matches!(scheme, "redis" | "rediss" | "redis+unix" | "unix") {
            return Err(invalid(
                "the scheme must be redis://, rediss:// (TLS) or redis+unix://".into(),
            ));
        }
        // `redis::Client::open` parses only; it connects nothing.
        let client = redis::Client::open(url).map_err(|e| {
            // redis' message may quote the URL: keep only its kind.
            invalid(format!("{:?}", e.kind()))
        })?;
        Ok(Arc::new(Self {
            client,
            url: redacted,
            connection: OnceCell::new(),
            health: Mutex::new(Health::default()),
            acquire: redis::Script::new(ACQUIRE),
            cool_down: redis::Script::new(COOL_DOWN),
        }))
    }

    /// The URL, password redacted.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// Whether Redis should be asked now (not in a recent outage).
    pub(crate) fn usable(&self, now: Instant) -> bool {
        let health = self.health.lock().unwrap_or_else(PoisonError::into_inner);
        health.down_until.is_none_or(|until| now >= until)
    }

    async fn connection(&self) -> Option<redis::aio::ConnectionManager> {
        let made = self
            .connection
            .get_or_try_init(|| async {
                let config = redis::aio::ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(CALL_TIMEOUT))
                    .set_response_timeout(Some(CALL_TIMEOUT))
                    .set_number_of_retries(1)
                    .set_max_delay(Duration::from_millis(500));
                // Lazy: connects on the first call, and reconnects by itself after an
                // outage.
                redis::aio::ConnectionManager::new_lazy_with_config(self.client.clone(), config)
            })
            .await;
        match made {
            Ok(c) => Some(c.clone()),
            Err(e) => {
                self.failed(&format!("cannot set up a connection: {:?}", e.kind()), None);
                None
            }
        }
    }

    /// Asks Redis to admit one request under `keys`.
    pub(crate) async fn acquire(
        &self,
        keys: &Keys,
        interval: Duration,
        tolerance: Duration,
    ) -> Answer {
        let Some(mut con) = self.connection().await else {
            return Answer::Unavailable;
        };
        let mut call = self.acquire.key(&keys.tat);
        call.key(&keys.cool)
            // At least 1 µs: an interval of 0 would never advance the stored time (and
            // admit everything).
            .arg(micros(interval).max(1))
            .arg(micros(tolerance));
        let result = tokio::time::timeout(CALL_TIMEOUT, call.invoke_async::<u64>(&mut con)).await;
        match result {
            Ok(Ok(0)) => {
                self.recovered();
                Answer::Admitted
            }
            Ok(Ok(us)) => {
                self.recovered();
                Answer::RetryIn(Duration::from_micros(us))
            }
            Ok(Err(e)) => {
                self.failed(&describe(&e), Some(keys));
                Answer::Unavailable
            }
            Err(_) => {
                self.failed(
                    &format!("no answer within {} ms", CALL_TIMEOUT.as_millis()),
                    None,
                );
                Answer::Unavailable
            }
        }
    }

    /// Stores a cool-down of `wait` under `keys` for every sharer. Best effort: when Redis
    /// is away, the local cool-down (which the caller also sets) still holds.
    pub(crate) async fn cool_down(&self, keys: &Keys, wait: Duration) {
        if !self.usable(Instant::now()) {
            return;
        }
        let Some(mut con) = self.connection().await else {
            return;
        };
        let mut call = self.cool_down.key(&keys.cool);
        call.arg(micros(wait).max(1));
        match tokio::time::timeout(CALL_TIMEOUT, call.invoke_async::<i64>(&mut con)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => self.failed(&describe(&e), Some(keys)),
            Err(_) => self.failed(
                &format!("no answer within {} ms", CALL_TIMEOUT.as_millis()),
                None,
            ),
        }
    }

    fn failed(&self, what: &str, keys: Option<&Keys>) {
        let mut health = self.health.lock().unwrap_or_else(PoisonError::into_inner);
        health.down_until = Some(crate::poller::far_add(Instant::now(), RETRY_REDIS_AFTER));
        let corrupt = what.contains("CORRUPT") || what.contains("WRONGTYPE");
        if corrupt {
            // Every time: a foreign value stays until someone removes it.
            tracing::error!(
                redis = %self.url,
                key = keys.map_or("", |k| k.tat.as_str()),
                "rate budget: the value under the Redis key is not this budget's ({what}); \
                 using the local fallback budget until it is removed"
            );
        } else if !health.reported {
            health.reported = true;
            tracing::warn!(
                redis = %self.url,
                "rate budget: Redis is unavailable ({what}); using the local fallback budget \
                 (the limit divided by the expected number of sharers) until it is back"
            );
        }
    }

    fn recovered(&self) {
        let mut health = self.health.lock().unwrap_or_else(PoisonError::into_inner);
        if health.reported {
            tracing::warn!(redis = %self.url, "rate budget: Redis is back; sharing its budget again");
        }
        *health = Health::default();
    }
}

fn describe(e: &redis::RedisError) -> String {
    // The code and detail of a server error (e.g. "CORRUPT key", "WRONGTYPE ..."); a
    // RedisError's Display never contains the URL or a password.
    e.to_string()
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// The Redis keys of one budget. Both share a hash tag (the part in braces), so that
/// Redis Cluster keeps them in one slot and one script may use both.
#[derive(Clone, Debug)]
pub(crate) struct Keys {
    pub(crate) tat: String,
    pub(crate) cool: String,
}

impl Keys {
    /// `namespace` (braces replaced, so that the tag stays ours) and, when the budget is a
    /// credential's, that credential's fingerprint (never the token).
    pub(crate) fn new(namespace: &str, fingerprint: Option<&str>) -> Self {
        let namespace: String = namespace
            .chars()
            .map(|c| if matches!(c, '{' | '}') { '_' } else { c })
            .collect();
        let tag = match fingerprint {
            Some(fp) => format!("{namespace}:{fp}"),
            None => namespace,
        };
        Self {
            tat: format!("rate-budget:{{{tag}}}:tat"),
            cool: format!("rate-budget:{{{tag}}}:cool"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted_from_urls() {
        assert_eq!(
            redact("redis://:hunter2@cache:6379/0"),
            "redis://:***@cache:6379/0"
        );
        assert_eq!(
            redact("rediss://user:hunter2@cache:6380"),
            "rediss://***:***@cache:6380"
        );
        assert_eq!(redact("redis://cache:6379"), "redis://cache:6379");
        assert!(!redact("not a url:hunter2@x").contains("hunter2"));
    }

    #[test]
    fn keys_share_one_hash_tag_and_hold_no_braces_of_the_namespace() {
        let k = Keys::new("om{ni}", Some("0123abcd"));
        assert_eq!(k.tat, "rate-budget:{om_ni_:0123abcd}:tat");
        assert_eq!(k.cool, "rate-budget:{om_ni_:0123abcd}:cool");
        assert_eq!(Keys::new("x", None).tat, "rate-budget:{x}:tat");
    }

    #[test]
    fn invalid_urls_are_refused_without_their_password() {
        for bad in ["http://:pw@cache:6379", "cache:6379", "redis://:pw@[::1"] {
            let e = Server::open(bad)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(e.starts_with("invalid Redis URL"), "{bad}: {e}");
            assert!(!e.contains("pw@"), "{e}");
        }
        assert!(Server::open("redis://127.0.0.1:1/0").is_ok());
    }
}
