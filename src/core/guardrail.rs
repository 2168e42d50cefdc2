//! What each guardrail asks the providers for, and the zone verdict of threshold and baseline
//! guardrails. PSI and sequential guardrails are judged in `judge` with their statistics.

use super::verdict::Verdict;
use crate::config::{Condition, Guardrail, GuardrailKind, NoData, SequentialTest};
use crate::core::observation::{Observation, Shape};
use serde::Serialize;

/// The part a query plays for its guardrail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Role {
    Canary,
    Baseline,
    CanaryEvents,
    CanaryTotal,
    BaselineEvents,
    BaselineTotal,
}

/// One query of a guardrail, still a template.
#[derive(Debug, Clone, PartialEq)]
pub struct QuerySpec {
    pub role: Role,
    pub template: String,
    pub shape: Shape,
}

/// The queries a guardrail needs at every check, in a fixed order the judge relies on.
pub fn queries(g: &Guardrail) -> Vec<QuerySpec> {
    let q = |role, t: &str, shape| QuerySpec {
        role,
        template: t.to_string(),
        shape,
    };
    match g.kind() {
        GuardrailKind::Threshold => vec![q(
            Role::Canary,
            g.query.as_deref().unwrap_or(""),
            Shape::Scalar,
        )],
        GuardrailKind::Baseline => vec![
            q(
                Role::Canary,
                g.query.as_deref().unwrap_or(""),
                Shape::Scalar,
            ),
            q(
                Role::Baseline,
                g.baseline.as_deref().unwrap_or(""),
                Shape::Scalar,
            ),
        ],
        GuardrailKind::Psi => {
            let p = g.psi.as_ref().expect("psi kind");
            vec![
                q(Role::Canary, &p.query, Shape::Histogram),
                q(Role::Baseline, &p.baseline, Shape::Histogram),
            ]
        }
        GuardrailKind::Sequential => {
            let s = g.sequential.as_ref().expect("sequential kind");
            match (&s.canary.histogram, &s.baseline.histogram) {
                (Some(c), Some(b)) if s.test != SequentialTest::Rate => {
                    vec![
                        q(Role::Canary, c, Shape::Histogram),
                        q(Role::Baseline, b, Shape::Histogram),
                    ]
                }
                _ => vec![
                    q(
                        Role::CanaryEvents,
                        s.canary.events.as_deref().unwrap_or(""),
                        Shape::Scalar,
                    ),
                    q(
                        Role::CanaryTotal,
                        s.canary.total.as_deref().unwrap_or(""),
                        Shape::Scalar,
                    ),
                    q(
                        Role::BaselineEvents,
                        s.baseline.events.as_deref().unwrap_or(""),
                        Shape::Scalar,
                    ),
                    q(
                        Role::BaselineTotal,
                        s.baseline.total.as_deref().unwrap_or(""),
                        Shape::Scalar,
                    ),
                ],
            }
        }
    }
}

/// Which zone a value fell in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Zone {
    Promote,
    Between,
    Rollback,
    NoData,
    Error,
}

/// Zone of `value` for a guardrail's promote/rollback conditions. The rollback zone wins when a
/// value is in both (validation refuses configs where that can happen).
pub fn zone(value: f64, promote: Option<&Condition>, rollback: Option<&Condition>) -> Zone {
    if value.is_nan() {
        return Zone::NoData;
    }
    if rollback.is_some_and(|r| r.holds(value)) {
        return Zone::Rollback;
    }
    match promote {
        Some(p) if p.holds(value) => Zone::Promote,
        Some(_) => Zone::Between,
        // Only a rollback zone: anything outside it may advance.
        None => Zone::Promote,
    }
}

pub fn zone_verdict(z: Zone, no_data: NoData) -> Verdict {
    match z {
        Zone::Promote => Verdict::Pass,
        Zone::Between => Verdict::Hold,
        Zone::Rollback => Verdict::Fail,
        Zone::Error => Verdict::Error,
        Zone::NoData => match no_data {
            NoData::Inconclusive => Verdict::Hold,
            NoData::Fail => Verdict::Fail,
            NoData::Pass => Verdict::Pass,
        },
    }
}

