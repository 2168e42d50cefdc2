//! `test: distribution`: prediction histograms, canary vs stable (multinomial), gated by PSI.
//!
//! Why two parts: "the distributions differ" becomes certain at large samples even for a harmless
//! shift (PSI 0.017), so a pure equality test would roll back benign canaries. The sequential part
//! answers "is there any difference?" with an always-valid multinomial mixture: while canary and
//! stable predictions come from one distribution, every observation is the canary's with the same
//! probability q whatever its bin, so per bin i the canary count given the bin total is
//! Binomial(q). Mixing each bin's share over Beta(k*w, k*(1-w)) (w the configured weight) and
//! dividing by the null likelihood MAXIMISED over q gives a statistic no larger than the martingale
//! for the true q, hence still valid by Ville. The size part asks "does the difference matter?":
//! the chance-corrected PSI must exceed `rollback_above`, and the sample must be large enough
//! ([`psi_sample_too_small`]). Fail needs both; Pass needs corrected PSI below `promote_below`.

use super::psi::{bin_counts, psi, psi_sample_too_small, Psi};
use super::special::{ln_beta, normal_quantile};
use super::spending::Ledger;
use super::SeqOutcome;
use crate::core::observation::Bucket;
use crate::core::verdict::Verdict;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DistributionParams {
    /// False-rollback bound over the whole rollout for "no difference at all".
    pub alpha: f64,
    /// Beta mixing concentration k per bin (about 100).
    pub prior_strength: f64,
    /// The guardrail's promote zone: PSI below this passes.
    pub promote_below: f64,
    /// The guardrail's rollback zone: PSI above this (chance-corrected) fails.
    pub rollback_above: f64,
    /// Compared stages, as in [`super::SequentialParams::stages`].
    pub stages: usize,
}

/// log of the multinomial mixture statistic for per-bin counts (see the module docs).
pub fn ln_bf_multinomial(canary_bins: &[f64], baseline_bins: &[f64], w: f64, k: f64) -> f64 {
    let (a, b) = (k * w, k * (1.0 - w));
    let (n, m): (f64, f64) = (canary_bins.iter().sum(), baseline_bins.iter().sum());
    if n + m <= 0.0 {
        return 0.0;
    }
    let mix: f64 = canary_bins
        .iter()
        .zip(baseline_bins)
        .filter(|(c, s)| **c + **s > 0.0)
        .map(|(c, s)| ln_beta(a + c, b + s) - ln_beta(a, b))
        .sum();
    let q = n / (n + m);
    let null =
        if n > 0.0 { n * q.ln() } else { 0.0 } + if m > 0.0 { m * (-q).ln_1p() } else { 0.0 };
    mix - null
}

/// State of one distribution guardrail across checks.
#[derive(Debug, Clone)]
pub struct DistributionTest {
    p: DistributionParams,
    ledger: Ledger,
}

impl DistributionTest {
    pub fn new(p: DistributionParams) -> Self {
        DistributionTest {
            ledger: Ledger::new(p.stages),
            p,
        }
    }

    /// One check on prediction histograms cumulative since the stage began (same bucket bounds).
    /// `lower` / `upper` of the outcome are an APPROXIMATE band for PSI (corrected value +- the
    /// null spread at the stage's alpha), not a confidence sequence.
    pub fn observe(
        &mut self,
        stage_index: usize,
        weight: f64,
        canary: &[Bucket],
        baseline: &[Bucket],
    ) -> SeqOutcome {
        self.ledger.enter(stage_index, weight);
        let hold =
            |ledger: &Ledger, detail: String| SeqOutcome::hold(ledger.p_value(), None, detail);
        let ps: Psi = match psi(canary, baseline) {
            Ok(p) => p,
            Err(e) => return hold(&self.ledger, e),
        };
        let w = weight.clamp(1e-3, 1.0 - 1e-3);
        let lbf = ln_bf_multinomial(
            &bin_counts(canary),
            &bin_counts(baseline),
            w,
            self.p.prior_strength,
        );
        let evidence = self.ledger.update(lbf.exp());
        let needed = 1.0 / self.p.alpha;
        let too_small = psi_sample_too_small(&ps, self.p.promote_below);
        let z = normal_quantile(1.0 - self.ledger.stage_alpha(self.p.alpha) / 2.0);
        let spread =
            (1.0 / ps.n_canary + 1.0 / ps.n_baseline) * (2.0 * (ps.bins.max(2) - 1) as f64).sqrt();
        let failed = !too_small && evidence >= needed && ps.corrected > self.p.rollback_above;
        let verdict = if failed {
            Verdict::Fail
        } else if too_small || ps.corrected >= self.p.promote_below {
            Verdict::Hold
        } else {
            Verdict::Pass
        };
        let (lower, upper) = (
            (ps.corrected - z * spread).max(0.0),
            ps.corrected + z * spread,
        );
        let consistent = super::interval::holds(ps.corrected, lower, upper);
        // proven: passing, the raw PSI and the whole band below the promote threshold
        let proven_safe = verdict == Verdict::Pass
            && consistent
            && ps.raw < self.p.promote_below
            && upper < self.p.promote_below;
        let why = if too_small {
            format!(
                "; sample too small: chance alone gives PSI {:.3} here, more than half of {}",
                ps.null_mean, self.p.promote_below
            )
        } else {
            String::new()
        };
        SeqOutcome {
            verdict,
            proven_safe,
            consistent,
            p_value: self.ledger.p_value(),
            estimate: ps.corrected,
            lower,
            upper,
            detail: format!(
                "PSI {} raw, {} chance-corrected (null mean {}, {} canary / {} stable); difference evidence {} of {}{why}",
                sig(ps.raw),
                sig(ps.corrected),
                sig(ps.null_mean),
                sig(ps.n_canary),
                sig(ps.n_baseline),
                crate::core::units::evidence(evidence),
                sig(needed)
            ),
        }
    }
}

