//! How one `alpha` covers a whole rollout whose canary weight changes between stages.
//!
//! Each stage starts a fresh test martingale M_j (counts restart when the weight changes, and the
//! null share of events moves with the weight). The rollout-level evidence is the weighted sum
//!   E = sum_j c_j * N_j,  N_j = 1 before stage j starts, M_j during it, frozen at its end,
//! with sum c_j = 1. A weighted sum of nonnegative martingales that all start at 1 is one itself, so
//! Ville's inequality gives P(ever E >= 1/alpha) <= alpha over the whole rollout. Stage j is thus
//! given roughly c_j * alpha: equal shares when the number of compared stages is known, otherwise
//! c_j = 6 / (pi^2 (j+1)^2) (61% of alpha for the first stage, 15% for the second, ...). Unlike plain
//! alpha spending, evidence left over from finished stages still counts.

use std::f64::consts::PI;

#[derive(Debug, Clone)]
pub struct Ledger {
    stages: usize,
    stage: Option<usize>,
    weight: f64,
    closed_value: f64,
    closed_mass: f64,
    current: f64,
    max_total: f64,
}

impl Ledger {
    pub fn new(stages: usize) -> Self {
        Ledger {
            stages,
            stage: None,
            weight: f64::NAN,
            closed_value: 0.0,
            closed_mass: 0.0,
            current: 1.0,
            max_total: 1.0,
        }
    }

    /// The share c_j of alpha for stage j (0 beyond the announced number of stages).
    pub fn share(&self, j: usize) -> f64 {
        if self.stages == 0 {
            6.0 / (PI * PI * ((j + 1) as f64).powi(2))
        } else if j < self.stages {
            1.0 / self.stages as f64
        } else {
            0.0
        }
    }

    /// Moves to `stage_index` / `weight`; returns true when this starts a new stage (the caller
    /// then resets its per-stage state).
    pub fn enter(&mut self, stage_index: usize, weight: f64) -> bool {
        let same = self.stage == Some(stage_index) && (self.weight - weight).abs() < 1e-12;
        if same {
            return false;
        }
        if let Some(j) = self.stage {
            let c = self.share(j);
            self.closed_value += c * self.current;
            self.closed_mass += c;
        }
        self.stage = Some(stage_index);
        self.weight = weight;
        self.current = 1.0;
        true
    }

    /// This stage's share of alpha, for its confidence sequence.
    pub fn stage_alpha(&self, alpha: f64) -> f64 {
        alpha * self.share(self.stage.unwrap_or(0))
    }

    /// Records the current stage's martingale value; returns the rollout-level evidence E.
    pub fn update(&mut self, m: f64) -> f64 {
        self.current = m;
        let c = self.share(self.stage.unwrap_or(0));
        let future = (1.0 - self.closed_mass - c).max(0.0);
        let total = self.closed_value + c * m + future;
        if total > self.max_total {
            self.max_total = total;
        }
        total
    }

    /// Always-valid p-value: 1 / max E so far, capped at 1.
    pub fn p_value(&self) -> f64 {
        (1.0 / self.max_total).min(1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_stage_count_uses_inverse_square_shares_that_sum_to_one() {
        let l = Ledger::new(0);
        let s: f64 = (0..100_000).map(|j| l.share(j)).sum();
        // sum 6/(pi^2 k^2) for k = 1..1e5 = 1 - 6/(pi^2) * (1/1e5 approx)
        assert!((s - 1.0).abs() < 1e-5, "{s}");
        assert!((l.share(0) - 0.607_927_101_854_026_6).abs() < 1e-12); // 6/pi^2
    }

    #[test]
    fn finished_stage_evidence_carries_into_the_total() {
        let mut l = Ledger::new(2);
        assert!(l.enter(0, 0.1));
        // Stage 0 (share 1/2) ends with M = 4: E = 0.5*4 + 0.5 (stage 1 not started) = 2.5
        assert!((l.update(4.0) - 2.5).abs() < 1e-12);
        assert!(!l.enter(0, 0.1));
        assert!(l.enter(1, 0.25));
        // Stage 1 starts at 1: E = 0.5*4 + 0.5*1 = 2.5, then M_1 = 10: E = 2 + 5 = 7
        assert!((l.update(1.0) - 2.5).abs() < 1e-12);
        assert!((l.update(10.0) - 7.0).abs() < 1e-12);
        assert!((l.p_value() - 1.0 / 7.0).abs() < 1e-12);
        assert!((l.stage_alpha(0.05) - 0.025).abs() < 1e-12);
    }
}
