//! The judge: raw observations in, one [`Judgement`] per guardrail out. Keeps the per-guardrail
//! state sequential tests need across checks. Pure.

use super::guardrail::{impossible, ratio, scalar, zone, zone_verdict, Zone};
use super::judge_stats;
pub use super::judgement::{fmt_num, zone_words, Fetched, Judgement};
use super::units;
use super::verdict::Verdict;
use crate::config::{Config, Guardrail, GuardrailKind, NoData};
use crate::core::observation::Observation;

/// Per-guardrail judging state for one rollout.
pub struct Judge {
    guardrails: Vec<Guardrail>,
    no_data: NoData,
    seq: Vec<Option<judge_stats::SeqState>>,
}

impl Judge {
    pub fn new(c: &Config) -> Judge {
        Judge {
            seq: {
                // Stages below 100% that compare canary and stable: alpha is split over them.
                let plan = super::plan::Plan::for_run(c);
                let compared = plan
                    .traffic_stages()
                    .filter(|s| s.weight() < 100 && !s.checks.is_empty())
                    .count()
                    .max(1);
                c.guardrails
                    .iter()
                    .map(|g| judge_stats::SeqState::for_guardrail(g, compared))
                    .collect()
            },
            guardrails: c.guardrails.clone(),
            no_data: c.analysis.no_data,
        }
    }

    pub fn guardrails(&self) -> &[Guardrail] {
        &self.guardrails
    }

    /// Judge guardrail `gi` from its fetched queries (in `guardrail::queries` order).
    /// `weight` is the canary's share of traffic (0..1) in this stage.
    pub fn judge(
        &mut self,
        gi: usize,
        stage: usize,
        weight: f64,
        fetched: &[Fetched],
    ) -> Judgement {
        let g = &self.guardrails[gi];
        let mut j = Judgement {
            guardrail: g.name.clone(),
            verdict: Verdict::Error,
            zone: Zone::Error,
            value: None,
            detail: String::new(),
            stats: None,
            dry_run: g.dry_run,
            critical: g.critical,
            proven: false,
            sequential: g.sequential.is_some(),
        };
        if let Some(err) = fetched.iter().find_map(|f| f.as_ref().err()) {
            j.detail = format!("provider error: {err}");
            return j;
        }
        let obs: Vec<&Observation> = fetched.iter().filter_map(|f| f.as_ref().ok()).collect();
        match g.kind() {
            GuardrailKind::Threshold => self.threshold(gi, obs[0], &mut j),
            GuardrailKind::Baseline => self.baseline(gi, obs[0], obs[1], &mut j),
            GuardrailKind::Psi => judge_stats::psi(g, self.no_data, obs[0], obs[1], &mut j),
            GuardrailKind::Sequential => {
                let state = self.seq[gi].as_mut().expect("sequential state");
                judge_stats::sequential(state, self.no_data, stage, weight, &obs, &mut j)
            }
        }
        j
    }

    fn threshold(&self, gi: usize, o: &Observation, j: &mut Judgement) {
        let g = &self.guardrails[gi];
        match scalar(o) {
            None => self.no_data(j),
            Some(v) if impossible(g, v).is_some() => {
                j.value = Some(v);
                j.detail = format!("provider error: {}", impossible(g, v).unwrap_or_default());
            }
            Some(v) => {
                j.value = Some(v);
                j.zone = zone(v, g.promote.as_ref(), g.rollback.as_ref());
                j.verdict = zone_verdict(j.zone, self.no_data);
                j.detail = format!(
                    "{} = {}: {}",
                    g.name,
                    units::value(v, units::judged_unit(g)),
                    zone_words(j.zone, g)
                );
            }
        }
    }

    fn baseline(&self, gi: usize, c: &Observation, b: &Observation, j: &mut Judgement) {
        let g = &self.guardrails[gi];
        match (scalar(c), scalar(b)) {
            (Some(cv), Some(bv)) if impossible(g, cv.min(bv)).is_some() => {
                j.stats = Some(serde_json::json!({"canary": cv, "baseline": bv}));
                j.detail = format!(
                    "provider error: {}",
                    impossible(g, cv.min(bv)).unwrap_or_default()
                );
            }
            (Some(cv), Some(bv)) => {
                let r = ratio(cv, bv);
                j.value = Some(r);
                j.zone = zone(r, g.promote.as_ref(), g.rollback.as_ref());
                j.verdict = zone_verdict(j.zone, self.no_data);
                j.stats = Some(serde_json::json!({"canary": cv, "baseline": bv}));
                j.detail = format!(
                    "{}: canary {} / baseline {} = {}: {}",
                    g.name,
                    units::value(cv, units::query_unit(g)),
                    units::value(bv, units::query_unit(g)),
                    units::value(r, Some(crate::config::Unit::Ratio)),
                    zone_words(j.zone, g)
                );
            }
            (c, _) => {
                let which = if c.is_none() { "canary" } else { "baseline" };
                self.no_data(j);
                j.detail = format!("{}: the {which} query returned no data", g.name);
            }
        }
    }

