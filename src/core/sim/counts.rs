//! Count-only streams for the power grid: per arm, requests and "events" (errors, or requests
//! slower than a bound) cumulative since the stage began, scraped every 10 s.
//!
//! Same traffic model as [`super::StageStream`] (Poisson arrivals at the total QPS, each request
//! the canary's with probability `weight`, each an event with its arm's probability), drawn in
//! O(1) per scrape by Poisson thinning: the canary's events and non-events in a scrape are
//! independent Poisson(qps * 10 * w * p) and Poisson(qps * 10 * w * (1 - p)), likewise for the
//! stable. That lets a run cover the days of traffic a 0.05% base rate needs at 20 QPS.

use super::rng::Rng;
use super::stream::SCRAPE_SECONDS;
use crate::core::stats::Counts;

/// One scrape of a count stream: cumulative counts since the stage began.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CountScrape {
    pub t: f64,
    pub canary: Counts,
    pub stable: Counts,
}

#[derive(Debug, Clone)]
pub struct CountStream {
    rng: Rng,
    /// Expected (events, non-events) per scrape, canary then stable.
    rates: [(f64, f64); 2],
    now: CountScrape,
}

impl CountStream {
    /// `p_canary`, `p_stable`: per-request event probabilities; `weight` the canary's share.
    pub fn new(qps: f64, weight: f64, p_canary: f64, p_stable: f64, seed: u64) -> Self {
        let n = qps * SCRAPE_SECONDS;
        let arm = |share: f64, p: f64| (n * share * p, n * share * (1.0 - p));
        CountStream {
            rng: Rng::new(seed),
            rates: [arm(weight, p_canary), arm(1.0 - weight, p_stable)],
            now: CountScrape {
                t: 0.0,
                canary: Counts::default(),
                stable: Counts::default(),
            },
        }
    }

    pub fn next_scrape(&mut self) -> CountScrape {
        for (i, (ev, other)) in self.rates.into_iter().enumerate() {
            let e = self.rng.poisson_fast(ev) as f64;
            let o = self.rng.poisson_fast(other) as f64;
            let arm = if i == 0 {
                &mut self.now.canary
            } else {
                &mut self.now.stable
            };
            arm.events += e;
            arm.total += e + o;
        }
        self.now.t += SCRAPE_SECONDS;
        self.now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_follow_the_model_and_a_seed_reproduces_them() {
        let mut a = CountStream::new(200.0, 0.1, 0.05, 0.01, 9);
        let mut b = CountStream::new(200.0, 0.1, 0.05, 0.01, 9);
        let mut s = a.next_scrape();
        assert_eq!(s, b.next_scrape());
        for _ in 0..1799 {
            s = a.next_scrape();
        }
        // 5 hours at 200 QPS: 3.6M requests, 10% canary, 5% vs 1% events.
        let total = s.canary.total + s.stable.total;
        assert!((total / 3.6e6 - 1.0).abs() < 0.002, "{total}");
        assert!((s.canary.total / total - 0.1).abs() < 0.001);
        assert!((s.canary.events / s.canary.total - 0.05).abs() < 0.001);
        assert!((s.stable.events / s.stable.total - 0.01).abs() < 0.0003);
        assert_eq!(s.t, 18_000.0);
    }
}
