//! What the host knows about each function's calls: how many, how they ended (by
//! [`ErrorKind::name`](crate::ErrorKind::name)), wall time and fuel over the last
//! calls (p50 and p99), and the quarantine of a function that keeps failing
//! ([`QuarantinePolicy`]). Kept per module version and function, for as long as the
//! host lives, so a new activation of the same version keeps its record.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use wasmod_runtime::{CallError, CallOutcome, CallerInfo, ErrorKind};

use crate::{Error, ModuleName, QuarantinePolicy, Version};

/// The calls whose wall time and fuel the percentiles are taken over (the most recent).
pub const STATS_WINDOW: usize = 1024;

/// One function's statistics ([`Host::statistics`](crate::Host::statistics)).
#[derive(Clone, Debug, PartialEq)]
pub struct FunctionStats {
    /// The module.
    pub module: ModuleName,
    /// Its version.
    pub version: Version,
    /// The function.
    pub function: String,
    /// Calls made, the refused ones of a quarantine included: by the embedder, by the
    /// activation (`init` hooks) and by other modules (`modules.call`).
    pub calls: u64,
    /// Calls that returned a value.
    pub succeeded: u64,
    /// Failed calls by kind (`ErrorKind::name`, or `quarantined` for calls refused
    /// during a quarantine).
    pub errors: BTreeMap<String, u64>,
    /// Failures in a row since the function last returned (a value or its own error).
    pub consecutive_failures: u32,
    /// How many times it was quarantined.
    pub quarantines: u64,
    /// How long its quarantine still lasts, if it is in one.
    pub quarantined_for: Option<Duration>,
    /// Median wall time of the last [`STATS_WINDOW`] calls that ran.
    pub wall_p50: Duration,
    /// 99th percentile of the same.
    pub wall_p99: Duration,
    /// Median fuel used by the last [`STATS_WINDOW`] calls that ran.
    pub fuel_p50: u64,
    /// 99th percentile of the same.
    pub fuel_p99: u64,
}

/// A ring of the last [`STATS_WINDOW`] samples.
#[derive(Debug, Default)]
struct Window {
    samples: Vec<u64>,
    next: usize,
}

impl Window {
    fn push(&mut self, value: u64) {
        if self.samples.len() < STATS_WINDOW {
            self.samples.push(value);
        } else {
            self.samples[self.next] = value;
        }
        self.next = (self.next + 1) % STATS_WINDOW;
    }

    /// The `p`-th percentile (nearest rank), 0 when empty.
    fn percentiles(&self, ps: [f64; 2]) -> [u64; 2] {
        let mut sorted = self.samples.clone();
        sorted.sort_unstable();
        ps.map(|p| match sorted.len() {
            0 => 0,
            n => sorted[((p * n as f64).ceil() as usize).clamp(1, n) - 1],
        })
    }
}

/// One function's counts and samples.
#[derive(Debug, Default)]
pub(crate) struct Record {
    calls: u64,
    succeeded: u64,
    errors: BTreeMap<&'static str, u64>,
    consecutive: u32,
    quarantines: u64,
    /// The failures in a row that started the quarantine in force.
    quarantined_after: u32,
    quarantined_until: Option<Instant>,
    /// The one call let through after a cooldown is running.
    trial: bool,
    wall_ns: Window,
    fuel: Window,
}

impl Record {
    /// The function answered: its streak of failures, and any quarantine, end.
    fn end_streak(&mut self) {
        self.consecutive = 0;
        self.quarantined_until = None;
    }
}

type Key = (ModuleName, Version, String);

/// Every function's record, shared by a host and its activations.
#[derive(Debug)]
pub(crate) struct Statistics {
    policy: QuarantinePolicy,
    records: RwLock<HashMap<Key, Arc<Mutex<Record>>>>,
}

impl Statistics {
    pub(crate) fn new(policy: QuarantinePolicy) -> Self {
        Statistics { policy, records: RwLock::new(HashMap::new()) }
    }

    /// The record of a function, made on first use.
    pub(crate) fn record(&self, f: &CallerInfo) -> Arc<Mutex<Record>> {
        let key = (f.module.clone(), f.version.clone(), f.function.clone());
        if let Some(r) = self.records.read().unwrap_or_else(|p| p.into_inner()).get(&key) {
            return r.clone();
        }
        self.records.write().unwrap_or_else(|p| p.into_inner()).entry(key).or_default().clone()
    }

    /// Before a call: refuses it while the function is quarantined. When the cooldown
    /// is over, exactly one call is let through as a trial (the others are refused until
    /// it ends): if it fails, the quarantine starts again.
    pub(crate) fn admit(&self, f: &CallerInfo) -> Result<Arc<Mutex<Record>>, Error> {
        let record = self.record(f);
        {
            let mut r = record.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(until) = r.quarantined_until {
                let now = Instant::now();
                if now < until || r.trial {
                    r.calls += 1;
                    *r.errors.entry("quarantined").or_default() += 1;
                    return Err(Error::Quarantined {
                        module: f.module.to_string(),
                        function: f.function.clone(),
                        failures: r.quarantined_after,
                        retry_after: until.saturating_duration_since(now),
                    });
                }
                r.trial = true;
            }
        }
        Ok(record)
    }

