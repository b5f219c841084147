//! Progress estimation: what a job's reported progress says about when it will finish,
//! so that the poll loop can aim its next poll at the predicted finish instead of backing
//! off blindly (`PollPolicy::progress_aware`).

use std::time::Duration;

use crate::policy::PollPolicy;
use crate::poller::secs;

/// How far a progress reading may stray from the prediction and still confirm it: 2
/// points plus a tenth of the predicted growth.
const PROGRESS_TOLERANCE: (f64, f64) = (0.02, 0.1);

/// What the snapshots' progress says about when the job will finish.
///
/// The rate is measured from an anchor to the latest reading: the last reading of the
/// initial plateau (the job may sit at its first value while queued) until the progress
/// has moved twice, then the first reading after the plateau. Readings without progress
/// are ignored; a reading that goes backwards, or outside `0.0..=1.0`, ends the estimate
/// for the rest of the wait.
///
/// Progress reported in whole percents (as Retailgrid's 0–100 is) is taken to be rounded
/// down: the job is, on average, half a point further than it says, which the finish
/// estimate adds.
#[derive(Debug, Default)]
pub(crate) struct ProgressEstimate {
    broken: bool,
    /// Whether every reading so far was a whole percent.
    whole_percents: bool,
    first: Option<f64>,
    plateau_end: Option<(f64, f64)>,
    moved: Option<(f64, f64)>,
    last: Option<(f64, f64)>,
    rate: Option<f64>,
    /// Whether the previous estimate predicted the latest reading.
    reliable: bool,
    /// Polls in a row that found the job pending past the predicted finish.
    overdue: u32,
    /// The predicted finish, in seconds since the start.
    pub(crate) eta: Option<f64>,
}

impl ProgressEstimate {
    pub(crate) fn usable(&self) -> bool {
        !self.broken && self.eta.is_some()
    }

    pub(crate) fn observe(&mut self, elapsed: Duration, progress: Option<f64>) {
        if self.broken {
            return;
        }
        let Some(p) = progress else { return };
        let t = elapsed.as_secs_f64();
        if !(-1e-9..=1.0 + 1e-9).contains(&p) {
            // Also NaN.
            self.broken = true;
            return;
        }
        if let Some((lt, lp)) = self.last {
            if p < lp - 1e-9 {
                self.broken = true;
                return;
            }
            if let Some(rate) = self.rate {
                let predicted = (lp + rate * (t - lt)).min(1.0);
                let (abs, rel) = PROGRESS_TOLERANCE;
                self.reliable = (p - predicted).abs() <= abs + rel * (predicted - lp).max(0.0);
            }
        }
        let whole = ((p * 100.0).round() - p * 100.0).abs() < 1e-6;
        self.whole_percents = whole && (self.whole_percents || self.first.is_none());
        match self.first {
            None => {
                self.first = Some(p);
                self.plateau_end = Some((t, p));
            }
            Some(first) if self.moved.is_none() => {
                if p <= first + 1e-9 {
                    self.plateau_end = Some((t, p));
                } else {
                    self.moved = Some((t, p));
                }
            }
            Some(_) => {}
        }
        self.last = Some((t, p));
        let anchor = match (self.moved, self.plateau_end) {
            (Some(m), _) if t > m.0 && p > m.1 => Some(m),
            (_, anchor) => anchor,
        };
        self.rate = anchor
            .filter(|&(at, ap)| t > at && p > ap)
            .map(|(at, ap)| (p - ap) / (t - at));
        let unreported = if self.whole_percents { 0.005 } else { 0.0 };
        self.eta = self
            .rate
            .map(|rate| t + (1.0 - p - unreported).max(0.0) / rate);
    }

    /// The delay the estimate asks for, if there is an estimate.
    pub(crate) fn delay(
        &mut self,
        elapsed: Duration,
        policy: &PollPolicy,
        u: f64,
    ) -> Option<Duration> {
        if self.broken {
            return None;
        }
        let eta = self.eta?;
        let left = eta - elapsed.as_secs_f64();
        if left <= 0.0 {
            // Still pending past the predicted finish: start over from min_delay.
            self.overdue += 1;
            return Some(policy.backoff(self.overdue, u));
        }
        self.overdue = 0;
        let cap = if self.reliable {
            policy.informed_max_delay()
        } else {
            policy.max_delay
        };
        let aim = secs(left * 1.005 + 0.2);
        Some(aim.clamp(policy.min_delay, cap.max(policy.min_delay)))
    }
}