use crate::core::units::sig;

#[cfg(test)]
mod tests {
    use super::*;

    fn cum(counts: &[f64]) -> Vec<Bucket> {
        Bucket::cumulative(counts, 0.1)
    }

    fn params() -> DistributionParams {
        DistributionParams {
            alpha: 0.05,
            prior_strength: 100.0,
            promote_below: 0.1,
            rollback_above: 0.2,
            stages: 1,
        }
    }

    #[test]
    fn multinomial_statistic_matches_python() {
        // python3: sum(betaln(10+c,90+s)-betaln(10,90)) - (n*log(q)+m*log(1-q)), q = n/(n+m)
        let got = ln_bf_multinomial(&[5.0, 20.0, 5.0], &[100.0, 100.0, 100.0], 0.1, 100.0);
        assert!((got - REF).abs() < 1e-9, "{got}");
    }
    const REF: f64 = 2.129_018_401_178_086_6;

    #[test]
    fn proven_means_the_whole_band_is_below_the_promote_threshold() {
        // Canaries of ~200 predictions against 90k stable ones, the canary's mass moved bin by
        // bin: wherever the test says proven, its band must hold the estimate and lie below 0.1.
        // Before issue 11 "proven" only looked at the raw PSI, so some of these were proven with
        // the band's upper end above the threshold.
        let stable = [
            4000.0, 12000.0, 16000.0, 15000.0, 12000.0, 8000.0, 2500.0, 400.0, 90.0, 10.0,
        ];
        let mut old_rule_only = 0;
        for n in [180.0, 200.0, 220.0, 260.0] {
            for moved in 0..40 {
                let mut c: Vec<f64> = stable.iter().map(|x| x * n / 70_000.0).collect();
                let m = moved as f64 * n / 400.0;
                c[1] -= m.min(c[1]);
                c[6] += m.min(stable[1] * n / 70_000.0);
                let c: Vec<f64> = c.iter().map(|x| x.round()).collect();
                let mut t = DistributionTest::new(DistributionParams {
                    stages: 4,
                    ..params()
                });
                let o = t.observe(0, 0.1, &cum(&c), &cum(&stable));
                if o.proven_safe {
                    assert!(o.consistent, "{}", o.detail);
                    assert!(o.lower <= o.estimate && o.estimate <= o.upper, "{o:?}");
                    assert!(o.upper < 0.1, "{o:?}");
                }
                let raw = psi(&cum(&c), &cum(&stable)).unwrap().raw;
                if o.verdict == Verdict::Pass && raw < 0.1 && !o.proven_safe {
                    old_rule_only += 1;
                }
            }
        }
        assert!(
            old_rule_only > 0,
            "no case separates the old rule from the new one"
        );
    }

    #[test]
    fn a_big_shift_fails_a_small_sample_holds_identical_passes() {
        let stable = [
            400.0, 1200.0, 1600.0, 1500.0, 1200.0, 800.0, 250.0, 40.0, 9.0, 1.0,
        ];
        // shifted canary, 300 observations
        let shifted = [5.0, 20.0, 50.0, 60.0, 60.0, 50.0, 35.0, 15.0, 4.0, 1.0];
        let mut t = DistributionTest::new(params());
        let o = t.observe(0, 0.1, &cum(&shifted), &cum(&stable));
        assert_eq!(o.verdict, Verdict::Fail, "{}", o.detail);
        assert!(o.p_value < 0.05);

        let tiny: Vec<f64> = shifted.iter().map(|c| (c / 30.0f64).round()).collect();
        let mut t = DistributionTest::new(params());
        let o = t.observe(0, 0.1, &cum(&tiny), &cum(&stable));
        assert_eq!(o.verdict, Verdict::Hold, "{}", o.detail);
        assert!(o.detail.contains("sample too small"));

        let same: Vec<f64> = stable.iter().map(|c| c / 10.0).collect();
        let mut t = DistributionTest::new(params());
        let o = t.observe(0, 0.1, &cum(&same), &cum(&stable));
        assert_eq!(o.verdict, Verdict::Pass, "{}", o.detail);
        assert!(o.proven_safe);
    }
}
