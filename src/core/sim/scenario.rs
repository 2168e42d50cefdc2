//! The benchmark scenarios of judge.md: what each arm's requests look like.
//!
//! Stable: errors 1%, latency lognormal with median 120 ms and p99 400 ms, prediction scores
//! Beta(2, 5). Each scenario changes one thing on the canary. "p99 +30%" widens the tail only
//! (median kept, p99 400 -> 520 ms): the regression that mean-based checks miss. The drift scenarios
//! add a constant to the canary's scores (clamped to [0, 1]), the constant solved so that the
//! population PSI over the 10 score bins is exactly 0.25 or 0.017.

use crate::core::stats::special::normal_quantile;

/// Upper bounds (seconds) of the simulated latency histogram, Prometheus style (+Inf last).
pub const LATENCY_BOUNDS: [f64; 14] = [
    0.025,
    0.05,
    0.1,
    0.15,
    0.2,
    0.25,
    0.3,
    0.4,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    f64::INFINITY,
];
/// Upper bounds of the prediction score histogram: 10 equal bins on [0, 1], then +Inf (empty).
pub const SCORE_BOUNDS: [f64; 11] = [
    0.1,
    0.2,
    0.3,
    0.4,
    0.5,
    0.6,
    0.7,
    0.8,
    0.9,
    1.0,
    f64::INFINITY,
];

pub const STABLE_ERROR_RATE: f64 = 0.01;
pub const LATENCY_MEDIAN_S: f64 = 0.120;
pub const LATENCY_P99_S: f64 = 0.400;

/// How one arm's requests behave.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ArmModel {
    pub error_rate: f64,
    pub latency_median_s: f64,
    /// sd of ln(latency)
    pub latency_sigma: f64,
    /// added to a Beta(2, 5) score, result clamped to [0, 1]
    pub score_shift: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub name: &'static str,
    pub description: &'static str,
    /// true when the canary should be promoted (A/A, benign drift)
    pub healthy: bool,
    pub stable: ArmModel,
    pub canary: ArmModel,
}

pub const SCENARIOS: [&str; 6] = [
    "aa",
    "errors-2x",
    "errors-5x",
    "latency-p99-30",
    "drift-psi-25",
    "drift-benign",
];

pub fn sigma_for_p99(median: f64, p99: f64) -> f64 {
    (p99 / median).ln() / normal_quantile(0.99)
}

/// The stable arm every scenario shares.
pub fn stable_model() -> ArmModel {
    ArmModel {
        error_rate: STABLE_ERROR_RATE,
        latency_median_s: LATENCY_MEDIAN_S,
        latency_sigma: sigma_for_p99(LATENCY_MEDIAN_S, LATENCY_P99_S),
        score_shift: 0.0,
    }
}

/// CDF of Beta(2, 5): I_x(2,5) = sum_{j=2..6} C(6,j) x^j (1-x)^(6-j).
pub fn beta25_cdf(x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    const C6: [f64; 7] = [1.0, 6.0, 15.0, 20.0, 15.0, 6.0, 1.0];
    (2..=6)
        .map(|j| C6[j] * x.powi(j as i32) * (1.0 - x).powi(6 - j as i32))
        .sum()
}

/// Probabilities of the 10 score bins for Beta(2,5) + shift, clamped to [0, 1].
pub fn score_bin_probs(shift: f64) -> [f64; 10] {
    let mut p = [0.0; 10];
    for (i, pi) in p.iter_mut().enumerate() {
        let lo = i as f64 / 10.0;
        let hi = (i + 1) as f64 / 10.0;
        let upper = if i == 9 { 1.0 } else { beta25_cdf(hi - shift) };
        let lower = if i == 0 { 0.0 } else { beta25_cdf(lo - shift) };
        *pi = (upper - lower).max(0.0);
    }
    p
}

