//! `test: rate`: events per request, canary vs stable, with an always-valid Beta-binomial mixture
//! (judge.md formula 1; also formula 3 when the events are "requests slower than L").
//!
//! Why this shape: condition on the events. While both arms have the same per-request rate, each
//! event is the canary's with probability pi = the canary's share of requests (its exposure), so
//! the canary's share of events is Binomial(theta). With a tolerance rho0 (canary rate <= rho0 x
//! stable) the null is theta <= theta0 = pi*rho0 / (pi*rho0 + 1 - pi). The test mixes the
//! alternatives theta > theta0 with a Beta(k*theta0, k*(1-theta0)) prior truncated to (theta0, 1):
//!   BF = [B(a+Nc, b+Nb) P(Beta(a+Nc, b+Nb) > theta0)] / [B(a, b) P(Beta(a, b) > theta0)]
//!        / (theta0^Nc (1-theta0)^Nb)
//! which is a supermartingale under every theta <= theta0 (one-sided, so a canary that is BETTER
//! never builds evidence). The exposure share pi is the realised share of requests, not the
//! configured weight, so an inexact traffic split does not look like a regression.
//! The confidence sequence for the rate ratio inverts the two-sided mixture (prior centred on pi)
//! at the stage's alpha: {theta : M(theta) < 1/alpha}; `proven_safe` is its upper end < rho0.

use super::interval::RunningInterval;
use super::special::{ln_beta, ln_beta_upper};
use super::spending::Ledger;
use super::{Counts, SeqOutcome, SequentialParams};
use crate::core::observation::Bucket;
use crate::core::verdict::Verdict;

/// State of one rate guardrail across the checks of a rollout.
#[derive(Debug, Clone)]
pub struct RateTest {
    p: SequentialParams,
    comps: Vec<Component>,
    ledger: Ledger,
    cs: RunningInterval,
}

/// log of the one-sided mixture Bayes factor for "canary share of events > theta0" with the
/// prior Beta(k*theta0, k*(1-theta0)) truncated to (theta0, 1).
pub fn ln_bf_one_sided(nc: f64, nb: f64, theta0: f64, k: f64) -> f64 {
    ln_bf_truncated_beta(nc, nb, theta0, k * theta0, k * (1.0 - theta0))
}

/// log of the Bayes factor of the alternatives theta > theta0 mixed over Beta(a, b) truncated
/// to (theta0, 1), against the point theta0.
pub fn ln_bf_truncated_beta(nc: f64, nb: f64, theta0: f64, a: f64, b: f64) -> f64 {
    ln_beta(a + nc, b + nb) + ln_beta_upper(a + nc, b + nb, theta0)
        - ln_beta(a, b)
        - ln_beta_upper(a, b, theta0)
        - nc * theta0.ln()
        - nb * (-theta0).ln_1p()
}

/// One prior of the effect-size mixture: a Beta prior on the canary's share of events with mean
/// at rate ratio `centre` x tolerance and strength `k`, truncated to the alternatives, given
/// `weight` of the evidence budget.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Component {
    pub weight: f64,
    pub centre: f64,
    pub k: f64,
}

/// The default effect-size mixture: the near-null prior of strength `k_null` (the configured
/// `priorStrength`, best for 1.5x-3x regressions) with 30% of the evidence budget, a prior centred
/// on 4x the tolerance (k = 20) with 50%, and a broad one centred on 20x (k = 5) with 20% for a
/// model that fails most of one kind of request, which the near-null prior is slow to believe.
/// Measured against the oracle SPRT in docs/benchmark.md ("Power grid").
pub fn default_components(k_null: f64) -> [Component; 3] {
    [
        Component {
            weight: 0.3,
            centre: 1.0,
            k: k_null,
        },
        Component {
            weight: 0.5,
            centre: 4.0,
            k: 20.0,
        },
        Component {
            weight: 0.2,
            centre: 20.0,
            k: 5.0,
        },
    ]
}

/// The canary's share of events when its per-request rate is `rho` x the stable's and it gets
/// the share `pi` of the requests.
pub fn share_of_events(rho: f64, pi: f64) -> f64 {
    pi * rho / (pi * rho + 1.0 - pi)
}

/// log of the effect-size mixture e-value: sum_i w_i BF_i, each BF_i a one-sided truncated-Beta
/// mixture (a supermartingale under every theta <= theta0), so the weighted average is one too.
pub fn ln_bf_mixture(nc: f64, nb: f64, pi: f64, rho0: f64, comps: &[Component]) -> f64 {
    let theta0 = share_of_events(rho0, pi);
    let terms: Vec<f64> = comps
        .iter()
        .map(|c| {
            let m = share_of_events(rho0 * c.centre, pi);
            // the null component is centred on theta0 itself, as judge.md's formula 1
            let (a, b) = (c.k * m, c.k * (1.0 - m));
            c.weight.ln() + ln_bf_truncated_beta(nc, nb, theta0, a, b)
        })
        .collect();
    let top = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    top + terms.iter().map(|t| (t - top).exp()).sum::<f64>().ln()
}

