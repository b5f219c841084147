//! The poll loop's schedule, on tokio's virtual clock (`start_paused`): no sockets, no
//! real sleeping. Every fetch records `Instant::now()` when it is called, so each test
//! asserts the schedule actually followed, not only what the events claim.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use poll_helpers::{
    FetchError, FetchErrorKind, Phase, PolicyError, PollError, PollEvent, PollPolicy, Poller,
    RateBudget, Snapshot,
};
use tokio::time::Instant;

// ---------------------------------------------------------------------------------------
// A fake job and a scripted fetch
// ---------------------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq)]
enum Snap {
    Pending,
    Done,
    Failed(String),
}

impl Snapshot for Snap {
    fn phase(&self) -> Phase {
        match self {
            Snap::Pending => Phase::Pending,
            Snap::Done => Phase::Succeeded,
            Snap::Failed(reason) => Phase::Failed(reason.clone()),
        }
    }
}

/// What the n-th fetch does.
#[derive(Clone, Debug)]
enum Step {
    Ok(Snap),
    Err(FetchError),
    /// A request that never answers.
    Hang,
}

use Step::Hang;

fn pending() -> Step {
    Step::Ok(Snap::Pending)
}

fn done() -> Step {
    Step::Ok(Snap::Done)
}

fn status(code: u16) -> Step {
    Step::Err(FetchError::from_status(code, format!("server said {code}")))
}

fn status_retry_after(code: u16, retry_after: Duration) -> Step {
    Step::Err(
        FetchError::from_status(code, format!("server said {code}"))
            .with_retry_after(Some(retry_after)),
    )
}

/// The instants at which a fetch was called.
#[derive(Clone, Default)]
struct Calls(Arc<Mutex<Vec<Instant>>>);

impl Calls {
    fn count(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    /// Call times relative to `t0`.
    fn offsets(&self, t0: Instant) -> Vec<Duration> {
        self.0.lock().unwrap().iter().map(|t| *t - t0).collect()
    }

    /// Time between consecutive calls.
    fn gaps(&self) -> Vec<Duration> {
        let times = self.0.lock().unwrap();
        times.windows(2).map(|w| w[1] - w[0]).collect()
    }
}

type Fetch = BoxFuture<'static, Result<Snap, FetchError>>;

/// A fetch closure playing `script` (call n gets `script[n-1]`; the last step repeats) and
/// recording each call's instant in `calls`.
fn scripted(calls: &Calls, script: Vec<Step>) -> impl FnMut() -> Fetch + Send + 'static {
    assert!(!script.is_empty());
    let calls = calls.clone();
    move || {
        let n = {
            let mut times = calls.0.lock().unwrap();
            times.push(Instant::now());
            times.len()
        };
        let step = script
            .get(n - 1)
            .unwrap_or(&script[script.len() - 1])
            .clone();
        Box::pin(async move {
            match step {
                Step::Ok(snap) => Ok(snap),
                Step::Err(e) => Err(e),
                Step::Hang => std::future::pending().await,
            }
        })
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A policy without jitter: `min`, then ×`multiplier`, capped at `max`.
fn steady(min: Duration, max: Duration, multiplier: f64) -> PollPolicy {
    PollPolicy::default()
        .min_delay(min)
        .max_delay(max)
        .multiplier(multiplier)
        .jitter(0.0)
}

/// Drains a stream, returning its events and its error (if it ended with one). Panics if
/// anything follows the error.
async fn drain<S>(mut stream: S) -> (Vec<PollEvent<Snap>>, Option<PollError<Snap>>)
where
    S: futures_util::Stream<Item = Result<PollEvent<Snap>, PollError<Snap>>> + Unpin,
{
    let mut events = Vec::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(event) => events.push(event),
            Err(e) => {
                assert!(
                    stream.next().await.is_none(),
                    "the stream must end after its error"
                );
                return (events, Some(e));
            }
        }
    }
    (events, None)
}

/// A fast policy (100–200 ms) that a `Retry-After` must override.
fn fast() -> PollPolicy {
    steady(ms(100), ms(200), 2.0)
}

mod answers;
mod backoff_and_deadline;
mod budget_and_limits;
mod fair_budget;
