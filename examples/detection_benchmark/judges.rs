//! The four judges of judge.md (plus mlcanary with advanceEarly), each fed the same scrapes.

use crate::mannwhitney::mann_whitney;
use mlcanary::core::sim::{ArmScrape, Scrape};
use mlcanary::core::stats::psi::bin_counts;
use mlcanary::core::stats::{
    psi, slow_counts, Counts, DistributionParams, DistributionTest, RateTest, SequentialParams,
};
use mlcanary::core::verdict::Verdict;
use mlcanary::metrics::Bucket;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decision {
    Rollback,
    Promote,
}

/// A judge sees every scrape (cumulative since the stage began) until it decides.
pub trait Judge {
    fn step(&mut self, now: &Scrape, prev: Option<&Scrape>) -> Option<Decision>;
}

/// Requests slower than this (the stable p99) are "slow" for the count-based p99 tests.
pub const SLOW_BOUND_S: f64 = 0.4;

/// Prometheus `histogram_quantile`: linear interpolation inside the bucket holding the rank.
pub fn histogram_quantile(q: f64, buckets: &[Bucket]) -> f64 {
    let total = match buckets.last() {
        Some(b) if b.count > 0.0 => b.count,
        _ => return f64::NAN,
    };
    let rank = q * total;
    let mut prev_le = 0.0;
    let mut prev_count = 0.0;
    for b in buckets {
        if b.count >= rank {
            if b.le.is_infinite() {
                return prev_le;
            }
            let in_bucket = b.count - prev_count;
            if in_bucket <= 0.0 {
                return b.le;
            }
            return prev_le + (b.le - prev_le) * (rank - prev_count) / in_bucket;
        }
        prev_le = b.le;
        prev_count = b.count;
    }
    prev_le
}

fn delta(now: &[Bucket], prev: Option<&[Bucket]>) -> Vec<Bucket> {
    match prev {
        None => now.to_vec(),
        Some(p) => now
            .iter()
            .zip(p)
            .map(|(a, b)| Bucket {
                le: a.le,
                count: a.count - b.count,
            })
            .collect(),
    }
}

/// The tutorial rule: after 5 minutes, roll back if the error rate > 1%, p99 > 500 ms or PSI > 0.2.
pub struct Tutorial;

impl Judge for Tutorial {
    fn step(&mut self, now: &Scrape, _prev: Option<&Scrape>) -> Option<Decision> {
        if now.t < 300.0 {
            return None;
        }
        let c = &now.canary;
        let err = if c.requests > 0.0 {
            c.errors / c.requests
        } else {
            0.0
        };
        let p99 = histogram_quantile(0.99, &c.latency);
        let drift = psi(&c.scores, &now.stable.scores)
            .map(|p| p.raw)
            .unwrap_or(0.0);
        Some(if err > 0.01 || p99 > 0.5 || drift > 0.2 {
            Decision::Rollback
        } else {
            Decision::Promote
        })
    }
}

/// Kayenta-style: 10-s points for 10 minutes; per metric a two-sided Mann-Whitney at 98%;
/// error rate and p99 fail when High, mean prediction score fails when High or Low; with three
/// metrics one failure puts the score (67) below the marginal threshold (75): roll back.
#[derive(Default)]
pub struct Kayenta {
    points: [[Vec<f64>; 2]; 3],
}

fn interval_points(now: &ArmScrape, prev: Option<&ArmScrape>) -> Option<[f64; 3]> {
    let req = now.requests - prev.map_or(0.0, |p| p.requests);
    if req <= 0.0 {
        return None;
    }
    let err = (now.errors - prev.map_or(0.0, |p| p.errors)) / req;
    let lat = delta(&now.latency, prev.map(|p| p.latency.as_slice()));
    let p99 = histogram_quantile(0.99, &lat);
    let sc = bin_counts(&delta(&now.scores, prev.map(|p| p.scores.as_slice())));
    let n: f64 = sc.iter().sum();
    let mean = sc
        .iter()
        .enumerate()
        .take(10)
        .map(|(i, c)| c * (i as f64 + 0.5) / 10.0)
        .sum::<f64>()
        / n;
    Some([err, p99, mean])
}

impl Judge for Kayenta {
    fn step(&mut self, now: &Scrape, prev: Option<&Scrape>) -> Option<Decision> {
        for (arm, (a_now, a_prev)) in [
            (&now.canary, prev.map(|p| &p.canary)),
            (&now.stable, prev.map(|p| &p.stable)),
        ]
        .into_iter()
        .enumerate()
        {
            if let Some(v) = interval_points(a_now, a_prev) {
                for (m, x) in v.iter().enumerate() {
                    self.points[m][arm].push(*x);
                }
            }
        }
        if now.t < 600.0 {
            return None;
        }
        let failed = (0..3).any(|m| {
            let (p, dir) = mann_whitney(&self.points[m][0], &self.points[m][1]);
            p < 0.02 && (dir > 0 || m == 2)
        });
        Some(if failed {
            Decision::Rollback
        } else {
            Decision::Promote
        })
    }
}