/// Population PSI between shifted and unshifted scores (1e-4 floor, as the judge computes it).
pub fn population_psi(shift: f64) -> f64 {
    let c = score_bin_probs(shift);
    let b = score_bin_probs(0.0);
    c.iter()
        .zip(&b)
        .map(|(&x, &y)| {
            let (x, y) = (x.max(1e-4), y.max(1e-4));
            (x - y) * (x / y).ln()
        })
        .sum()
}

/// The positive shift giving `target` population PSI (bisection; PSI grows with the shift).
pub fn shift_for_psi(target: f64) -> f64 {
    let (mut lo, mut hi) = (0.0, 0.5);
    for _ in 0..100 {
        let mid = 0.5 * (lo + hi);
        if population_psi(mid) < target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// A named scenario (see [`SCENARIOS`]).
pub fn scenario(name: &str) -> Option<Scenario> {
    let stable = stable_model();
    let (description, healthy, canary) = match name {
        "aa" => ("A/A: canary identical to stable", true, stable),
        "errors-2x" => (
            "errors 1% -> 2%",
            false,
            ArmModel {
                error_rate: 0.02,
                ..stable
            },
        ),
        "errors-5x" => (
            "errors 1% -> 5%",
            false,
            ArmModel {
                error_rate: 0.05,
                ..stable
            },
        ),
        "latency-p99-30" => (
            "p99 latency +30% (400 -> 520 ms, median unchanged)",
            false,
            ArmModel {
                latency_sigma: sigma_for_p99(LATENCY_MEDIAN_S, 1.3 * LATENCY_P99_S),
                ..stable
            },
        ),
        "drift-psi-25" => (
            "prediction shift, PSI 0.25",
            false,
            ArmModel {
                score_shift: shift_for_psi(0.25),
                ..stable
            },
        ),
        "drift-benign" => (
            "benign prediction shift, PSI 0.017 (should promote)",
            true,
            ArmModel {
                score_shift: shift_for_psi(0.017),
                ..stable
            },
        ),
        _ => return None,
    };
    Some(Scenario {
        name: SCENARIOS.iter().find(|s| **s == name)?,
        description,
        healthy,
        stable,
        canary,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beta25_cdf_matches_scipy() {
        // scipy.stats.beta(2, 5).cdf(0.3) = 0.579825 ; cdf(0.65) = 0.977678203125 (python3 + scipy)
        assert!((beta25_cdf(0.3) - 0.579_825).abs() < 1e-12);
        assert!((beta25_cdf(0.65) - REF_065).abs() < 1e-12);
    }
    const REF_065: f64 = 0.977_678_203_125;

    #[test]
    fn drift_shifts_give_the_target_psi() {
        // Independent check in python3 + scipy: bins from beta(2,5).cdf(edge - shift), PSI with floor.
        let s = shift_for_psi(0.25);
        assert!((population_psi(s) - 0.25).abs() < 1e-9);
        assert!((s - REF_SHIFT_25).abs() < 1e-6, "{s}");
        let s = shift_for_psi(0.017);
        assert!((population_psi(s) - 0.017).abs() < 1e-9);
        assert!((s - REF_SHIFT_017).abs() < 1e-6, "{s}");
    }
    const REF_SHIFT_25: f64 = 0.063_461_628_094_407_42;
    const REF_SHIFT_017: f64 = 0.018_136_900_539_856_792;

    #[test]
    fn scenarios_change_one_thing() {
        for name in SCENARIOS {
            let s = scenario(name).unwrap();
            assert_eq!(s.name, name);
        }
        assert!(scenario("nope").is_none());
        let p = scenario("latency-p99-30").unwrap();
        // p99 = median * exp(sigma * z99) = 0.52
        let p99 =
            p.canary.latency_median_s * (p.canary.latency_sigma * normal_quantile(0.99)).exp();
        assert!((p99 - 0.52).abs() < 1e-9);
        assert_eq!(scenario("aa").unwrap().canary, stable_model());
    }
}
