//! `simulate`: the config's own policy — the real loop, machine and judge — against the built-in
//! traffic simulator (`core::sim`), on a virtual clock. The platform starts a new simulated stage
//! stream at every weight change; the provider answers each guardrail query from the latest 10-s
//! scrape by what the query stands for:
//! - sequential `rate`: errors / requests per arm; sequential `latency` with counts: requests slower
//!   than 400 ms (the stable p99) / requests; with histograms: the latency histograms;
//! - `psi` and sequential `distribution`: the prediction-score histograms;
//! - threshold and baseline guardrails: p99 latency when the guardrail's name or query mentions
//!   latency (`latency`, `duration`, `p99`, `quantile`), in ms when its thresholds look like ms
//!   (above 5), else seconds; otherwise the error rate over the query's first range window
//!   (`[5m]`), 2 minutes when it names none.

use super::replay::{QueryRef, Slot};
use crate::config::{Config, GuardrailKind};
use crate::core::sim::{Scenario, Scrape, StageStream};
use crate::core::stats::slow_counts;
use crate::metrics::{Bucket, Observation, Provider, ProviderError, Query};
use crate::platform::{Platform, PlatformError, Readiness, Revisions, Traffic};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// The stable version's p99 in the simulator: the bound for slow-request counts.
pub const SLOW_BOUND_S: f64 = 0.4;
const SCRAPE_S: f64 = 10.0;

pub struct World {
    scenario: Scenario,
    qps: f64,
    seed: u64,
    stage: u64,
    share: f64,
    stream: Option<StageStream>,
    /// Stage start (unix s, virtual) of the current stream.
    started: Option<i64>,
    scrapes: Vec<Scrape>,
    /// Canary requests in finished stages.
    pub canary_before: f64,
    /// Canary requests when the rollout was decided (rollback or promote requested).
    pub canary_at_decision: Option<f64>,
}

impl World {
    pub fn new(scenario: Scenario, qps: f64, seed: u64) -> Arc<Mutex<World>> {
        Arc::new(Mutex::new(World {
            scenario,
            qps,
            seed,
            stage: 0,
            share: 0.0,
            stream: None,
            started: None,
            scrapes: Vec::new(),
            canary_before: 0.0,
            canary_at_decision: None,
        }))
    }

    fn canary_now(&self) -> f64 {
        self.canary_before + self.scrapes.last().map_or(0.0, |s| s.canary.requests)
    }

    fn new_share(&mut self, share: f64) {
        self.canary_before = self.canary_now();
        self.share = share;
        self.stage += 1;
        self.stream = None;
        self.started = None;
        self.scrapes.clear();
    }

    /// Scrapes up to `end` for the stage that began at `start`.
    fn advance(&mut self, start: i64, end: i64) -> Option<&Scrape> {
        if self.started != Some(start) {
            let seed = self
                .seed
                .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                .wrapping_add(self.stage);
            self.stream = Some(StageStream::new(&self.scenario, self.qps, self.share, seed));
            self.started = Some(start);
            self.canary_before += self.scrapes.last().map_or(0.0, |s| s.canary.requests);
            self.scrapes.clear();
        }
        let stream = self.stream.as_mut()?;
        while self.scrapes.last().map_or(0.0, |s| s.t) + SCRAPE_S <= (end - start) as f64 {
            self.scrapes.push(stream.next_scrape());
        }
        self.scrapes.last()
    }

    /// The scrape about `window` seconds before the latest one (for rate-over-window values).
    fn before(&self, window: f64) -> Option<&Scrape> {
        let last = self.scrapes.last()?;
        self.scrapes.iter().rev().find(|s| s.t <= last.t - window)
    }

    fn decided(&mut self) {
        if self.canary_at_decision.is_none() {
            self.canary_at_decision = Some(self.canary_now());
        }
    }
}

pub struct SimPlatform(pub Arc<Mutex<World>>);

