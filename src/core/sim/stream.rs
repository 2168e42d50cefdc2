//! One simulated stage: Poisson arrivals at the total QPS, each request the canary's with
//! probability `weight`, scraped every 10 s into cumulative per-arm counters, the way Prometheus
//! would see them (counters and histogram buckets only ever grow).

use super::rng::Rng;
use super::scenario::{ArmModel, Scenario, LATENCY_BOUNDS, SCORE_BOUNDS};
use crate::core::observation::Bucket;

/// Seconds between scrapes.
pub const SCRAPE_SECONDS: f64 = 10.0;

/// One arm's counters, cumulative since the stage began. Plain data.
#[derive(Debug, Clone, PartialEq)]
pub struct ArmScrape {
    pub requests: f64,
    pub errors: f64,
    /// Cumulative latency buckets in seconds (`le` of [`LATENCY_BOUNDS`], +Inf last).
    pub latency: Vec<Bucket>,
    pub latency_sum: f64,
    pub latency_count: f64,
    /// Cumulative prediction score buckets (`le` of [`SCORE_BOUNDS`]).
    pub scores: Vec<Bucket>,
}

/// Both arms at one scrape. Plain data: the `simulate` command feeds these to the real loop.
#[derive(Debug, Clone, PartialEq)]
pub struct Scrape {
    /// Seconds since the stage began.
    pub t: f64,
    pub canary: ArmScrape,
    pub stable: ArmScrape,
}

#[derive(Debug, Clone)]
struct Arm {
    model: ArmModel,
    requests: u64,
    errors: u64,
    latency_bins: [u64; LATENCY_BOUNDS.len()],
    latency_sum: f64,
    score_bins: [u64; SCORE_BOUNDS.len()],
}

fn cumulative(bounds: &[f64], bins: &[u64]) -> Vec<Bucket> {
    let mut acc = 0u64;
    bounds
        .iter()
        .zip(bins)
        .map(|(&le, &c)| {
            acc += c;
            Bucket {
                le,
                count: acc as f64,
            }
        })
        .collect()
}

impl Arm {
    fn new(model: ArmModel) -> Self {
        Arm {
            model,
            requests: 0,
            errors: 0,
            latency_bins: [0; LATENCY_BOUNDS.len()],
            latency_sum: 0.0,
            score_bins: [0; SCORE_BOUNDS.len()],
        }
    }

    fn request(&mut self, rng: &mut Rng) {
        self.requests += 1;
        if rng.uniform() < self.model.error_rate {
            self.errors += 1;
        }
        let lat = rng.lognormal(self.model.latency_median_s, self.model.latency_sigma);
        self.latency_sum += lat;
        let i = LATENCY_BOUNDS
            .iter()
            .position(|&le| lat <= le)
            .unwrap_or(LATENCY_BOUNDS.len() - 1);
        self.latency_bins[i] += 1;
        let score = (rng.beta(2.0, 5.0) + self.model.score_shift).clamp(0.0, 1.0);
        let j = ((score * 10.0).ceil() as usize).clamp(1, 10) - 1;
        self.score_bins[j] += 1;
    }

    fn scrape(&self) -> ArmScrape {
        ArmScrape {
            requests: self.requests as f64,
            errors: self.errors as f64,
            latency: cumulative(&LATENCY_BOUNDS, &self.latency_bins),
            latency_sum: self.latency_sum,
            latency_count: self.requests as f64,
            scores: cumulative(&SCORE_BOUNDS, &self.score_bins),
        }
    }
}

/// A deterministic stream of scrapes for one stage of one scenario.
#[derive(Debug, Clone)]
pub struct StageStream {
    qps: f64,
    weight: f64,
    t: f64,
    rng: Rng,
    canary: Arm,
    stable: Arm,
}

