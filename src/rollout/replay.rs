//! `replay`: the real rollout loop on a virtual clock, answered from recorded series instead of
//! live providers, with a platform that is ready at once.
//!
//! Series are keyed by each query exactly as written in the config. To keep the loop untouched,
//! the config's queries are swapped for unique literal markers (which render to themselves); the
//! replay provider maps a marker back to its query and answers with the last sample at or before
//! the virtual time (none = no data).

use crate::config::{Config, GuardrailKind, PrometheusSpec, ProviderSpec};
use crate::metrics::{Bucket, Observation, Provider, ProviderError, Query};
use crate::platform::{Platform, PlatformError, Readiness, Revisions, Traffic};
use serde::Deserialize;
use std::collections::BTreeMap;

/// RECORDED.json.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recorded {
    /// Unix seconds: the first stage begins here.
    pub start: i64,
    /// Query as written in the config -> [[unix seconds, value], ...]; a value is a number, a
    /// numeric string ("NaN", "+Inf"), null (no data), or [[le, cumulative count], ...] for histograms.
    pub series: BTreeMap<String, Vec<(f64, serde_json::Value)>>,
}

fn marker(i: usize) -> String {
    format!("mlcanary-replay-query-{i}")
}

/// Which query of its guardrail a marker stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    Value,
    Baseline,
    CanaryEvents,
    CanaryTotal,
    BaselineEvents,
    BaselineTotal,
    CanaryHistogram,
    BaselineHistogram,
}

/// A swapped query: its guardrail, its slot, and the query as written in the config.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryRef {
    pub guardrail: usize,
    pub slot: Slot,
    pub original: String,
}

/// The query as written in the config behind a rendered marker (`"?"` for an unknown one), as
/// replay and simulate describe it.
pub fn original<'a>(queries: &'a BTreeMap<String, QueryRef>, q: &Query) -> &'a str {
    queries
        .get(q.text.trim())
        .map_or("?", |r| r.original.as_str())
}

/// Swap every query of the config for a marker; returns the rewritten config and marker -> query.
pub fn markers(c: &Config) -> (Config, BTreeMap<String, QueryRef>) {
    let mut c = c.clone();
    let mut map = BTreeMap::new();
    for (gi, g) in c.guardrails.iter_mut().enumerate() {
        let mut swap = |q: &mut String, slot: Slot| {
            let m = marker(map.len());
            let original = std::mem::replace(q, m.clone());
            map.insert(
                m,
                QueryRef {
                    guardrail: gi,
                    slot,
                    original,
                },
            );
        };
        match g.kind() {
            GuardrailKind::Threshold | GuardrailKind::Baseline => {
                g.query.iter_mut().for_each(|q| swap(q, Slot::Value));
                g.baseline.iter_mut().for_each(|q| swap(q, Slot::Baseline));
            }
            GuardrailKind::Psi => {
                let p = g.psi.as_mut().expect("psi");
                swap(&mut p.query, Slot::CanaryHistogram);
                swap(&mut p.baseline, Slot::BaselineHistogram);
            }
            GuardrailKind::Sequential => {
                let s = g.sequential.as_mut().expect("sequential");
                let arms = [
                    (
                        &mut s.canary,
                        [Slot::CanaryEvents, Slot::CanaryTotal, Slot::CanaryHistogram],
                    ),
                    (
                        &mut s.baseline,
                        [
                            Slot::BaselineEvents,
                            Slot::BaselineTotal,
                            Slot::BaselineHistogram,
                        ],
                    ),
                ];
                for (arm, slots) in arms {
                    for (q, slot) in [&mut arm.events, &mut arm.total, &mut arm.histogram]
                        .into_iter()
                        .zip(slots)
                    {
                        q.iter_mut().for_each(|q| swap(q, slot));
                    }
                }
            }
        }
        g.filter = None;
    }
    // Every provider answers from the recording; a plain spec keeps queries as they are.
    for p in c.providers.values_mut() {
        *p = ProviderSpec::Prometheus(PrometheusSpec {
            address: "http://replay.invalid".into(),
            headers: Default::default(),
            bearer_token_env: None,
            timeout: None,
        });
    }
    (c, map)
}