    /// After a call that ran: counts it, and starts a quarantine after the policy's
    /// number of failures in a row (unless one is in force already). Kinds that say the
    /// function was not run, or that the engine failed, neither count nor end a streak.
    pub(crate) fn finish(&self, record: &Mutex<Record>, result: &Result<CallOutcome, CallError>) {
        self.settle(record, result, false);
    }

    /// As [`Statistics::finish`], for a call another module made (`modules.call`). The
    /// callee ran on what its caller had left of fuel and time, so running out of them
    /// is the caller's doing: it is counted, but it neither starts nor ends the callee's
    /// streak. (Memory is not exempt: a callee that always exceeds the memory left to
    /// it would otherwise never be set aside, since its caller may handle the failure.)
    pub(crate) fn finish_nested(&self, record: &Mutex<Record>, result: &Result<CallOutcome, CallError>) {
        self.settle(record, result, true);
    }

    fn settle(&self, record: &Mutex<Record>, result: &Result<CallOutcome, CallError>, nested: bool) {
        let mut r = record.lock().unwrap_or_else(|p| p.into_inner());
        r.calls += 1;
        r.trial = false;
        let metrics = match result {
            Ok(outcome) => {
                r.succeeded += 1;
                r.end_streak();
                Some(&outcome.metrics)
            }
            Err(e) => {
                *r.errors.entry(e.kind.name()).or_default() += 1;
                match e.kind {
                    // An answer: the function works.
                    ErrorKind::GuestError { .. } => r.end_streak(),
                    // Not the function's doing: it did not run, or the engine failed. (A
                    // trial that ends so told nothing: the next call is the trial.)
                    ErrorKind::DepthLimit { .. } | ErrorKind::HostStackLimit { .. } | ErrorKind::Internal { .. } => {}
                    // The caller's fuel or time ran out in the callee.
                    ErrorKind::FuelExhausted { .. } | ErrorKind::DeadlineExceeded { .. } if nested => {}
                    _ => {
                        r.consecutive = r.consecutive.saturating_add(1);
                        let after = self.policy.after_failures;
                        let in_force = r.quarantined_until.is_some_and(|u| Instant::now() < u);
                        if after > 0 && r.consecutive >= after && !in_force {
                            r.quarantines += 1;
                            r.quarantined_after = r.consecutive;
                            let cooldown = Duration::from_millis(self.policy.cooldown_ms);
                            r.quarantined_until = Instant::now().checked_add(cooldown);
                            tracing::warn!(module = %e.module(), function = e.function(), failures = r.consecutive,
                                "a function that keeps failing is quarantined");
                        }
                    }
                }
                e.metrics.as_ref()
            }
        };
        if let Some(m) = metrics {
            r.wall_ns.push(u64::try_from(m.wall.as_nanos()).unwrap_or(u64::MAX));
            r.fuel.push(m.fuel_used);
        }
    }

    /// Forgets the records of a module version (it was uninstalled), so that the table
    /// holds only versions that are installed.
    pub(crate) fn forget(&self, module: &ModuleName, version: &Version) {
        self.records.write().unwrap_or_else(|p| p.into_inner()).retain(|(m, v, _), _| !(m == module && v == version));
    }

    /// Every function's statistics, by module, version and function.
    pub(crate) fn snapshot(&self) -> Vec<FunctionStats> {
        let records = self.records.read().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let mut out: Vec<FunctionStats> = records
            .iter()
            .map(|((module, version, function), record)| {
                let r = record.lock().unwrap_or_else(|p| p.into_inner());
                let [wall_p50, wall_p99] = r.wall_ns.percentiles([0.5, 0.99]);
                let [fuel_p50, fuel_p99] = r.fuel.percentiles([0.5, 0.99]);
                FunctionStats {
                    module: module.clone(),
                    version: version.clone(),
                    function: function.clone(),
                    calls: r.calls,
                    succeeded: r.succeeded,
                    errors: r.errors.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
                    consecutive_failures: r.consecutive,
                    quarantines: r.quarantines,
                    quarantined_for: r.quarantined_until.and_then(|u| u.checked_duration_since(now)),
                    wall_p50: Duration::from_nanos(wall_p50),
                    wall_p99: Duration::from_nanos(wall_p99),
                    fuel_p50,
                    fuel_p99,
                }
            })
            .collect();
        out.sort_by(|a, b| (&a.module, &a.version, &a.function).cmp(&(&b.module, &b.version, &b.function)));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank_over_the_last_window() {
        let mut w = Window::default();
        assert_eq!(w.percentiles([0.5, 0.99]), [0, 0]);
        for v in 1..=100 {
            w.push(v);
        }
        assert_eq!(w.percentiles([0.5, 0.99]), [50, 99]);
        // Older samples leave the window.
        for _ in 0..STATS_WINDOW {
            w.push(7);
        }
        assert_eq!(w.percentiles([0.5, 0.99]), [7, 7]);
    }
}
