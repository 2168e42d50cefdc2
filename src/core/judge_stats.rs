//! PSI and sequential guardrails: the bridge from observations to `stats`. The tests keep their
//! evidence across checks, so each sequential guardrail owns a [`SeqState`] for the whole rollout.

use super::guardrail::{scalar, zone, zone_verdict, Zone};
use super::judgement::{fmt_num, zone_words, Judgement};
use super::stats::{
    self, Counts, DistributionParams, DistributionTest, MeanTest, RateTest, SeqOutcome,
    SequentialParams,
};
use super::verdict::Verdict;
use crate::config::{Condition, Guardrail, NoData, SequentialTest};
use crate::core::observation::{Bucket, Observation};
use serde_json::json;

/// PSI zones a `test: distribution` guardrail uses when it names none (config.md's drift example).
pub const DEFAULT_PSI_PROMOTE: f64 = 0.1;
pub const DEFAULT_PSI_ROLLBACK: f64 = 0.2;

pub enum SeqState {
    /// Event counts (errors, or slow requests) per request, canary vs stable.
    Counts(RateTest),
    /// Log-latency means from histograms.
    Means(MeanTest),
    Distribution(DistributionTest),
}

impl SeqState {
    /// `stages`: how many stages below 100% compare canary and stable (alpha is split over them).
    pub fn for_guardrail(g: &Guardrail, stages: usize) -> Option<SeqState> {
        let s = g.sequential.as_ref()?;
        let p = SequentialParams {
            alpha: s.alpha.0,
            tolerance: s.tolerance.0,
            prior_strength: s.prior_strength,
            stages,
            prove_within: s.prove_within.map_or(0.0, |r| r.0),
        };
        Some(match (s.test, s.canary.histogram.is_some()) {
            (SequentialTest::Rate, _) | (SequentialTest::Latency, false) => {
                SeqState::Counts(RateTest::new(p))
            }
            (SequentialTest::Latency, true) => SeqState::Means(MeanTest::new(p)),
            (SequentialTest::Distribution, _) => {
                SeqState::Distribution(DistributionTest::new(DistributionParams {
                    alpha: p.alpha,
                    prior_strength: p.prior_strength,
                    promote_below: g.promote.as_ref().map_or(DEFAULT_PSI_PROMOTE, |c| c.value),
                    rollback_above: g
                        .rollback
                        .as_ref()
                        .map_or(DEFAULT_PSI_ROLLBACK, |c| c.value),
                    stages,
                }))
            }
        })
    }
}

fn histogram(o: &Observation) -> Option<&[Bucket]> {
    match o {
        Observation::Histogram(b) if !b.is_empty() => Some(b),
        _ => None,
    }
}

fn no_data(j: &mut Judgement, nd: NoData, what: &str) {
    j.zone = Zone::NoData;
    j.verdict = zone_verdict(Zone::NoData, nd);
    j.detail = format!("{}: {what}", j.guardrail);
}

/// PSI between the canary's and the stable's histograms, chance-corrected; holds while the canary
/// sample is too small for the promote threshold to mean anything.
pub fn psi(g: &Guardrail, nd: NoData, c: &Observation, b: &Observation, j: &mut Judgement) {
    let (Some(c), Some(b)) = (histogram(c), histogram(b)) else {
        return no_data(j, nd, "no histogram data");
    };
    let p = match stats::psi(c, b) {
        Ok(p) => p,
        Err(e) => {
            j.verdict = Verdict::Error;
            j.zone = Zone::Error;
            j.detail = format!("{}: cannot compute PSI: {e}", g.name);
            return;
        }
    };
    j.value = Some(p.corrected);
    j.stats = Some(
        json!({"psiRaw": p.raw, "psiCorrected": p.corrected, "nullMean": p.null_mean, "bins": p.bins,
                          "canaryCount": p.n_canary, "baselineCount": p.n_baseline}),
    );
    let promote_below = promote_threshold(g.promote.as_ref());
    j.zone = zone(p.corrected, g.promote.as_ref(), g.rollback.as_ref());
    j.verdict = zone_verdict(j.zone, nd);
    let small = stats::psi_sample_too_small(&p, promote_below);
    if small && j.verdict != Verdict::Fail {
        j.verdict = Verdict::Hold;
        j.zone = Zone::Between;
    }
    j.detail = format!(
        "{}: PSI {} (raw {}, chance alone {} with {} canary and {} stable samples){}",
        g.name,
        fmt_num(p.corrected),
        fmt_num(p.raw),
        fmt_num(p.null_mean),
        p.n_canary,
        p.n_baseline,
        if small {
            format!(
                ": sample too small for \"{}\" to mean anything, holding",
                g.promote.as_ref().map_or("-", |c| c.text.as_str())
            )
        } else {
            format!(": {}", zone_words(j.zone, g))
        }
    );
}

