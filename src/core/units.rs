//! Numbers for people: a few significant digits, in the unit of the guardrail's rule. The one
//! formatter behind every human surface (log lines, `::error` lines, the step summary, JUnit,
//! notifications); the JSON report keeps full precision.
//!
//! A guardrail's unit is its `unit:` key, else inferred from its conditions (`%` = percent,
//! `x` = ratio). The judged value of a baseline or sequential guardrail is a ratio to the stable
//! version whatever the query measures, and a PSI is a plain number.

use crate::config::{Condition, Guardrail, GuardrailKind, Op, Unit};

/// Three significant digits, trailing zeros dropped; very large or small magnitudes in
/// scientific notation with two (`1.8e38`).
pub fn sig(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if !(1e-3..1e6).contains(&a) {
        let s = format!("{v:.1e}");
        // `1.0e6` -> `1e6`
        return s.replace(".0e", "e");
    }
    let digits = (3 - (a.log10().floor() as i32 + 1)).max(0) as usize;
    let s = format!("{v:.digits$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Sequential evidence (a likelihood ratio against the threshold `1/alpha`): past a million it
/// only says "far beyond" (`>1e6`), since `1.8e38` tells a reader nothing more.
pub fn evidence(e: f64) -> String {
    if e >= 1e6 {
        ">1e6".into()
    } else {
        sig(e)
    }
}

/// The unit the guardrail's own query measures: `unit:`, else what its conditions say.
pub fn query_unit(g: &Guardrail) -> Option<Unit> {
    if g.unit.is_some() {
        return g.unit;
    }
    [&g.promote, &g.rollback]
        .iter()
        .filter_map(|c| c.as_ref())
        .any(|c| c.text.trim().ends_with('%'))
        .then_some(Unit::Percent)
}

/// The unit of the value a guardrail's judgement compares with its zones.
pub fn judged_unit(g: &Guardrail) -> Option<Unit> {
    match g.kind() {
        GuardrailKind::Threshold => query_unit(g),
        GuardrailKind::Baseline | GuardrailKind::Sequential => Some(Unit::Ratio),
        GuardrailKind::Psi => None,
    }
}

/// A value in a unit: `0.42%`, `500 ms`, `1.00x`, `12 req/s`.
pub fn value(v: f64, unit: Option<Unit>) -> String {
    match unit {
        None | Some(Unit::Count) => sig(v),
        Some(Unit::Percent) => format!("{}%", sig(v * 100.0)),
        Some(Unit::Ratio) if (0.01..100.0).contains(&v.abs()) => format!("{v:.2}x"),
        Some(Unit::Ratio) => format!("{}x", sig(v)),
        Some(Unit::Ms) => format!("{} ms", sig(v)),
        Some(Unit::S) => format!("{} s", sig(v)),
        Some(Unit::Rps) => format!("{} req/s", sig(v)),
        Some(Unit::Bytes) => format!("{} B", sig(v)),
    }
}

/// A condition in the unit of its guardrail: `< 1%`, `> 900 ms`, `< 1.5x stable`.
pub fn condition(c: &Condition, unit: Option<Unit>) -> String {
    format!("{} {}", c.op.symbol(), bound(c.value, c.relative, unit))
}

/// A zone's constant in the unit of its guardrail: `1%`, `900 ms`, `1.5x stable`.
pub fn bound(v: f64, relative: bool, unit: Option<Unit>) -> String {
    match relative {
        true => format!("{}x stable", sig(v)),
        false => value(v, unit),
    }
}

/// A guardrail's zones in words: `pass < 1% · roll back > 3%`.
pub fn rule(g: &Guardrail) -> String {
    let unit = judged_unit(g);
    let mut parts = Vec::new();
    if let Some(p) = &g.promote {
        parts.push(format!("pass {}", condition(p, unit)));
    }
    if let Some(r) = &g.rollback {
        parts.push(format!("roll back {}", condition(r, unit)));
    }
    if parts.is_empty() {
        return match g.kind() {
            GuardrailKind::Sequential => "sequential test".into(),
            _ => "reported only".into(),
        };
    }
    parts.join(" · ")
}

/// Are high values the bad ones, by the zones' directions (`rollback: > …`, `promote: < …`)?
pub fn high_is_bad(promote: Option<Op>, rollback: Option<Op>) -> bool {
    match (rollback, promote) {
        (Some(r), _) => matches!(r, Op::Gt | Op::Ge),
        (None, Some(p)) => matches!(p, Op::Lt | Op::Le),
        (None, None) => true,
    }
}

/// Is `a` worse than `b` for this guardrail (closer to or deeper in its rollback zone)?
pub fn worse(g: &Guardrail, a: f64, b: f64) -> bool {
    let op = |c: &Option<Condition>| c.as_ref().map(|c| c.op);
    match high_is_bad(op(&g.promote), op(&g.rollback)) {
        true => a > b,
        false => a < b,
    }
}

/// A span of time: `16s`, `5m10s`, `1h05m`.
pub fn duration(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s / 60) % 60),
    }
}

