//! The running intersection of a confidence sequence within one stage, with its consistency check.
//!
//! A confidence sequence holds the true value at every check at once (with probability 1 -
//! alpha), so intersecting the intervals of successive checks keeps that guarantee and only
//! narrows. When the intersection is empty, or no longer holds the value the current data point
//! to (the estimate), the checks disagree with each other: the model behind the intervals does
//! not fit these data (drifting traffic, a variance plug-in that is off, counters that reset),
//! and the interval means nothing. Then the test can never call the canary proven safe for the
//! rest of the stage; it still reports an interval (this check's own when the intersection is
//! empty) and says why it proves nothing.

/// Running intersection of one stage's confidence intervals.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunningInterval {
    pub lower: f64,
    pub upper: f64,
    /// The intersection was empty or excluded the estimate at some check of this stage.
    pub inconsistent: bool,
}

impl Default for RunningInterval {
    fn default() -> Self {
        RunningInterval {
            lower: f64::NEG_INFINITY,
            upper: f64::INFINITY,
            inconsistent: false,
        }
    }
}

/// `lower <= estimate <= upper` and the interval is not empty (a NaN estimate, e.g. no events
/// yet, checks only the interval).
pub fn holds(estimate: f64, lower: f64, upper: f64) -> bool {
    lower <= upper && (estimate.is_nan() || (lower <= estimate && estimate <= upper))
}

impl RunningInterval {
    /// A stage with no check yet, starting from the parameter's whole range `[floor, +inf)`.
    pub fn new(floor: f64) -> Self {
        RunningInterval {
            lower: floor,
            ..Default::default()
        }
    }

    /// Intersects this check's interval `[lo, hi]`, centred on `estimate`.
    pub fn add(&mut self, lo: f64, hi: f64, estimate: f64) {
        let (l, u) = (self.lower.max(lo), self.upper.min(hi));
        if l > u {
            self.inconsistent = true;
            self.lower = lo;
            self.upper = hi;
            return;
        }
        self.lower = l;
        self.upper = u;
        if !holds(estimate, l, u) {
            self.inconsistent = true;
        }
    }

    /// The interval proves the parameter below `bound`: consistent and entirely below it.
    pub fn proves_below(&self, bound: f64) -> bool {
        !self.inconsistent && self.upper < bound
    }

    /// Words for the report when the interval proves nothing.
    pub fn why_not(&self) -> &'static str {
        if self.inconsistent {
            "; confidence sequence inconsistent (the checks of this stage exclude each other or the current estimate: the model does not fit these data), so nothing is proven"
        } else {
            ""
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intersection_table() {
        // (intervals added with their estimates, want lower, upper, inconsistent)
        type Case = (&'static [(f64, f64, f64)], f64, f64, bool);
        let cases: [Case; 5] = [
            (&[(1.0, 2.0, 1.5)], 1.0, 2.0, false),
            (&[(1.0, 2.0, 1.5), (1.2, 2.5, 1.6)], 1.2, 2.0, false),
            // the case: estimate 1.529 outside the intersection 1.086..1.418
            (
                &[(0.9, 1.418, 1.2), (1.086, 2.0, 1.529)],
                1.086,
                1.418,
                true,
            ),
            // empty: this check's own interval is reported
            (&[(1.0, 1.3, 1.1), (1.4, 1.7, 1.55)], 1.4, 1.7, true),
            // once inconsistent, the stage stays so
            (
                &[(1.0, 1.3, 1.1), (1.4, 1.7, 1.55), (1.4, 1.7, 1.5)],
                1.4,
                1.7,
                true,
            ),
        ];
        for (adds, lo, hi, bad) in cases {
            let mut r = RunningInterval::new(0.0);
            for &(l, u, e) in adds {
                r.add(l, u, e);
            }
            assert_eq!(
                (r.lower, r.upper, r.inconsistent),
                (lo, hi, bad),
                "{adds:?}"
            );
            assert_eq!(r.proves_below(1.5), !bad && hi < 1.5, "{adds:?}");
        }
    }
}