impl Platform for SimPlatform {
    fn prepare(
        &mut self,
        weight: u32,
        mirror: u32,
        _manifests: &[serde_json::Value],
    ) -> Result<(), PlatformError> {
        let share = if weight > 0 { weight } else { mirror };
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .new_share(share as f64 / 100.0);
        Ok(())
    }
    fn poll_ready(&mut self) -> Result<Readiness, PlatformError> {
        Ok(Readiness::Ready)
    }
    fn set_weight(&mut self, weight: u32) -> Result<(), PlatformError> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .new_share(weight as f64 / 100.0);
        Ok(())
    }
    fn set_shadow(&mut self, percent: u32) -> Result<(), PlatformError> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .new_share(percent as f64 / 100.0);
        Ok(())
    }
    fn traffic(&mut self) -> Result<Traffic, PlatformError> {
        Ok(Traffic::default())
    }
    fn revisions(&mut self) -> Result<Revisions, PlatformError> {
        // Nothing real is queried: placeholders stand for the revisions (names stay the config's).
        Ok(crate::rollout::context::with_placeholders(
            Revisions::default(),
        ))
    }
    fn promote(&mut self) -> Result<(), PlatformError> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).decided();
        Ok(())
    }
    fn rollback(&mut self) -> Result<(), PlatformError> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).decided();
        Ok(())
    }
}

/// How a threshold or baseline guardrail is simulated.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Signal {
    ErrorRate { window_s: f64 },
    P99 { millis: bool },
}

pub fn signal(c: &Config, gi: usize, original_query: &str) -> Signal {
    let g = &c.guardrails[gi];
    let text = format!("{} {original_query}", g.name).to_lowercase();
    if ["latency", "duration", "p99", "p95", "quantile"]
        .iter()
        .any(|w| text.contains(w))
    {
        let big = [&g.promote, &g.rollback]
            .iter()
            .filter_map(|c| c.as_ref())
            .any(|c| !c.relative && c.value > 5.0);
        Signal::P99 { millis: big }
    } else {
        Signal::ErrorRate {
            window_s: range_window(original_query).unwrap_or(120.0),
        }
    }
}

/// Seconds of the first PromQL range window (`[5m]`) in a query, if any.
pub fn range_window(query: &str) -> Option<f64> {
    let start = query.find('[')? + 1;
    let end = start + query[start..].find(']')?;
    crate::config::Duration::parse(query[start..end].trim())
        .ok()
        .map(|d| d.as_secs_f64())
}

/// `histogram_quantile` as Prometheus computes it (linear within the bucket).
pub fn quantile(q: f64, buckets: &[Bucket]) -> Option<f64> {
    let total = buckets.last()?.count;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let mut prev = (0.0, 0.0);
    for b in buckets {
        if b.count >= rank {
            if b.le.is_infinite() {
                return Some(prev.0);
            }
            let within = if b.count > prev.1 {
                (rank - prev.1) / (b.count - prev.1)
            } else {
                0.0
            };
            return Some(prev.0 + (b.le - prev.0) * within);
        }
        prev = (b.le, b.count);
    }
    Some(prev.0)
}

pub struct SimProvider {
    pub world: Arc<Mutex<World>>,
    pub queries: BTreeMap<String, QueryRef>,
    pub signals: BTreeMap<usize, Signal>,
    pub kinds: BTreeMap<usize, GuardrailKind>,
}