/// log of the two-sided mixture's marginal likelihood with prior Beta(k*pi, k*(1-pi)); the
/// martingale is M(theta) = exp(marginal - Nc ln(theta) - Nb ln(1-theta)).
fn ln_marginal_two_sided(nc: f64, nb: f64, pi: f64, k: f64) -> f64 {
    let a = k * pi;
    let b = k * (1.0 - pi);
    ln_beta(a + nc, b + nb) - ln_beta(a, b)
}

/// The confidence set {theta : M(theta) < 1/alpha} as (low, high) for the canary share of events.
pub fn share_confidence(nc: f64, nb: f64, pi: f64, k: f64, alpha: f64) -> (f64, f64) {
    let n = nc + nb;
    if n <= 0.0 {
        return (0.0, 1.0);
    }
    let thr = (1.0 / alpha).ln() - ln_marginal_two_sided(nc, nb, pi, k);
    let f = |t: f64| -nc * t.ln() - nb * (-t).ln_1p() - thr;
    let hat = (nc / n).clamp(1e-12, 1.0 - 1e-12);
    // f is convex in theta with f(hat) < 0 (marginal <= maximum likelihood): bisect each side.
    let root = |mut inside: f64, mut outside: f64| {
        if f(outside) < 0.0 {
            return outside;
        }
        for _ in 0..60 {
            let mid = 0.5 * (inside + outside);
            if f(mid) < 0.0 {
                inside = mid;
            } else {
                outside = mid;
            }
        }
        inside
    };
    // with no events on a side the set reaches the end of the range (estimate 0 or 1 inside it)
    let lo = if nc <= 0.0 { 0.0 } else { root(hat, 1e-15) };
    let hi = if nb <= 0.0 {
        1.0
    } else {
        root(hat, 1.0 - 1e-15)
    };
    (lo, hi)
}

/// theta (canary share of events) -> per-request rate ratio canary / stable at exposure share pi.
fn ratio(theta: f64, pi: f64) -> f64 {
    if theta >= 1.0 {
        return f64::INFINITY;
    }
    theta / (1.0 - theta) * (1.0 - pi) / pi
}

/// Slow-request counts from a cumulative histogram: `_count - _bucket{le=bound}` (formula 3).
/// None when the histogram has no bucket at `bound` (pick L among the bucket bounds).
pub fn slow_counts(buckets: &[Bucket], bound: f64) -> Option<Counts> {
    let total = buckets.last()?.count;
    let at = buckets
        .iter()
        .find(|b| (b.le - bound).abs() <= 1e-9 * bound.abs().max(1.0))?;
    Some(Counts {
        events: (total - at.count).max(0.0),
        total,
    })
}

impl RateTest {
    pub fn new(p: SequentialParams) -> Self {
        Self::with_components(p, &default_components(p.prior_strength))
    }

    /// A rate test over another effect-size mixture (the benchmark compares them).
    pub fn with_components(p: SequentialParams, comps: &[Component]) -> Self {
        RateTest {
            comps: comps.to_vec(),
            ledger: Ledger::new(p.stages),
            p,
            cs: RunningInterval::new(0.0),
        }
    }

