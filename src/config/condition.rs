//! Zone conditions (`"< 0.5%"`, `"> 1.2x"`), numbers that may be percentages, and ratios (`1.1x`).
//!
//! A condition is one comparison against a constant. `%` divides by 100 (`0.5%` = 0.005); `x` makes
//! the constant a multiple of the guardrail's baseline value (the comparison is then made on
//! canary / baseline). Kept as parsed data so the core compares numbers, not strings.

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Op {
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = ">=")]
    Ge,
}

impl Op {
    pub fn symbol(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        }
    }
    fn is_upper_bound(self) -> bool {
        matches!(self, Op::Lt | Op::Le)
    }
}

/// `OP NUMBER[%|x]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub op: Op,
    /// The constant, with `%` already applied.
    pub value: f64,
    /// `x`: the value is a multiple of the baseline.
    pub relative: bool,
    /// As the user wrote it, for reports.
    pub text: String,
}

pub const CONDITION_PATTERN: &str =
    r"^\s*(<|<=|>|>=)\s*[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?\s*(%|x)?\s*$";

impl Condition {
    pub fn parse(text: &str) -> Result<Condition, String> {
        let s = text.trim();
        let (op, rest) = if let Some(r) = s.strip_prefix("<=") {
            (Op::Le, r)
        } else if let Some(r) = s.strip_prefix(">=") {
            (Op::Ge, r)
        } else if let Some(r) = s.strip_prefix('<') {
            (Op::Lt, r)
        } else if let Some(r) = s.strip_prefix('>') {
            (Op::Gt, r)
        } else {
            return Err(format!(
                "invalid condition {text:?}: start with <, <=, > or >=, e.g. \"< 0.5%\" or \"> 1.2x\""
            ));
        };
        let num = parse_number_text(rest.trim())
            .map_err(|e| format!("invalid condition {text:?}: {e}"))?;
        Ok(Condition {
            op,
            value: num.value,
            relative: num.relative,
            text: s.to_string(),
        })
    }

    /// Does `v` satisfy the condition?
    pub fn holds(&self, v: f64) -> bool {
        match self.op {
            Op::Lt => v < self.value,
            Op::Le => v <= self.value,
            Op::Gt => v > self.value,
            Op::Ge => v >= self.value,
        }
    }

    /// Could some value satisfy both conditions? (Used to refuse overlapping promote/rollback zones.)
    pub fn overlaps(&self, other: &Condition) -> bool {
        match (self.op.is_upper_bound(), other.op.is_upper_bound()) {
            // Two bounds on the same side always share values.
            (true, true) | (false, false) => true,
            (true, false) => lower_upper_overlap(other, self),
            (false, true) => lower_upper_overlap(self, other),
        }
    }
}

/// `lower` is `> a` / `>= a`, `upper` is `< b` / `<= b`: the zones share a value iff a < b,
/// or a == b with both inclusive.
fn lower_upper_overlap(lower: &Condition, upper: &Condition) -> bool {
    if lower.value < upper.value {
        return true;
    }
    lower.value == upper.value && lower.op == Op::Ge && upper.op == Op::Le
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

struct NumberText {
    value: f64,
    relative: bool,
}

fn parse_number_text(s: &str) -> Result<NumberText, String> {
    let (body, pct, rel) = if let Some(b) = s.strip_suffix('%') {
        (b.trim(), true, false)
    } else if let Some(b) = s.strip_suffix('x') {
        (b.trim(), false, true)
    } else {
        (s, false, false)
    };
    if body.is_empty() || body.contains(|c: char| c.is_ascii_alphabetic() && c != 'e' && c != 'E') {
        return Err("expected a number, optionally followed by % or x".into());
    }
    let v: f64 = body
        .parse()
        .map_err(|_| format!("{body:?} is not a number"))?;
    if !v.is_finite() {
        return Err("the number must be finite".into());
    }
    Ok(NumberText {
        value: if pct { v / 100.0 } else { v },
        relative: rel,
    })
}

impl Serialize for Condition {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Condition {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Condition::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Condition {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Condition".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": CONDITION_PATTERN,
            "description": "A comparison: \"< 0.5%\", \">= 200\", \"> 1.2x\" (x = times the baseline query's value)",
            "examples": ["< 0.5%", "> 1%", "< 1.1x"]
        })
    }
}

/// A number that may be written as a percentage (`0.5%` = 0.005), e.g. `alpha`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fraction(pub f64);

