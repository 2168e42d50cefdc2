//! Durations as users write them (`500ms`, `30s`, `5m`, `1h30m`), kept in milliseconds.
//!
//! A string type of our own (not humantime) so the accepted grammar is exactly the one the contract
//! documents and the JSON schema can state it as a pattern.

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A non-negative duration with millisecond resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(u64);

/// The regular expression the schema publishes for durations.
pub const DURATION_PATTERN: &str = r"^([0-9]+(ms|s|m|h|d))+$";

impl Duration {
    pub const ZERO: Duration = Duration(0);

    pub const fn from_millis(ms: u64) -> Self {
        Duration(ms)
    }
    pub const fn from_secs(s: u64) -> Self {
        Duration(s * 1000)
    }
    pub const fn from_mins(m: u64) -> Self {
        Duration(m * 60_000)
    }
    pub fn as_millis(self) -> u64 {
        self.0
    }
    /// Whole seconds, rounded up (a 500ms pause still waits).
    pub fn as_secs_ceil(self) -> u64 {
        self.0.div_ceil(1000)
    }
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1000.0
    }
    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// Parse `1h30m`, `500ms`, `2d`. Units: ms, s, m, h, d; at least one number+unit group.
    pub fn parse(text: &str) -> Result<Duration, String> {
        let s = text.trim();
        if s.is_empty() {
            return Err("empty duration: write e.g. 30s, 5m, 1h30m".into());
        }
        let bytes = s.as_bytes();
        let mut i = 0;
        let mut total: u64 = 0;
        while i < bytes.len() {
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            if start == i {
                return Err(format!("invalid duration {text:?}: expected a number at {:?}; write e.g. 30s, 5m, 1h30m", &s[i..]));
            }
            let n: u64 = s[start..i]
                .parse()
                .map_err(|_| format!("invalid duration {text:?}: number too large"))?;
            let unit_start = i;
            while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
                i += 1;
            }
            let factor = match &s[unit_start..i] {
                "ms" => 1,
                "s" => 1000,
                "m" => 60_000,
                "h" => 3_600_000,
                "d" => 86_400_000,
                "" => {
                    return Err(format!(
                    "invalid duration {text:?}: a unit is required (ms, s, m, h, d), e.g. \"{n}s\""
                ))
                }
                u => {
                    return Err(format!(
                        "invalid duration {text:?}: unknown unit {u:?} (use ms, s, m, h, d)"
                    ))
                }
            };
            total = n
                .checked_mul(factor)
                .and_then(|v| total.checked_add(v))
                .ok_or_else(|| format!("invalid duration {text:?}: too large"))?;
        }
        Ok(Duration(total))
    }

    /// A PromQL range (`95s`, `5m`, `1h30m`): whole seconds, at least 1s.
    pub fn promql(self) -> String {
        let secs = self.as_secs_ceil().max(1);
        format_secs(secs)
    }
}

fn format_secs(secs: u64) -> String {
    if secs == 0 {
        return "0s".into();
    }
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 {
        out.push_str(&format!("{s}s"));
    }
    out
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.0.is_multiple_of(1000) {
            let secs = self.0 / 1000;
            let ms = self.0 % 1000;
            if secs == 0 {
                return write!(f, "{ms}ms");
            }
            return write!(f, "{}{ms}ms", format_secs(secs));
        }
        f.write_str(&format_secs(self.0 / 1000))
    }
}

impl From<Duration> for std::time::Duration {
    fn from(d: Duration) -> Self {
        std::time::Duration::from_millis(d.0)
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration such as 30s, 5m or 1h30m")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Duration, E> {
                Duration::parse(v).map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Duration, E> {
                if v == 0 {
                    Ok(Duration::ZERO)
                } else {
                    Err(E::custom(format!(
                        "a duration needs a unit: write \"{v}s\" or \"{v}m\", not {v}"
                    )))
                }
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Duration, E> {
                if v < 0 {
                    return Err(E::custom("a duration cannot be negative"));
                }
                self.visit_u64(v as u64)
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for Duration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": DURATION_PATTERN,
            "description": "A duration: 500ms, 30s, 5m, 1h30m, 1d",
            "examples": ["30s", "5m", "1h30m"]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_forms() {
        let cases = [
            ("500ms", 500),
            ("30s", 30_000),
            ("5m", 300_000),
            ("1h30m", 5_400_000),
            ("2h", 7_200_000),
            ("1d", 86_400_000),
            ("1m30s", 90_000),
            ("0s", 0),
        ];
        for (text, ms) in cases {
            assert_eq!(
                Duration::parse(text),
                Ok(Duration::from_millis(ms)),
                "{text}"
            );
        }
    }

    #[test]
    fn rejects_malformed() {
        for bad in ["", "5", "m5", "5 m", "5min", "1.5m", "-5s", "5s3"] {
            assert!(Duration::parse(bad).is_err(), "{bad} should fail");
        }
        assert!(Duration::parse("5")
            .unwrap_err()
            .contains("unit is required"));
    }

    #[test]
    fn display_round_trips() {
        for text in [
            "500ms", "30s", "5m", "1h30m", "1h", "1m30s", "0s", "1s500ms",
        ] {
            let d = Duration::parse(text).unwrap();
            assert_eq!(d.to_string(), text);
            assert_eq!(Duration::parse(&d.to_string()).unwrap(), d);
        }
    }

    #[test]
    fn promql_ranges_are_whole_seconds() {
        assert_eq!(Duration::from_millis(95_000).promql(), "1m35s");
        assert_eq!(Duration::from_millis(1).promql(), "1s");
        assert_eq!(Duration::ZERO.promql(), "1s");
        assert_eq!(Duration::from_secs(3600).promql(), "1h");
    }
}