    /// One check. `canary` / `baseline` count since the stage began. `weight` (0..1) only marks
    /// stage changes together with `stage_index`: the null share of events is the realised share of
    /// requests, so an inexact split is not mistaken for a regression.
    pub fn observe(
        &mut self,
        stage_index: usize,
        weight: f64,
        canary: Counts,
        baseline: Counts,
    ) -> SeqOutcome {
        if self.ledger.enter(stage_index, weight) {
            self.cs = RunningInterval::new(0.0);
        }
        let rho0 = self.p.tolerance;
        if canary.total <= 0.0 || baseline.total <= 0.0 {
            return SeqOutcome::hold(
                self.ledger.p_value(),
                Some(&self.cs),
                format!(
                    "no traffic counted yet (canary {} / stable {} requests)",
                    canary.total, baseline.total
                ),
            );
        }
        let pi = (canary.total / (canary.total + baseline.total)).clamp(1e-9, 1.0 - 1e-9);
        let (nc, nb) = (canary.events.max(0.0), baseline.events.max(0.0));
        let k = self.p.prior_strength;
        let bf = ln_bf_mixture(nc, nb, pi, rho0, &self.comps).exp();
        let evidence = self.ledger.update(bf);
        let needed = 1.0 / self.p.alpha;
        let (tlo, thi) = share_confidence(nc, nb, pi, k, self.ledger.stage_alpha(self.p.alpha));
        let estimate = if nc + nb > 0.0 {
            ratio(nc / (nc + nb), pi)
        } else {
            f64::NAN
        };
        self.cs.add(ratio(tlo, pi), ratio(thi, pi), estimate);
        let failed = evidence >= needed;
        let proven_safe = !failed && self.cs.proves_below(self.p.safe_bound());
        let verdict = if failed { Verdict::Fail } else { Verdict::Pass };
        let detail = format!(
            "canary {}/{} vs stable {}/{} events: rate ratio {} (confidence {}..{}, tolerance {rho0}x); evidence {} of {} needed to roll back{}{}",
            sig(nc),
            sig(canary.total),
            sig(nb),
            sig(baseline.total),
            sig(estimate),
            sig(self.cs.lower),
            sig(self.cs.upper),
            crate::core::units::evidence(evidence),
            sig(needed),
            if proven_safe {
                format!("; proven below {}x", self.p.safe_bound())
            } else {
                String::new()
            },
            self.cs.why_not()
        );
        SeqOutcome {
            verdict,
            proven_safe,
            consistent: !self.cs.inconsistent,
            p_value: self.ledger.p_value(),
            estimate,
            lower: self.cs.lower,
            upper: self.cs.upper,
            detail,
        }
    }
}

use crate::core::units::sig;

#[cfg(test)]
mod tests {
    use super::*;

    fn params(alpha: f64, tolerance: f64) -> SequentialParams {
        SequentialParams {
            alpha,
            tolerance,
            prior_strength: 100.0,
            stages: 1,
            prove_within: 0.0,
        }
    }

    #[test]
    fn one_sided_bayes_factor_matches_numerical_integration() {
        // Reference: python3 + scipy, theta0 = 0.1, k = 100, a = 10, b = 90:
        //  num = quad(lambda t: t**40*(1-t)**180 * beta.pdf(t,10,90), 0.1, 1) / betaincc(10,90,0.1)
        //  bf = num / (0.1**40 * 0.9**180);  log(bf)
        let got = ln_bf_one_sided(40.0, 180.0, 0.1, 100.0);
        assert!((got - REF_LN_BF).abs() < 1e-8, "{got}");
    }
    const REF_LN_BF: f64 = 4.875_633_388_934_874;

    #[test]
    fn effect_size_mixture_matches_numerical_integration() {
        // Reference: python3, Simpson's rule (200k panels) of each truncated Beta(k m, k (1-m))
        // prior times (t/t0)^nc ((1-t)/(1-t0))^nb over (t0, 1), normalised, weighted, summed;
        // t0 = share(1.1, 0.1), m = share(1.1 * centre, 0.1).
        let c = default_components(30.0);
        let got = ln_bf_mixture(5.0, 2.0, 0.1, 1.1, &c);
        assert!((got - 5.572_272_563_852_191).abs() < 1e-6, "{got}");
        let got = ln_bf_mixture(30.0, 180.0, 0.1, 1.1, &c);
        assert!((got - -0.473_321_423_912_021_4).abs() < 1e-6, "{got}");
    }

    #[test]
    fn a_large_regression_at_a_tiny_base_rate_is_caught_within_a_few_events() {
        // Stable 0.05% -> canary 2% at weight 10% (issue 11): after 150 canary requests the
        // expected counts are 3 canary and 0.7 stable events. The oracle SPRT (theta1 = share(40))
        // needs ln(100) = 4.6: 4 canary events and 1 stable give it 4*2.01 - 1.58 = 6.5. The old
        // near-null prior (k = 30) alone stays below 1/alpha; the effect-size mixture does not.
        let (pi, rho0) = (0.1, 1.1);
        let theta0 = share_of_events(rho0, pi);
        let old = ln_bf_one_sided(4.0, 1.0, theta0, 30.0);
        let new = ln_bf_mixture(4.0, 1.0, pi, rho0, &default_components(30.0));
        assert!(old < 100f64.ln(), "old {old}");
        assert!(new >= 100f64.ln(), "new {new}");
    }

    #[test]
    fn confidence_set_matches_root_finding_in_python() {
        // Reference: python3, brentq on lnB(10+nc,90+nb)-lnB(10,90)-nc*ln t-nb*ln(1-t) = ln(20)
        // for nc = 30, nb = 250 on each side of 30/280.
        let (lo, hi) = share_confidence(30.0, 250.0, 0.1, 100.0, 0.05);
        assert!((lo - REF_LO).abs() < 1e-9, "{lo}");
        assert!((hi - REF_HI).abs() < 1e-9, "{hi}");
    }
    const REF_LO: f64 = 0.063_747_138_096_746_18;
    const REF_HI: f64 = 0.164_292_435_914_372_76;