impl<'de> Deserialize<'de> for Fraction {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match NumOrText::deserialize(d)? {
            NumOrText::Num(v) => Ok(Fraction(v)),
            NumOrText::Text(t) => {
                let n = parse_number_text(t.trim()).map_err(serde::de::Error::custom)?;
                if n.relative {
                    return Err(serde::de::Error::custom("a ratio (x) is not allowed here"));
                }
                Ok(Fraction(n.value))
            }
        }
    }
}

impl Serialize for Fraction {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.0)
    }
}

impl JsonSchema for Fraction {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Fraction".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "anyOf": [{"type": "number"}, {"type": "string", "pattern": r"^\s*([0-9]+\.?[0-9]*|\.[0-9]+)\s*%\s*$"}],
            "description": "A number, or a percentage such as 5%"
        })
    }
}

/// A ratio to the baseline: `1.1x` or `1.1`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ratio(pub f64);

impl<'de> Deserialize<'de> for Ratio {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match NumOrText::deserialize(d)? {
            NumOrText::Num(v) => Ok(Ratio(v)),
            NumOrText::Text(t) => {
                let n = parse_number_text(t.trim()).map_err(serde::de::Error::custom)?;
                Ok(Ratio(n.value))
            }
        }
    }
}

impl Serialize for Ratio {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{}x", self.0))
    }
}

impl JsonSchema for Ratio {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Ratio".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "anyOf": [{"type": "number"}, {"type": "string", "pattern": r"^\s*([0-9]+\.?[0-9]*|\.[0-9]+)\s*x?\s*$"}],
            "description": "A ratio to the baseline: 1.1x (10% worse is tolerated)"
        })
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum NumOrText {
    Num(f64),
    Text(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Condition {
        Condition::parse(s).unwrap()
    }

    #[test]
    fn parses_ops_percent_and_ratio() {
        let x = c("< 0.5%");
        assert_eq!((x.op, x.value, x.relative), (Op::Lt, 0.005, false));
        let x = c(">1.2x");
        assert_eq!((x.op, x.value, x.relative), (Op::Gt, 1.2, true));
        let x = c(">= 200");
        assert_eq!((x.op, x.value, x.relative), (Op::Ge, 200.0, false));
        let x = c("<= 1e-3");
        assert_eq!((x.op, x.value), (Op::Le, 0.001));
        assert_eq!(c(" < 0.1 ").text, "< 0.1");
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["0.5", "= 1", "< abc", "<", "< 1%%", "< 1y", "<< 1", "< inf"] {
            assert!(Condition::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn holds_respects_strictness() {
        assert!(c("< 1").holds(0.99));
        assert!(!c("< 1").holds(1.0));
        assert!(c("<= 1").holds(1.0));
        assert!(c("> 1").holds(1.01));
        assert!(!c("> 1").holds(1.0));
        assert!(c(">= 1").holds(1.0));
    }

    #[test]
    fn overlap_table() {
        let cases = [
            ("< 0.5%", "> 1%", false),
            ("< 1%", "> 0.5%", true),
            ("< 1", "> 1", false),
            ("<= 1", ">= 1", true),
            ("<= 1", "> 1", false),
            ("> 0.98x", "< 0.97x", false),
            ("> 0.9", "< 0.95", true),
            ("< 1", "< 2", true),
            ("> 1", ">= 5", true),
        ];
        for (a, b, want) in cases {
            assert_eq!(c(a).overlaps(&c(b)), want, "{a} vs {b}");
            assert_eq!(c(b).overlaps(&c(a)), want, "{b} vs {a} (symmetric)");
        }
    }

    #[test]
    fn schema_pattern_agrees_with_parser_on_samples() {
        // The published pattern is for editors; this keeps it from drifting on the common forms.
        let ok = ["< 0.5%", "> 1.2x", ">= 200", "<= .5", "< 1e-3"];
        for s in ok {
            assert!(Condition::parse(s).is_ok(), "{s}");
        }
    }

    #[test]
    fn fraction_and_ratio_forms() {
        let f: Fraction = yaml_serde::from_str("5%").unwrap();
        assert_eq!(f.0, 0.05);
        let f: Fraction = yaml_serde::from_str("0.05").unwrap();
        assert_eq!(f.0, 0.05);
        let r: Ratio = yaml_serde::from_str("1.1x").unwrap();
        assert_eq!(r.0, 1.1);
        let r: Ratio = yaml_serde::from_str("1.25").unwrap();
        assert_eq!(r.0, 1.25);
    }
}
