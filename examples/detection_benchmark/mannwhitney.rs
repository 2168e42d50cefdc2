//! Mann-Whitney U (Wilcoxon rank-sum), normal approximation with mid-ranks and tie correction:
//! what the Kayenta-style judge runs on the 10-s points of each metric.

use mlcanary::core::stats::special::normal_cdf;

/// Two-sided p-value and the direction (+1: `x` tends to be larger than `y`, -1 smaller, 0 equal).
pub fn mann_whitney(x: &[f64], y: &[f64]) -> (f64, i8) {
    let (n1, n2) = (x.len() as f64, y.len() as f64);
    if x.is_empty() || y.is_empty() {
        return (1.0, 0);
    }
    let mut all: Vec<(f64, bool)> = x
        .iter()
        .map(|&v| (v, true))
        .chain(y.iter().map(|&v| (v, false)))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    let n = all.len();
    let mut rank_sum_x = 0.0;
    let mut tie_term = 0.0;
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        let mid = (i + j) as f64 / 2.0 + 1.0;
        let t = (j - i + 1) as f64;
        tie_term += t * t * t - t;
        for item in &all[i..=j] {
            if item.1 {
                rank_sum_x += mid;
            }
        }
        i = j + 1;
    }
    let u = rank_sum_x - n1 * (n1 + 1.0) / 2.0;
    let mean = n1 * n2 / 2.0;
    let nn = n1 + n2;
    let var = n1 * n2 / 12.0 * ((nn + 1.0) - tie_term / (nn * (nn - 1.0)));
    if var <= 0.0 {
        return (1.0, 0);
    }
    let z = (u - mean) / var.sqrt();
    let p = 2.0 * normal_cdf(-z.abs());
    let dir = if u > mean {
        1
    } else if u < mean {
        -1
    } else {
        0
    };
    (p.min(1.0), dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_scipy_asymptotic_without_continuity_correction() {
        // scipy.stats.mannwhitneyu(x, y, use_continuity=False, method="asymptotic")
        let x = [1.0, 2.0, 2.0, 5.0, 7.0, 9.0];
        let y = [0.0, 1.0, 1.0, 2.0, 3.0];
        let (p, d) = mann_whitney(&x, &y);
        assert_eq!(d, 1);
        assert!((p - REF).abs() < 1e-9, "{p}");
    }
    const REF: f64 = 0.094_153_449_378_764_13;
}
