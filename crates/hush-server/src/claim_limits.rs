//! KeyPackage claims over time: how often one account may claim another's KeyPackages,
//! and how often one account's may be claimed by all others, in a sliding window. Kept in
//! memory only: a restart forgets it, and nothing of it is written to disk.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::limits::{CLAIM_WINDOW, MAX_CLAIMS_PER_CLAIMER, MAX_CLAIMS_PER_TARGET};

/// How often the whole table is swept of claims that left the window.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Which limit a refused claim hit, and how long until the next claim is let through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// This claimer claimed this target's KeyPackages too often.
    Claimer(Duration),
    /// This target's KeyPackages were claimed too often, by all claimers together.
    Target(Duration),
}

/// The claims of the last [`CLAIM_WINDOW`], by claimer and target and by target.
#[derive(Default)]
pub(crate) struct ClaimLimits {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    by_pair: HashMap<(String, String), VecDeque<Instant>>,
    by_target: HashMap<String, VecDeque<Instant>>,
    swept_at: Option<Instant>,
}

impl ClaimLimits {
    /// Counts a claim by `claimer` (an account) of `target`'s KeyPackages, or refuses it
    /// (a refused claim is not counted). The caller leaves out claims of one's own.
    pub(crate) fn check(&self, claimer: &str, target: &str, now: Instant) -> Result<(), Refused> {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.sweep(now);
        let pair = (claimer.to_owned(), target.to_owned());
        if let Some(wait) = full(inner.by_pair.get_mut(&pair), MAX_CLAIMS_PER_CLAIMER, now) {
            return Err(Refused::Claimer(wait));
        }
        if let Some(wait) = full(inner.by_target.get_mut(target), MAX_CLAIMS_PER_TARGET, now) {
            return Err(Refused::Target(wait));
        }
        inner.by_pair.entry(pair).or_default().push_back(now);
        inner.by_target.entry(target.to_owned()).or_default().push_back(now);
        Ok(())
    }
}

impl Inner {
    /// Forgets every claim that left the window (at most once a [`SWEEP_EVERY`]), so the
    /// table holds no more than the last hour's claims.
    fn sweep(&mut self, now: Instant) {
        if self.swept_at.is_some_and(|t| now.saturating_duration_since(t) < SWEEP_EVERY) {
            return;
        }
        self.swept_at = Some(now);
        self.by_pair.retain(|_, times| {
            forget_old(times, now);
            !times.is_empty()
        });
        self.by_target.retain(|_, times| {
            forget_old(times, now);
            !times.is_empty()
        });
    }
}

fn forget_old(times: &mut VecDeque<Instant>, now: Instant) {
    while times.front().is_some_and(|t| now.saturating_duration_since(*t) >= CLAIM_WINDOW) {
        times.pop_front();
    }
}

/// `None` when `times` has room for one more claim; else how long until its oldest claim
/// leaves the window.
fn full(times: Option<&mut VecDeque<Instant>>, max: usize, now: Instant) -> Option<Duration> {
    let times = times?;
    forget_old(times, now);
    if times.len() < max {
        return None;
    }
    let oldest = *times.front()?;
    Some(CLAIM_WINDOW.saturating_sub(now.saturating_duration_since(oldest)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a failed expectation is the test failing")]

    use super::*;

    #[test]
    fn a_claimer_then_a_target_runs_out_and_the_window_moves_on() {
        let limits = ClaimLimits::default();
        let t0 = Instant::now();
        for _ in 0..MAX_CLAIMS_PER_CLAIMER {
            limits.check("mallory", "alice", t0).unwrap();
        }
        let later = t0 + Duration::from_secs(60);
        assert_eq!(
            limits.check("mallory", "alice", later),
            Err(Refused::Claimer(CLAIM_WINDOW - Duration::from_secs(60)))
        );
        // Another target, and another claimer, are counted apart.
        limits.check("mallory", "bob", later).unwrap();
        let mut others = 1;
        while limits.check(&format!("friend{others}"), "alice", later).is_ok() {
            others += 1;
        }
        assert_eq!(others, MAX_CLAIMS_PER_TARGET - MAX_CLAIMS_PER_CLAIMER + 1);
        assert!(matches!(limits.check("carol", "alice", later), Err(Refused::Target(_))));
        // An hour after the first claims, there is room again.
        limits.check("mallory", "alice", t0 + CLAIM_WINDOW).unwrap();
    }
}