pub struct ReplayProvider {
    pub recorded: Recorded,
    pub queries: BTreeMap<String, QueryRef>,
}

fn value(v: &serde_json::Value) -> Result<Observation, ProviderError> {
    use serde_json::Value as V;
    Ok(match v {
        V::Null => Observation::NoData,
        V::Number(n) => Observation::Scalar(n.as_f64().unwrap_or(f64::NAN)),
        V::String(s) => match s.trim().parse::<f64>() {
            Ok(x) if x.is_nan() => Observation::NoData,
            Ok(x) => Observation::Scalar(x),
            Err(_) => {
                return Err(ProviderError::Shape(format!(
                    "recorded value {s:?} is not a number"
                )))
            }
        },
        V::Array(rows) => {
            let mut b: Vec<Bucket> = rows
                .iter()
                .map(|r| {
                    match r
                        .as_array()
                        .map(|a| (a.first().and_then(num), a.get(1).and_then(num)))
                    {
                        Some((Some(le), Some(count))) => Ok(Bucket { le, count }),
                        _ => Err(ProviderError::Shape(
                            "a histogram sample is [[le, count], ...]".into(),
                        )),
                    }
                })
                .collect::<Result<_, _>>()?;
            b.sort_by(|x, y| x.le.total_cmp(&y.le));
            Observation::Histogram(b)
        }
        other => {
            return Err(ProviderError::Shape(format!(
                "unexpected recorded value {other}"
            )))
        }
    })
}

fn num(v: &serde_json::Value) -> Option<f64> {
    v.as_f64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}

impl Provider for ReplayProvider {
    fn fetch(&self, q: &Query) -> Result<Observation, ProviderError> {
        let Some(original) = self.queries.get(q.text.trim()) else {
            return Err(ProviderError::Query(format!(
                "not a replayed query: {}",
                q.text
            )));
        };
        let Some(series) = self.recorded.series.get(&original.original) else {
            return Ok(Observation::NoData);
        };
        let at = q.end as f64;
        match series
            .iter()
            .filter(|(t, _)| *t <= at)
            .max_by(|a, b| a.0.total_cmp(&b.0))
        {
            None => Ok(Observation::NoData),
            Some((_, v)) => value(v),
        }
    }
    fn describe(&self, q: &Query) -> String {
        format!("replay {}", original(&self.queries, q))
    }
}

/// A platform that does what it is told at once.
#[derive(Default)]
pub struct InstantPlatform {
    pub weight: u32,
    pub mirror: u32,
}

impl Platform for InstantPlatform {
    fn prepare(
        &mut self,
        weight: u32,
        mirror: u32,
        _manifests: &[serde_json::Value],
    ) -> Result<(), PlatformError> {
        (self.weight, self.mirror) = (weight, mirror);
        Ok(())
    }
    fn poll_ready(&mut self) -> Result<Readiness, PlatformError> {
        Ok(Readiness::Ready)
    }
    fn set_weight(&mut self, weight: u32) -> Result<(), PlatformError> {
        (self.weight, self.mirror) = (weight, 0);
        Ok(())
    }
    fn set_shadow(&mut self, percent: u32) -> Result<(), PlatformError> {
        self.mirror = percent;
        Ok(())
    }
    fn traffic(&mut self) -> Result<Traffic, PlatformError> {
        Ok(Traffic {
            split: BTreeMap::from([
                ("canary".into(), self.weight),
                ("stable".into(), 100 - self.weight),
            ]),
            mirror: BTreeMap::from([("canary".into(), self.mirror)]),
        })
    }
    fn revisions(&mut self) -> Result<Revisions, PlatformError> {
        // Nothing real is queried: placeholders stand for the revisions (names stay the config's).
        Ok(crate::rollout::context::with_placeholders(
            Revisions::default(),
        ))
    }
    fn promote(&mut self) -> Result<(), PlatformError> {
        self.weight = 100;
        Ok(())
    }
    fn rollback(&mut self) -> Result<(), PlatformError> {
        self.weight = 0;
        Ok(())
    }
}