/// canary / baseline, with the edge cases spelled out: 0/0 = 1 (both idle: no difference),
/// x/0 = +inf for x > 0.
pub fn ratio(canary: f64, baseline: f64) -> f64 {
    if baseline == 0.0 {
        if canary == 0.0 {
            1.0
        } else {
            f64::INFINITY
        }
    } else {
        canary / baseline
    }
}

/// The values a guardrail's measurement can take, from how its zones are written: a condition in
/// `%` measures a share (at least 0; at most 1 unless a constant is above 100%), a condition in
/// `x` compares two measurements that cannot be negative; plain numbers say nothing. A value
/// outside is not a measurement but a broken query or provider (a negative error rate must not
/// pass as "well below the limit"). `None`: no bound known.
pub fn possible_range(g: &Guardrail) -> Option<(f64, f64)> {
    let conds: Vec<&Condition> = g.promote.iter().chain(g.rollback.iter()).collect();
    if conds.iter().any(|c| c.relative) {
        return Some((0.0, f64::INFINITY));
    }
    if !conds.is_empty() && conds.iter().all(|c| c.text.contains('%')) {
        let max = match conds.iter().any(|c| c.value > 1.0) {
            true => f64::INFINITY,
            false => 1.0,
        };
        return Some((0.0, max));
    }
    None
}

/// Why `v` cannot be a value of `g` (see [`possible_range`]), if it cannot.
pub fn impossible(g: &Guardrail, v: f64) -> Option<String> {
    let (lo, hi) = possible_range(g)?;
    (v < lo || v > hi).then(|| {
        let what = match hi.is_finite() {
            true => format!("a share between {lo} and {hi}"),
            false => format!("at least {lo}"),
        };
        format!("the value {v} is impossible for this guardrail (its conditions measure {what}): the query or the provider is broken")
    })
}

/// A scalar from an observation: `None` for no data.
pub fn scalar(o: &Observation) -> Option<f64> {
    match o {
        Observation::Scalar(v) if !v.is_nan() => Some(*v),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Condition {
        Condition::parse(s).unwrap()
    }

    #[test]
    fn zone_table() {
        let p = c("< 0.5%");
        let r = c("> 1%");
        let cases = [
            (0.001, Some(&p), Some(&r), Zone::Promote),
            (0.005, Some(&p), Some(&r), Zone::Between),
            (0.01, Some(&p), Some(&r), Zone::Between),
            (0.0101, Some(&p), Some(&r), Zone::Rollback),
            (f64::INFINITY, Some(&p), Some(&r), Zone::Rollback),
            (f64::NAN, Some(&p), Some(&r), Zone::NoData),
            (0.5, None, Some(&r), Zone::Rollback),
            (0.001, None, Some(&r), Zone::Promote),
            (0.9, Some(&p), None, Zone::Between),
        ];
        for (v, p, r, want) in cases {
            assert_eq!(zone(v, p, r), want, "value {v}");
        }
    }

    #[test]
    fn no_data_policy() {
        assert_eq!(
            zone_verdict(Zone::NoData, NoData::Inconclusive),
            Verdict::Hold
        );
        assert_eq!(zone_verdict(Zone::NoData, NoData::Fail), Verdict::Fail);
        assert_eq!(zone_verdict(Zone::NoData, NoData::Pass), Verdict::Pass);
        assert_eq!(zone_verdict(Zone::Rollback, NoData::Pass), Verdict::Fail);
    }

    #[test]
    fn ratio_edges() {
        assert_eq!(ratio(0.0, 0.0), 1.0);
        assert_eq!(ratio(1.0, 0.0), f64::INFINITY);
        assert_eq!(ratio(1.2, 1.0), 1.2);
    }
}