impl Provider for SimProvider {
    fn fetch(&self, q: &Query) -> Result<Observation, ProviderError> {
        let r = self
            .queries
            .get(q.text.trim())
            .ok_or_else(|| ProviderError::Query(format!("not a simulated query: {}", q.text)))?;
        let mut w = self.world.lock().unwrap_or_else(|p| p.into_inner());
        let Some(now) = w.advance(q.start, q.end).cloned() else {
            return Ok(Observation::NoData);
        };
        let scalar = |v: f64| Ok(Observation::Scalar(v));
        let signal = self
            .signals
            .get(&r.guardrail)
            .copied()
            .unwrap_or(Signal::ErrorRate { window_s: 120.0 });
        let window = match signal {
            Signal::ErrorRate { window_s } => w.before(window_s).cloned(),
            Signal::P99 { .. } => None,
        };
        let rate = |arm: fn(&Scrape) -> (f64, f64)| {
            let (e, n) = arm(&now);
            let (e0, n0) = window.as_ref().map_or((0.0, 0.0), arm);
            if n - n0 > 0.0 {
                Observation::Scalar((e - e0) / (n - n0))
            } else {
                Observation::NoData
            }
        };
        let canary = |s: &Scrape| (s.canary.errors, s.canary.requests);
        let stable = |s: &Scrape| (s.stable.errors, s.stable.requests);
        let sequential_latency = self.kinds.get(&r.guardrail) == Some(&GuardrailKind::Sequential);
        match r.slot {
            Slot::Value | Slot::Baseline => {
                let arm = if r.slot == Slot::Value {
                    &now.canary
                } else {
                    &now.stable
                };
                match signal {
                    Signal::ErrorRate { .. } => Ok(rate(if r.slot == Slot::Value {
                        canary
                    } else {
                        stable
                    })),
                    Signal::P99 { millis } => Ok(quantile(0.99, &arm.latency)
                        .map_or(Observation::NoData, |v| {
                            Observation::Scalar(if millis { v * 1000.0 } else { v })
                        })),
                }
            }
            Slot::CanaryEvents | Slot::BaselineEvents => {
                let arm = if r.slot == Slot::CanaryEvents {
                    &now.canary
                } else {
                    &now.stable
                };
                let latency = sequential_latency
                    && matches!(self.signals.get(&r.guardrail), Some(Signal::P99 { .. }));
                if latency {
                    scalar(slow_counts(&arm.latency, SLOW_BOUND_S).map_or(0.0, |c| c.events))
                } else {
                    scalar(arm.errors)
                }
            }
            Slot::CanaryTotal => scalar(now.canary.requests),
            Slot::BaselineTotal => scalar(now.stable.requests),
            Slot::CanaryHistogram | Slot::BaselineHistogram => {
                let arm = if r.slot == Slot::CanaryHistogram {
                    &now.canary
                } else {
                    &now.stable
                };
                let latency = matches!(self.signals.get(&r.guardrail), Some(Signal::P99 { .. }));
                Ok(Observation::Histogram(if latency {
                    arm.latency.clone()
                } else {
                    arm.scores.clone()
                }))
            }
        }
    }
    fn describe(&self, q: &Query) -> String {
        format!("simulated {}", super::replay::original(&self.queries, q))
    }
}

/// Signals for every guardrail: sequential `latency` guardrails and latency-looking thresholds
/// read latency; everything else error rates or scores.
pub fn signals(
    c: &Config,
    queries: &BTreeMap<String, QueryRef>,
) -> (BTreeMap<usize, Signal>, BTreeMap<usize, GuardrailKind>) {
    let mut sig = BTreeMap::new();
    let mut kinds = BTreeMap::new();
    for (gi, g) in c.guardrails.iter().enumerate() {
        kinds.insert(gi, g.kind());
        let s = match &g.sequential {
            Some(s) if s.test == crate::config::SequentialTest::Latency => {
                Signal::P99 { millis: false }
            }
            Some(_) => Signal::ErrorRate { window_s: 120.0 },
            None => {
                let original = queries
                    .values()
                    .find(|r| r.guardrail == gi)
                    .map_or("", |r| r.original.as_str());
                signal(c, gi, original)
            }
        };
        sig.insert(gi, s);
    }
    (sig, kinds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_matches_prometheus_interpolation() {
        let b = [
            Bucket {
                le: 0.1,
                count: 50.0,
            },
            Bucket {
                le: 0.5,
                count: 90.0,
            },
            Bucket {
                le: 1.0,
                count: 100.0,
            },
            Bucket {
                le: f64::INFINITY,
                count: 100.0,
            },
        ];
        // rank 50 -> exactly 0.1; rank 70 -> halfway through (0.1, 0.5]; rank 99 -> 0.5 + 0.5*0.9.
        assert_eq!(quantile(0.5, &b), Some(0.1));
        assert!((quantile(0.7, &b).unwrap() - 0.3).abs() < 1e-12);
        assert!((quantile(0.99, &b).unwrap() - 0.95).abs() < 1e-12);
        assert_eq!(quantile(0.5, &[]), None);
    }

    #[test]
    fn range_windows_of_queries() {
        assert_eq!(
            range_window("sum(rate(x[5m])) / sum(rate(y[5m]))"),
            Some(300.0)
        );
        assert_eq!(range_window("sum(rate(x{a=\"b\"}[90s]))"), Some(90.0));
        assert_eq!(range_window("x / y"), None);
    }
}
