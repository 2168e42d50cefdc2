//! The stage plan: which weights, how long each is observed, when checks happen, and the worst
//! case with every hold extension. Derived from the config once; everything else reads it.
//!
//! Check schedule inside a stage of pause P (after the weight change and readiness): checks at
//! warmup, warmup+interval, ... while < P, and a last one at P. A stage with pause 0 (the implied
//! final 100%) has no checks. A hold at the end extends the stage by one interval at a time, at
//! most `inconclusiveLimit` times.

use crate::config::{Config, Duration};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum PhaseKind {
    /// Before any traffic moves: the canary deployed at 0%, the same recorded requests sent to
    /// both versions and their predictions compared (`compare:`, docs/compare.md).
    Compare,
    /// Mirror `percent` of traffic; no user sees the canary.
    Shadow { percent: u32 },
    /// `weight` percent of live traffic on the canary.
    Traffic { weight: u32 },
}

/// One phase of the rollout: the optional shadow phase, then the traffic stages.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stage {
    /// 0-based position among traffic stages; the shadow phase has none.
    pub index: Option<usize>,
    #[serde(flatten)]
    pub kind: PhaseKind,
    pub pause: Duration,
    /// Guardrail indexes judged in this phase.
    pub guardrails: Vec<usize>,
    /// Offsets (ms from the phase start) of the scheduled checks.
    pub checks: Vec<u64>,
}

impl Stage {
    pub fn weight(&self) -> u32 {
        match self.kind {
            PhaseKind::Traffic { weight } => weight,
            PhaseKind::Shadow { .. } | PhaseKind::Compare => 0,
        }
    }
    pub fn label(&self) -> String {
        match (self.kind, self.index) {
            (PhaseKind::Compare, _) => "compare".to_string(),
            (PhaseKind::Shadow { percent }, _) => format!("shadow {percent}%"),
            (PhaseKind::Traffic { weight }, Some(i)) => format!("stage {} ({weight}%)", i + 1),
            (PhaseKind::Traffic { weight }, None) => format!("{weight}%"),
        }
    }
}

/// Who walks the stages, decided once from the config ([`Walk::of`]) and carried in the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Walk {
    /// mlcanary moves traffic stage by stage and judges between stages.
    Stages,
    /// Argo Rollouts watch mode: the Rollout holds every stage and Argo judges them through the
    /// AnalysisTemplate; mlcanary applies it and follows the Rollout to its end.
    ArgoWatch,
}