    #[test]
    fn doubled_error_rate_fails_and_equal_rates_pass() {
        let mut t = RateTest::new(params(0.05, 1.1));
        // 4000 canary requests at 2%, 36000 stable at 1%.
        let bad = t.observe(
            0,
            0.1,
            Counts {
                events: 80.0,
                total: 4000.0,
            },
            Counts {
                events: 360.0,
                total: 36000.0,
            },
        );
        assert_eq!(bad.verdict, Verdict::Fail);
        assert!(bad.p_value < 0.05);
        assert!((bad.estimate - 2.0).abs() < 1e-9);
        assert!(bad.lower > 1.1);

        let mut t = RateTest::new(params(0.05, 1.1));
        let ok = t.observe(
            0,
            0.1,
            Counts {
                events: 40.0,
                total: 4000.0,
            },
            Counts {
                events: 360.0,
                total: 36000.0,
            },
        );
        assert_eq!(ok.verdict, Verdict::Pass);
        assert!(ok.p_value > 0.5);
        assert!(ok.lower < 1.0 && ok.upper > 1.0);
        assert!(!ok.proven_safe, "400 events cannot prove 1.1x");
    }

    #[test]
    fn a_better_canary_never_builds_evidence() {
        let mut t = RateTest::new(params(0.05, 1.0));
        let o = t.observe(
            0,
            0.1,
            Counts {
                events: 0.0,
                total: 50_000.0,
            },
            Counts {
                events: 5000.0,
                total: 450_000.0,
            },
        );
        assert_eq!(o.verdict, Verdict::Pass);
        assert!(o.p_value >= 1.0);
        assert!(o.proven_safe && o.upper < 0.1, "{}", o.detail);
    }

    #[test]
    fn large_equal_samples_prove_safety_within_a_loose_tolerance() {
        let mut t = RateTest::new(params(0.05, 1.5));
        let o = t.observe(
            0,
            0.1,
            Counts {
                events: 200.0,
                total: 20_000.0,
            },
            Counts {
                events: 1800.0,
                total: 180_000.0,
            },
        );
        assert!(o.proven_safe, "{}", o.detail);
    }

    #[test]
    fn prove_within_loosens_only_the_safety_proof() {
        let c = Counts {
            events: 60.0,
            total: 6000.0,
        };
        let b = Counts {
            events: 540.0,
            total: 54_000.0,
        };
        let mut strict = RateTest::new(params(0.05, 1.1));
        assert!(!strict.observe(0, 0.1, c, b).proven_safe);
        let mut loose = RateTest::new(SequentialParams {
            prove_within: 1.6,
            ..params(0.05, 1.1)
        });
        let o = loose.observe(0, 0.1, c, b);
        assert!(o.proven_safe && o.upper < 1.6, "{}", o.detail);
        // the rollback side is unchanged
        let bad = Counts {
            events: 120.0,
            total: 6000.0,
        };
        assert_eq!(loose.observe(0, 0.1, bad, b).verdict, Verdict::Fail);
    }

    #[test]
    fn an_estimate_outside_the_running_interval_is_never_proven() {
        // Check 1: equal rates on 1000 events; check 2 (cumulative): the canary's share of events
        // has jumped, its estimate above the upper end check 1 left. Before issue 11 the
        // intersection's upper end (< tolerance) made this "proven".
        let mut t = RateTest::new(params(0.05, 1.5));
        let c = |events, total| Counts { events, total };
        let first = t.observe(0, 0.1, c(100.0, 10_000.0), c(900.0, 90_000.0));
        assert!(first.proven_safe && first.consistent, "{}", first.detail);
        let second = t.observe(0, 0.1, c(200.0, 12_000.0), c(1080.0, 108_000.0));
        assert_eq!(second.verdict, Verdict::Pass, "{}", second.detail);
        assert!(
            second.estimate > second.upper && second.upper < 1.5,
            "{second:?}"
        );
        assert!(
            !second.consistent && !second.proven_safe,
            "{}",
            second.detail
        );
    }

    #[test]
    fn no_traffic_holds() {
        let mut t = RateTest::new(params(0.05, 1.1));
        let o = t.observe(
            0,
            0.1,
            Counts::default(),
            Counts {
                events: 1.0,
                total: 10.0,
            },
        );
        assert_eq!(o.verdict, Verdict::Hold);
    }

    #[test]
    fn slow_counts_reads_the_bound_bucket() {
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
                le: f64::INFINITY,
                count: 100.0,
            },
        ];
        assert_eq!(
            slow_counts(&h, 0.4),
            Some(Counts {
                events: 5.0,
                total: 100.0
            })
        );
        assert_eq!(slow_counts(&h, 0.3), None);
    }
}