fn promote_threshold(c: Option<&Condition>) -> f64 {
    c.map_or(DEFAULT_PSI_PROMOTE, |c| c.value)
}

/// (canary events, canary total, stable events, stable total) from the four count queries.
/// Prometheus creates a counter series only at its first increment, so an `events` query with no
/// series while its `total` has data means zero events (e.g. no 5xx yet), not missing data.
/// Missing data names the queries that were empty.
fn event_counts(v: &[Option<f64>]) -> Result<(f64, f64, f64, f64), String> {
    const NAMES: [&str; 4] = [
        "canary.events",
        "canary.total",
        "baseline.events",
        "baseline.total",
    ];
    let arm = |events: Option<f64>, total: Option<f64>| total.map(|t| (events.unwrap_or(0.0), t));
    match (arm(v[0], v[1]), arm(v[2], v[3])) {
        (Some((ce, ct)), Some((be, bt))) => Ok((ce, ct, be, bt)),
        _ => {
            let empty: Vec<&str> = [1, 3]
                .into_iter()
                .filter(|&i| v[i].is_none())
                .flat_map(|i| {
                    // an events query with no total says nothing either: name both
                    let mut names = vec![NAMES[i]];
                    if v[i - 1].is_none() {
                        names.insert(0, NAMES[i - 1]);
                    }
                    names
                })
                .collect();
            Err(format!(
                "no data from the {} quer{} (an empty events query counts as 0 events only while its total has data)",
                empty.join(", "),
                if empty.len() == 1 { "y" } else { "ies" }
            ))
        }
    }
}

pub fn sequential(
    s: &mut SeqState,
    nd: NoData,
    stage: usize,
    weight: f64,
    obs: &[&Observation],
    j: &mut Judgement,
) {
    j.sequential = true;
    let out: SeqOutcome = match s {
        SeqState::Counts(t) => {
            let v: Vec<Option<f64>> = obs.iter().map(|o| scalar(o)).collect();
            let (ce, ct, be, bt) = match event_counts(&v) {
                Ok(c) => c,
                Err(what) => return no_data(j, nd, &what),
            };
            t.observe(
                stage,
                weight,
                Counts {
                    events: ce,
                    total: ct,
                },
                Counts {
                    events: be,
                    total: bt,
                },
            )
        }
        SeqState::Means(t) => match (histogram(obs[0]), histogram(obs[1])) {
            (Some(c), Some(b)) => t.observe(stage, c, b),
            _ => return no_data(j, nd, "no histogram data"),
        },
        SeqState::Distribution(t) => match (histogram(obs[0]), histogram(obs[1])) {
            (Some(c), Some(b)) => t.observe(stage, weight, c, b),
            _ => return no_data(j, nd, "no histogram data"),
        },
    };
    j.verdict = out.verdict;
    j.zone = match out.verdict {
        Verdict::Pass => Zone::Promote,
        Verdict::Fail => Zone::Rollback,
        _ => Zone::Between,
    };
    j.value = out.estimate.is_finite().then_some(out.estimate);
    j.proven = out.proven_safe;
    j.stats = Some(json!({
        "pValue": out.p_value,
        "estimate": out.estimate.is_finite().then_some(out.estimate),
        "lower": out.lower.is_finite().then_some(out.lower),
        "upper": out.upper.is_finite().then_some(out.upper),
        "provenSafe": out.proven_safe,
        "consistent": out.consistent,
    }));
    j.detail = format!(
        "{}: {} (always-valid p = {})",
        j.guardrail,
        out.detail,
        fmt_num(out.p_value)
    );
}

#[cfg(test)]
mod tests {
    use super::super::judge::Judge;
    use super::*;