    fn no_data(&self, j: &mut Judgement) {
        j.zone = Zone::NoData;
        j.verdict = zone_verdict(Zone::NoData, self.no_data);
        j.detail = format!("{}: no data (noData: {:?})", j.guardrail, self.no_data).to_lowercase();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CFG: &str = r#"
apiVersion: mlcanary/v1
name: m
model: {uri: s3://m, format: sklearn}
target: {platform: kserve, namespace: ns}
providers: {prom: {type: prometheus, address: "http://p:9090"}}
guardrails:
  - {name: err, provider: prom, query: q, promote: "< 0.5%", rollback: "> 1%"}
  - {name: lat, provider: prom, query: q, baseline: b, promote: "< 1.1x", rollback: "> 1.2x"}
"#;

    fn judge() -> Judge {
        Judge::new(&crate::config::load_str("t.yaml", CFG, None).unwrap())
    }

    #[test]
    fn threshold_table() {
        let mut j = judge();
        let cases = [
            (Ok(Observation::Scalar(0.001)), Verdict::Pass),
            (Ok(Observation::Scalar(0.007)), Verdict::Hold),
            (Ok(Observation::Scalar(0.05)), Verdict::Fail),
            (Ok(Observation::NoData), Verdict::Hold),
            (Ok(Observation::Scalar(f64::NAN)), Verdict::Hold),
            (
                Err(crate::core::judgement::FetchError::new(
                    crate::core::judgement::FetchKind::Unreachable,
                    "down",
                )),
                Verdict::Error,
            ),
            // Outside what a share can be: a broken query, not a pass or a fail.
            (Ok(Observation::Scalar(-0.02)), Verdict::Error),
            (Ok(Observation::Scalar(1.5)), Verdict::Error),
        ];
        for (f, want) in cases {
            let got = j.judge(0, 0, 0.05, std::slice::from_ref(&f));
            assert_eq!(got.verdict, want, "{f:?}: {}", got.detail);
        }
    }

    #[test]
    fn baseline_ratio_table() {
        let mut j = judge();
        let s = |v| Ok(Observation::Scalar(v));
        let cases = [
            (s(100.0), s(100.0), Verdict::Pass, Some(1.0)),
            (s(115.0), s(100.0), Verdict::Hold, Some(1.15)),
            (s(130.0), s(100.0), Verdict::Fail, Some(1.3)),
            (s(0.0), s(0.0), Verdict::Pass, Some(1.0)),
            (s(5.0), s(0.0), Verdict::Fail, Some(f64::INFINITY)),
            (Ok(Observation::NoData), s(1.0), Verdict::Hold, None),
            (s(-5.0), s(100.0), Verdict::Error, None),
            (s(100.0), s(-1.0), Verdict::Error, None),
        ];
        for (c, b, want, value) in cases {
            let got = j.judge(1, 0, 0.05, &[c, b]);
            assert_eq!((got.verdict, got.value), (want, value), "{}", got.detail);
        }
    }

    #[test]
    fn possible_ranges_follow_how_the_zones_are_written() {
        use crate::core::guardrail::possible_range;
        let c = crate::config::load_str("t.yaml", CFG, None).unwrap();
        assert_eq!(possible_range(&c.guardrails[0]), Some((0.0, 1.0)));
        assert_eq!(possible_range(&c.guardrails[1]), Some((0.0, f64::INFINITY)));
        let mut g = c.guardrails[0].clone();
        g.rollback = Some(crate::config::Condition::parse("> 150%").unwrap());
        assert_eq!(possible_range(&g), Some((0.0, f64::INFINITY)));
        g.promote = Some(crate::config::Condition::parse("< 0.5").unwrap());
        assert_eq!(possible_range(&g), None);
    }
}