/// The naive z-test peeking every 10 s for 10 minutes: pooled two-proportion z on cumulative
/// errors and on slow requests; roll back the first time either says "canary worse" at 95%.
pub struct Peeking;

fn z_worse(c: Counts, b: Counts) -> f64 {
    if c.total <= 0.0 || b.total <= 0.0 {
        return 0.0;
    }
    let pool = (c.events + b.events) / (c.total + b.total);
    let se = (pool * (1.0 - pool) * (1.0 / c.total + 1.0 / b.total)).sqrt();
    if se <= 0.0 {
        return 0.0;
    }
    (c.events / c.total - b.events / b.total) / se
}

fn error_counts(a: &ArmScrape) -> Counts {
    Counts {
        events: a.errors,
        total: a.requests,
    }
}

fn slow(a: &ArmScrape) -> Counts {
    slow_counts(&a.latency, SLOW_BOUND_S).unwrap_or_default()
}

impl Judge for Peeking {
    fn step(&mut self, now: &Scrape, _prev: Option<&Scrape>) -> Option<Decision> {
        let z1 = z_worse(error_counts(&now.canary), error_counts(&now.stable));
        let z2 = z_worse(slow(&now.canary), slow(&now.stable));
        if z1 > 1.96 || z2 > 1.96 {
            return Some(Decision::Rollback);
        }
        (now.t >= 600.0).then_some(Decision::Promote)
    }
}

/// mlcanary's sequential judge: rate test on errors, rate test on slow requests (p99), PSI plus
/// multinomial test on predictions; checked every scrape for a fixed stage pause, or with
/// advanceEarly ending the stage once every guardrail is proven within tolerance.
pub struct Sequential {
    pub errors: RateTest,
    pub latency: RateTest,
    pub drift: DistributionTest,
    pub weight: f64,
    pub pause_s: f64,
    pub advance_early: bool,
    /// inconclusiveLimit: extra checks allowed while a guardrail holds at the end of the pause
    pub extra_checks: u32,
}

#[derive(Debug, Clone, Copy)]
pub struct SeqConfig {
    pub alpha: f64,
    pub tolerance: f64,
    pub latency_tolerance: f64,
    pub prior_strength: f64,
    pub pause_s: f64,
    /// advanceEarly proves the rate guardrails below this ratio (0 = tolerance)
    pub prove_within: f64,
}

impl Sequential {
    pub fn new(cfg: SeqConfig, weight: f64, advance_early: bool) -> Self {
        let p = SequentialParams {
            alpha: cfg.alpha,
            tolerance: cfg.tolerance,
            prior_strength: cfg.prior_strength,
            stages: 1,
            prove_within: cfg.prove_within,
        };
        Sequential {
            errors: RateTest::new(p),
            latency: RateTest::new(SequentialParams {
                tolerance: cfg.latency_tolerance,
                ..p
            }),
            drift: DistributionTest::new(DistributionParams {
                alpha: cfg.alpha,
                prior_strength: cfg.prior_strength,
                promote_below: 0.1,
                rollback_above: 0.2,
                stages: 1,
            }),
            weight,
            pause_s: cfg.pause_s,
            advance_early,
            extra_checks: 3,
        }
    }
}

impl Judge for Sequential {
    fn step(&mut self, now: &Scrape, _prev: Option<&Scrape>) -> Option<Decision> {
        let w = self.weight;
        let outcomes = [
            self.errors
                .observe(0, w, error_counts(&now.canary), error_counts(&now.stable)),
            self.latency
                .observe(0, w, slow(&now.canary), slow(&now.stable)),
            self.drift
                .observe(0, w, &now.canary.scores, &now.stable.scores),
        ];
        if outcomes.iter().any(|o| o.verdict == Verdict::Fail) {
            return Some(Decision::Rollback);
        }
        if self.advance_early && outcomes.iter().all(|o| o.proven_safe) {
            return Some(Decision::Promote);
        }
        if now.t >= self.pause_s {
            if outcomes.iter().all(|o| o.verdict == Verdict::Pass) {
                return Some(Decision::Promote);
            }
            if self.extra_checks == 0 {
                return Some(Decision::Rollback);
            }
            self.extra_checks -= 1;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_quantile_interpolates_like_prometheus() {
        // rank 0.99*100 = 99 falls in (0.4, 0.5] holding counts 95..100: 0.4 + 0.1*4/5
        let h = [
            Bucket {
                le: 0.1,
                count: 10.0,
            },
            Bucket {
                le: 0.4,
                count: 95.0,
            },
            Bucket {
                le: 0.5,
                count: 100.0,
            },
            Bucket {
                le: f64::INFINITY,
                count: 100.0,
            },
        ];
        assert!((histogram_quantile(0.99, &h) - 0.48).abs() < 1e-12);
        assert!((histogram_quantile(0.05, &h) - 0.05).abs() < 1e-12);
    }
}