/// Likely unit mistakes in a guardrail's conditions: (key path, message). Warnings, not errors:
/// `promote: "< 0.5"` on a percent guardrail means 50%, which may be meant.
pub fn warnings(index: usize, g: &Guardrail) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let Some(unit) = g.unit else { return out };
    for (key, c) in [("promote", &g.promote), ("rollback", &g.rollback)] {
        let Some(c) = c else { continue };
        let text = c.text.trim();
        let path = format!("guardrails[{index}].{key}");
        if c.relative || g.kind() != GuardrailKind::Threshold {
            continue;
        }
        match unit {
            Unit::Percent if !text.ends_with('%') => out.push((
                path,
                format!(
                    "{text:?} on a percent guardrail compares the fraction with {} ({}); write \"{} {}%\" if you meant {}%",
                    sig(c.value),
                    value(c.value, Some(Unit::Percent)),
                    c.op.symbol(),
                    sig(c.value),
                    sig(c.value)
                ),
            )),
            Unit::Percent => {}
            _ if text.ends_with('%') => out.push((
                path,
                format!(
                    "{text:?} is a percentage, but the guardrail's unit is {}; the query's value is compared with {}",
                    unit_name(unit),
                    sig(c.value)
                ),
            )),
            _ => {}
        }
    }
    out
}

pub fn unit_name(u: Unit) -> &'static str {
    match u {
        Unit::Percent => "percent",
        Unit::Ratio => "ratio",
        Unit::Ms => "ms",
        Unit::S => "s",
        Unit::Count => "count",
        Unit::Rps => "rps",
        Unit::Bytes => "bytes",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn few_significant_digits() {
        // Issue 11.5: `canary 2.462128795462129/38.83287879546212`, `evidence 1.8e38 of 20`.
        assert_eq!(sig(2.462128795462129), "2.46");
        assert_eq!(sig(38.83287879546212), "38.8");
        assert_eq!(sig(1.8e38), "1.8e38");
        assert_eq!(sig(20.0), "20");
        assert_eq!(sig(12345.6), "12346");
        assert_eq!(sig(0.000042), "4.2e-5");
        assert_eq!(sig(-0.5), "-0.5");
        assert_eq!(sig(0.0), "0");
        assert_eq!(sig(f64::INFINITY), "+Inf");
        assert_eq!(sig(1e6), "1e6");
        assert_eq!(evidence(1.8e38), ">1e6");
        assert_eq!(evidence(3.46), "3.46");
    }

    #[test]
    fn values_in_their_unit() {
        assert_eq!(value(0.0358, Some(Unit::Percent)), "3.58%");
        assert_eq!(value(0.004213, Some(Unit::Percent)), "0.421%");
        assert_eq!(value(500.0, Some(Unit::Ms)), "500 ms");
        assert_eq!(value(0.5213, Some(Unit::S)), "0.521 s");
        assert_eq!(value(1.0, Some(Unit::Ratio)), "1.00x");
        assert_eq!(value(1e4, Some(Unit::Ratio)), "10000x");
        assert_eq!(value(12.0, Some(Unit::Rps)), "12 req/s");
        assert_eq!(value(3.0, None), "3");
    }

    fn guardrail(extra: &str) -> Guardrail {
        let text = format!("name: g\nprovider: p\nquery: q\n{extra}");
        yaml_serde::from_str(&text).unwrap()
    }

    #[test]
    fn rules_read_in_the_unit_of_the_guardrail() {
        let g = guardrail("promote: \"< 1%\"\nrollback: \"> 3%\"\n");
        assert_eq!(rule(&g), "pass < 1% · roll back > 3%");
        let g = guardrail("unit: ms\npromote: \"< 600\"\nrollback: \"> 900\"\n");
        assert_eq!(rule(&g), "pass < 600 ms · roll back > 900 ms");
        let g = guardrail("baseline: b\npromote: \"< 1.5x\"\nrollback: \"> 3x\"\n");
        assert_eq!(rule(&g), "pass < 1.5x stable · roll back > 3x stable");
        assert_eq!(judged_unit(&g), Some(Unit::Ratio));
    }

    #[test]
    fn worst_follows_the_rollback_direction() {
        let g = guardrail("rollback: \"> 3%\"\n");
        assert!(worse(&g, 0.04, 0.03));
        let g = guardrail("rollback: \"< 0.9\"\n");
        assert!(worse(&g, 0.8, 0.9));
    }

    #[test]
    fn a_percent_guardrail_without_percent_signs_is_a_likely_mistake() {
        let g = guardrail("unit: percent\npromote: \"< 0.5\"\nrollback: \"> 2%\"\n");
        let w = warnings(3, &g);
        assert_eq!(w.len(), 1, "{w:?}");
        assert_eq!(w[0].0, "guardrails[3].promote");
        assert!(w[0].1.contains("50%"), "{}", w[0].1);
        let g = guardrail("unit: ms\nrollback: \"> 2%\"\n");
        assert_eq!(warnings(0, &g).len(), 1);
        let g = guardrail("unit: percent\npromote: \"< 0.5%\"\n");
        assert!(warnings(0, &g).is_empty());
    }

    #[test]
    fn durations_for_people() {
        assert_eq!(duration(16), "16s");
        assert_eq!(duration(310), "5m10s");
        assert_eq!(duration(3900), "1h05m");
    }
}