impl Walk {
    /// The one place `target.mode` is read.
    pub fn of(c: &Config) -> Walk {
        match (c.target.platform, c.target.mode) {
            (crate::config::PlatformKind::ArgoRollouts, Some(crate::config::ArgoMode::Watch)) => {
                Walk::ArgoWatch
            }
            _ => Walk::Stages,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    pub stages: Vec<Stage>,
    pub interval: Duration,
    pub inconclusive_limit: u32,
    /// Who walks the stages (the configured ones, even when Argo does).
    #[serde(skip)]
    pub walk: Walk,
}

pub fn check_offsets(pause: Duration, warmup: Duration, interval: Duration) -> Vec<u64> {
    let (p, w, i) = (
        pause.as_millis(),
        warmup.as_millis(),
        interval.as_millis().max(1),
    );
    if p == 0 {
        return vec![];
    }
    let mut out = Vec::new();
    let mut t = w;
    while t < p {
        out.push(t);
        t += i;
    }
    out.push(p);
    out
}

impl Plan {
    pub fn from_config(c: &Config) -> Plan {
        let a = &c.analysis;
        let compared = |g: &crate::config::Guardrail| {
            c.compare.is_some() && g.provider == crate::config::compare::COMPARE_PROVIDER
        };
        // Guardrails on the comparison are judged in the comparison phase only; all others
        // everywhere else.
        let all: Vec<usize> = (0..c.guardrails.len())
            .filter(|&i| !compared(&c.guardrails[i]))
            .collect();
        let mut stages = Vec::new();
        if c.compare.is_some() {
            // One check as soon as the canary is ready: the comparison runs inside it.
            stages.push(Stage {
                index: None,
                kind: PhaseKind::Compare,
                pause: Duration::ZERO,
                guardrails: (0..c.guardrails.len())
                    .filter(|&i| compared(&c.guardrails[i]))
                    .collect(),
                checks: vec![0],
            });
        }
        if let Some(s) = &c.shadow {
            let names = s.guardrails.as_ref();
            let guardrails = match names {
                None => all.clone(),
                Some(n) => c
                    .guardrails
                    .iter()
                    .enumerate()
                    .filter(|(_, g)| n.contains(&g.name) && !compared(g))
                    .map(|(i, _)| i)
                    .collect(),
            };
            stages.push(Stage {
                index: None,
                kind: PhaseKind::Shadow { percent: s.percent },
                pause: s.duration,
                guardrails,
                checks: check_offsets(s.duration, a.warmup, a.interval),
            });
        }
        // At 100% the stable version serves nothing, so guardrails that compare the canary with it
        // (baseline, PSI, sequential) cannot judge; only absolute thresholds are checked there.
        let absolute: Vec<usize> = c
            .guardrails
            .iter()
            .enumerate()
            .filter(|(_, g)| g.kind() == crate::config::GuardrailKind::Threshold && !compared(g))
            .map(|(i, _)| i)
            .collect();
        let mut n = 0;
        for spec in &c.stages {
            let pause = spec.pause.unwrap_or(a.pause);
            stages.push(Stage {
                index: Some(n),
                kind: PhaseKind::Traffic {
                    weight: spec.weight,
                },
                pause,
                guardrails: if spec.weight == 100 {
                    absolute.clone()
                } else {
                    all.clone()
                },
                checks: check_offsets(pause, a.warmup, a.interval),
            });
            n += 1;
        }
        if c.stages.last().is_none_or(|s| s.weight != 100) {
            // The implied final 100%: reached, then promoted without further observation.
            stages.push(Stage {
                index: Some(n),
                kind: PhaseKind::Traffic { weight: 100 },
                pause: Duration::ZERO,
                guardrails: absolute,
                checks: vec![],
            });
        }
        Plan {
            stages,
            interval: a.interval,
            inconclusive_limit: a.inconclusive_limit,
            walk: Walk::of(c),
        }
    }

    /// What the rollout loop walks. In Argo watch mode Argo moves traffic and judges through the
    /// AnalysisTemplate, so the loop has one phase: apply, then follow the Rollout to its end.
    pub fn for_run(c: &Config) -> Plan {
        let mut plan = Plan::from_config(c);
        if plan.walk == Walk::ArgoWatch {
            plan.stages = vec![Stage {
                index: Some(0),
                kind: PhaseKind::Traffic { weight: 100 },
                pause: Duration::ZERO,
                guardrails: vec![],
                checks: vec![],
            }];
        }
        plan
    }

    /// The longest a phase can take with every hold extension.
    pub fn worst_case(&self, stage: &Stage) -> Duration {
        if stage.checks.is_empty() {
            return stage.pause;
        }
        Duration::from_millis(
            stage.pause.as_millis() + self.interval.as_millis() * self.inconclusive_limit as u64,
        )
    }

    /// Planned and worst-case totals (readiness waits excluded).
    pub fn totals(&self) -> (Duration, Duration) {
        let planned = self.stages.iter().map(|s| s.pause.as_millis()).sum();
        let worst = self
            .stages
            .iter()
            .map(|s| self.worst_case(s).as_millis())
            .sum();
        (Duration::from_millis(planned), Duration::from_millis(worst))
    }

    pub fn traffic_stages(&self) -> impl Iterator<Item = &Stage> {
        self.stages
            .iter()
            .filter(|s| matches!(s.kind, PhaseKind::Traffic { .. }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Duration {
        Duration::parse(s).unwrap()
    }

    #[test]
    fn check_schedule_table() {
        let cases: [(&str, &str, &str, &[u64]); 6] = [
            (
                "5m",
                "30s",
                "1m",
                &[30_000, 90_000, 150_000, 210_000, 270_000, 300_000],
            ),
            ("2m", "0s", "1m", &[0, 60_000, 120_000]),
            ("1m", "0s", "1m", &[0, 60_000]),
            ("10s", "30s", "1m", &[10_000]),
            ("0s", "30s", "1m", &[]),
            ("90s", "30s", "30s", &[30_000, 60_000, 90_000]),
        ];
        for (p, w, i, want) in cases {
            assert_eq!(
                check_offsets(d(p), d(w), d(i)),
                want,
                "pause {p} warmup {w} interval {i}"
            );
        }
    }

    fn cfg(yaml: &str) -> Config {
        crate::config::load_str("t.yaml", yaml, None).unwrap()
    }

    const BASE: &str = "apiVersion: mlcanary/v1\nname: m\nmodel: {uri: s3://m}\ntarget: {platform: seldon, namespace: ns, stableModelUri: m1}\n";

    #[test]
    fn argo_watch_is_decided_once_and_the_loop_follows_one_phase() {
        let base = "apiVersion: mlcanary/v1\nname: m\nmodel: {uri: s3://m, format: sklearn}\n";
        for (target, walk, phases) in [
            ("{platform: argo-rollouts, mode: watch}", Walk::ArgoWatch, 1),
            ("{platform: argo-rollouts, mode: drive}", Walk::Stages, 4),
            ("{platform: argo-rollouts}", Walk::Stages, 4),
            ("{platform: kserve}", Walk::Stages, 4),
        ] {
            let c = cfg(&format!("{base}target: {target}\nstages: [5, 25, 50]\n"));
            let full = Plan::from_config(&c);
            assert_eq!((full.walk, full.stages.len()), (walk, 4), "{target}");
            let run = Plan::for_run(&c);
            assert_eq!((run.walk, run.stages.len()), (walk, phases), "{target}");
        }
    }

    #[test]
    fn implied_final_hundred_and_defaults() {
        let c = cfg(&format!(
            "{BASE}stages: [5, {{weight: 25, pause: 10m}}, 50]\n"
        ));
        let p = Plan::from_config(&c);
        let w: Vec<u32> = p.stages.iter().map(Stage::weight).collect();
        assert_eq!(w, [5, 25, 50, 100]);
        assert_eq!(p.stages[0].pause, d("5m"));
        assert_eq!(p.stages[1].pause, d("10m"));
        assert_eq!(p.stages[3].pause, Duration::ZERO);
        assert!(p.stages[3].checks.is_empty());
        // 5m + 10m + 5m planned; worst case adds 3 intervals to each observed stage.
        assert_eq!(p.totals(), (d("20m"), d("29m")));
    }

    #[test]
    fn explicit_hundred_is_observed_and_shadow_comes_first() {
        let c = cfg(&format!(
            "{BASE}shadow: {{percent: 10, duration: 30m}}\nstages: [{{weight: 50}}, {{weight: 100, pause: 2m}}]\n"
        ));
        let p = Plan::from_config(&c);
        assert_eq!(p.stages.len(), 3);
        assert_eq!(p.stages[0].kind, PhaseKind::Shadow { percent: 10 });
        assert_eq!(p.stages[0].index, None);
        assert_eq!(p.stages[2].kind, PhaseKind::Traffic { weight: 100 });
        assert_eq!(p.stages[2].pause, d("2m"));
        assert_eq!(p.stages[2].label(), "stage 2 (100%)");
    }

    #[test]
    fn at_100_percent_only_absolute_thresholds_are_judged() {
        let c = cfg(&format!(
            "{BASE}providers: {{p: {{type: prometheus, address: \"http://p\"}}}}\nstages: [10, 100]\nguardrails:\n  - {{name: abs, provider: p, query: q, rollback: \"> 1\"}}\n  - {{name: rel, provider: p, query: q, baseline: b, rollback: \"> 1.2x\"}}\n"
        ));
        let p = Plan::from_config(&c);
        assert_eq!(p.stages[0].guardrails, [0, 1]);
        assert_eq!(
            p.stages[1].guardrails,
            [0],
            "the stable serves nothing at 100%: no comparisons"
        );
    }
}
