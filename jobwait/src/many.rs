//! Several jobs in one process (`omni-job`, `omni-ai` and `retailgrid` with more than one
//! job id): every wait runs at once, drawing from one rate budget, and each ends with its
//! own final line; then a summary, and one exit code for all.

use futures_util::StreamExt;
use futures_util::stream::{self, BoxStream};
use poll_helpers::{PollError, PollEvent, Poller, Snapshot};
use uuid::Uuid;

use crate::budget::with_rate_limit;
use crate::report::{Describe, Outcome, Reporter, Summary};
use crate::{ending, exit, interrupted};

/// One item of the merged streams: job number `i`'s next event, its error, or the end of
/// its stream (`None`).
type Item<T> = (usize, Option<Result<PollEvent<T>, PollError<T>>>);

/// Where one job stands.
struct Wait<T> {
    id: Uuid,
    last: Option<T>,
    /// How it ended, once it has.
    ended: Option<u8>,
}

/// Waits for every job at once, reporting each poll (with its job id), each job's ending
/// and the summary; returns the exit code of the whole: the first of 2 (usage), 4
/// (request error), 1 (a job failed), 3 (deadline) that any job ended with, else 0; 130
/// when interrupted.
pub(crate) async fn drive_many<'a, T>(
    pollers: Vec<(Uuid, Poller<'a, T>)>,
    reporter: &mut Reporter,
) -> u8
where
    T: Snapshot + Describe + Clone + Send + 'a,
{
    let mut waits: Vec<Wait<T>> = Vec::with_capacity(pollers.len());
    let mut streams: Vec<BoxStream<'a, Item<T>>> = Vec::with_capacity(pollers.len());
    for (i, (id, poller)) in pollers.into_iter().enumerate() {
        waits.push(Wait {
            id,
            last: None,
            ended: None,
        });
        let events = with_rate_limit(poller)
            .into_stream()
            .map(move |item| (i, Some(item)))
            // A marker after the last item: a stream that ends without an error succeeded.
            .chain(stream::once(async move { (i, None) }));
        streams.push(events.boxed());
    }
    let mut merged = stream::select_all(streams);
    let mut summary = Summary::default();
    let ctrl_c = interrupted();
    tokio::pin!(ctrl_c);
    loop {
        let (i, item) = tokio::select! {
            item = merged.next() => match item {
                Some(item) => item,
                None => break,
            },
            _ = &mut ctrl_c => {
                // Dropping the streams stops polling; nothing is cancelled on the server.
                for wait in waits.iter_mut().filter(|w| w.ended.is_none()) {
                    let outcome = Outcome::Interrupted;
                    summary.count(&outcome);
                    reporter.job_done(wait.id, &outcome, wait.last.as_ref());
                }
                reporter.summary(&summary);
                return exit::INTERRUPTED;
            }
        };
        let Some(wait) = waits.get_mut(i) else {
            continue;
        };
        match item {
            Some(Ok(event)) => {
                reporter.event_of(&event, Some(wait.id));
                if let Ok(snapshot) = event.outcome {
                    wait.last = Some(snapshot);
                }
            }
            Some(Err(error)) => {
                let (outcome, code) = ending(&error);
                if let Some(last) = error.last() {
                    wait.last = Some(last.clone());
                }
                wait.ended = Some(code);
                summary.count(&outcome);
                reporter.job_done(wait.id, &outcome, wait.last.as_ref());
            }
            None if wait.ended.is_none() => {
                wait.ended = Some(exit::SUCCEEDED);
                let outcome = Outcome::Succeeded;
                summary.count(&outcome);
                reporter.job_done(wait.id, &outcome, wait.last.as_ref());
            }
            None => {}
        }
    }
    reporter.summary(&summary);
    overall(waits.iter().filter_map(|w| w.ended))
}

/// The exit code of several waits: 2 > 4 > 1 > 3 > 0 (usage, request error, a job
/// failed, deadline, all succeeded).
pub(crate) fn overall(codes: impl IntoIterator<Item = u8>) -> u8 {
    const PRECEDENCE: [u8; 5] = [
        exit::USAGE,
        exit::REQUEST,
        exit::FAILED,
        exit::DEADLINE,
        exit::SUCCEEDED,
    ];
    let rank = |code: u8| {
        PRECEDENCE
            .iter()
            .position(|&c| c == code)
            .unwrap_or(PRECEDENCE.len())
    };
    codes
        .into_iter()
        .min_by_key(|&code| rank(code))
        .unwrap_or(exit::SUCCEEDED)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worst_ending_wins_in_the_documented_order() {
        use exit::*;
        assert_eq!(overall([]), SUCCEEDED);
        assert_eq!(overall([SUCCEEDED, SUCCEEDED]), SUCCEEDED);
        assert_eq!(overall([SUCCEEDED, DEADLINE]), DEADLINE);
        assert_eq!(overall([DEADLINE, FAILED, SUCCEEDED]), FAILED);
        assert_eq!(overall([FAILED, REQUEST, DEADLINE]), REQUEST);
        assert_eq!(overall([REQUEST, USAGE, FAILED]), USAGE);
    }
}