    const CFG: &str = r#"
apiVersion: mlcanary/v1
name: m
model: {uri: s3://m}
target: {platform: seldon, namespace: ns, stableModelUri: "s3://m/v1"}
stages: [{weight: 10, pause: 5m}, {weight: 50, pause: 5m}]
providers: {prom: {type: prometheus, address: "http://p:9090"}}
guardrails:
  - {name: drift, provider: prom, psi: {query: a, baseline: b}, promote: "< 0.1", rollback: "> 0.2"}
  - name: errors
    provider: prom
    sequential: {test: rate, canary: {events: a, total: b}, baseline: {events: c, total: d}, alpha: 0.05}
"#;

    fn judge() -> Judge {
        Judge::new(&crate::config::load_str("t.yaml", CFG, None).unwrap())
    }

    /// Cumulative buckets from per-bin counts (10 bins on 0.1 .. 1.0).
    fn hist(bins: &[f64]) -> Observation {
        Observation::Histogram(Bucket::cumulative(bins, 0.1))
    }

    #[test]
    fn psi_holds_while_the_sample_is_too_small_then_judges() {
        let mut j = judge();
        let same = [10.0; 10];
        // 100 canary vs 900 stable predictions in 10 bins: chance alone gives PSI (1/100+1/900)*9 = 0.1.
        let small = j.judge(
            0,
            0,
            0.1,
            &[Ok(hist(&same)), Ok(hist(&same.map(|x| x * 9.0)))],
        );
        assert_eq!(small.verdict, Verdict::Hold, "{}", small.detail);
        assert!(
            small.detail.contains("sample too small"),
            "{}",
            small.detail
        );
        // 10k vs 90k identical: passes.
        let big = j.judge(
            0,
            0,
            0.1,
            &[
                Ok(hist(&same.map(|x| x * 100.0))),
                Ok(hist(&same.map(|x| x * 900.0))),
            ],
        );
        assert_eq!(big.verdict, Verdict::Pass, "{}", big.detail);
        // A real shift: half the mass moved into the top two bins.
        let shifted = [5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 30.0, 30.0].map(|x| x * 100.0);
        let bad = j.judge(
            0,
            0,
            0.1,
            &[Ok(hist(&shifted)), Ok(hist(&same.map(|x| x * 900.0)))],
        );
        assert_eq!(bad.verdict, Verdict::Fail, "{}", bad.detail);
        let stats = bad.stats.unwrap();
        assert!(stats["psiRaw"].as_f64().unwrap() > stats["psiCorrected"].as_f64().unwrap());
    }

    #[test]
    fn an_empty_events_query_is_zero_events_while_its_total_has_data() {
        let n = None;
        type Case = ([Option<f64>; 4], Result<(f64, f64, f64, f64), &'static str>);
        let cases: [Case; 5] = [
            (
                [n, Some(500.0), Some(2.0), Some(4500.0)],
                Ok((0.0, 500.0, 2.0, 4500.0)),
            ),
            (
                [n, Some(500.0), n, Some(4500.0)],
                Ok((0.0, 500.0, 0.0, 4500.0)),
            ),
            (
                [Some(1.0), n, Some(2.0), Some(4500.0)],
                Err("no data from the canary.total query"),
            ),
            (
                [n, n, Some(2.0), Some(4500.0)],
                Err("no data from the canary.events, canary.total queries"),
            ),
            (
                [Some(1.0), Some(500.0), n, n],
                Err("no data from the baseline.events, baseline.total queries"),
            ),
        ];
        for (v, want) in cases {
            match (event_counts(&v), want) {
                (Ok(got), Ok(w)) => assert_eq!(got, w, "{v:?}"),
                (Err(got), Err(w)) => assert!(got.starts_with(w), "{v:?}: {got}"),
                (got, w) => panic!("{v:?}: {got:?} want {w:?}"),
            }
        }
        // Through the judge: no 5xx series on either arm yet is a passing check, not no data.
        let mut j = judge();
        let got = j.judge(
            1,
            0,
            0.1,
            &[
                Ok(Observation::NoData),
                Ok(Observation::Scalar(500.0)),
                Ok(Observation::NoData),
                Ok(Observation::Scalar(4500.0)),
            ],
        );
        assert_eq!(got.verdict, Verdict::Pass, "{}", got.detail);
        assert_eq!(got.zone, Zone::Promote);
    }

    #[test]
    fn the_rate_test_fails_a_5x_regression_and_passes_an_equal_canary() {
        let mut j = judge();
        let s = |v| Ok(Observation::Scalar(v));
        // Canary 10% of 20k requests with 5% errors vs stable 1%.
        let bad = j.judge(1, 0, 0.1, &[s(100.0), s(2000.0), s(180.0), s(18000.0)]);
        assert_eq!(bad.verdict, Verdict::Fail, "{}", bad.detail);
        assert!(bad.sequential);
        assert!(bad.stats.as_ref().unwrap()["pValue"].as_f64().unwrap() < 0.05);
        let mut j = judge();
        let ok = j.judge(1, 0, 0.1, &[s(20.0), s(2000.0), s(180.0), s(18000.0)]);
        assert_eq!(ok.verdict, Verdict::Pass, "{}", ok.detail);
        // No data: hold under noData: inconclusive.
        let nd = j.judge(
            1,
            0,
            0.1,
            &[s(1.0), Ok(Observation::NoData), s(1.0), s(1.0)],
        );
        assert_eq!(nd.verdict, Verdict::Hold);
        assert!(nd.detail.contains("canary.total"), "{}", nd.detail);
    }
}