impl StageStream {
    /// `weight` is the canary's share of traffic (0..1); the same `seed` gives the same stream.
    pub fn new(scenario: &Scenario, qps: f64, weight: f64, seed: u64) -> Self {
        StageStream {
            qps,
            weight,
            t: 0.0,
            rng: Rng::new(seed),
            canary: Arm::new(scenario.canary),
            stable: Arm::new(scenario.stable),
        }
    }

    /// Simulates the next 10 seconds and returns the cumulative counters at its end.
    pub fn next_scrape(&mut self) -> Scrape {
        let n = self.rng.poisson(self.qps * SCRAPE_SECONDS);
        for _ in 0..n {
            if self.rng.uniform() < self.weight {
                self.canary.request(&mut self.rng);
            } else {
                self.stable.request(&mut self.rng);
            }
        }
        self.t += SCRAPE_SECONDS;
        Scrape {
            t: self.t,
            canary: self.canary.scrape(),
            stable: self.stable.scrape(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::scenario::scenario;
    use super::*;

    #[test]
    fn same_seed_same_stream_and_counters_only_grow() {
        let s = scenario("errors-2x").unwrap();
        let mut a = StageStream::new(&s, 20.0, 0.1, 42);
        let mut b = StageStream::new(&s, 20.0, 0.1, 42);
        let mut prev = a.next_scrape();
        assert_eq!(prev, b.next_scrape());
        for _ in 0..5 {
            let next = a.next_scrape();
            assert_eq!(next, b.next_scrape());
            assert!(next.canary.requests >= prev.canary.requests);
            assert!(
                next.stable.latency.last().unwrap().count
                    >= prev.stable.latency.last().unwrap().count
            );
            prev = next;
        }
        assert_eq!(prev.t, 60.0);
        let mut c = StageStream::new(&s, 20.0, 0.1, 43);
        assert_ne!(
            c.next_scrape(),
            StageStream::new(&s, 20.0, 0.1, 42).next_scrape()
        );
    }

    #[test]
    fn long_run_matches_the_scenario() {
        let s = scenario("errors-5x").unwrap();
        let mut st = StageStream::new(&s, 200.0, 0.1, 1);
        let mut sc = st.next_scrape();
        for _ in 0..179 {
            sc = st.next_scrape();
        }
        // 30 min at 200 QPS: 360k requests, 10% canary
        let total = sc.canary.requests + sc.stable.requests;
        assert!((total / 360_000.0 - 1.0).abs() < 0.01, "{total}");
        assert!((sc.canary.requests / total - 0.1).abs() < 0.003);
        assert!((sc.canary.errors / sc.canary.requests - 0.05).abs() < 0.004);
        assert!((sc.stable.errors / sc.stable.requests - 0.01).abs() < 0.001);
        // 1% of stable requests are slower than the 400 ms bucket (p99 = 400 ms)
        let slow = crate::core::stats::slow_counts(&sc.stable.latency, 0.4).unwrap();
        assert!((slow.events / slow.total - 0.01).abs() < 0.001);
        assert_eq!(sc.stable.latency_count, sc.stable.requests);
        assert_eq!(sc.stable.scores.last().unwrap().count, sc.stable.requests);
        // mean of lognormal = median * exp(sigma^2/2)
        let sig = s.stable.latency_sigma;
        let mean = sc.stable.latency_sum / sc.stable.latency_count;
        assert!((mean / (0.12 * (sig * sig / 2.0).exp()) - 1.0).abs() < 0.01);
    }

    #[test]
    fn drift_stream_shows_the_configured_psi() {
        let s = scenario("drift-psi-25").unwrap();
        let mut st = StageStream::new(&s, 200.0, 0.5, 3);
        let mut sc = st.next_scrape();
        for _ in 0..59 {
            sc = st.next_scrape();
        }
        let p = crate::core::stats::psi(&sc.canary.scores, &sc.stable.scores).unwrap();
        assert!((p.corrected - 0.25).abs() < 0.02, "{p:?}");
    }
}
