//! `mlcanary simulate -c FILE --scenario NAME`: the config's own policy against the built-in
//! traffic simulator, many seeded runs, summarised: how often it rolls back, how many canary
//! requests and minutes it takes to decide. How users size stages and pauses for their traffic.

use super::UsageError;
use crate::cli::Format;
use crate::config::Config;
use crate::core::sim::{self, ArmModel, Scenario};
use crate::render::Renderer;
use crate::rollout::replay::markers;
use crate::rollout::simulate::{signals, SimPlatform, SimProvider, World};
use serde_json::{json, Value};

pub struct SimArgs<'a> {
    pub config: &'a crate::cli::ConfigArg,
    pub scenario: &'a str,
    pub qps: f64,
    pub runs: u32,
    pub seed: u64,
    pub format: Format,
}

/// One simulated rollout's end.
#[derive(Debug, Clone, PartialEq)]
pub struct RunEnd {
    pub result: &'static str,
    pub minutes: f64,
    pub canary_requests: f64,
    /// Why it rolled back, up to the first ':' (e.g. "critical guardrail error-rate-slo failed").
    pub reason: Option<String>,
}

/// A built-in scenario, or `custom:errors=0.03,p99=0.52,psi=0.1` (canary error rate, canary p99 in
/// seconds with the median unchanged, prediction shift as a PSI).
pub fn parse_scenario(name: &str) -> Result<Scenario, String> {
    if let Some(s) = sim::scenario(name) {
        return Ok(s);
    }
    let Some(spec) = name.strip_prefix("custom:") else {
        return Err(format!(
            "unknown scenario {name:?}: use one of {}, or custom:errors=0.03,p99=0.52,psi=0.1",
            sim::SCENARIOS.join(", ")
        ));
    };
    let stable = sim::stable_model();
    let mut canary: ArmModel = stable;
    for part in spec.split(',').filter(|p| !p.trim().is_empty()) {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| format!("{part:?}: write key=value"))?;
        let v: f64 = v
            .trim()
            .parse()
            .map_err(|_| format!("{part:?}: {v:?} is not a number"))?;
        match k.trim() {
            "errors" if (0.0..1.0).contains(&v) => canary.error_rate = v,
            "p99" if v > sim::LATENCY_MEDIAN_S => canary.latency_sigma = sim::sigma_for_p99(sim::LATENCY_MEDIAN_S, v),
            "psi" if (0.0..5.0).contains(&v) => canary.score_shift = sim::shift_for_psi(v),
            other => return Err(format!("{other}={v}: keys are errors (0..1), p99 (seconds, above the 0.12 s median), psi (0..5)")),
        }
    }
    Ok(Scenario {
        name: "custom",
        description: "custom",
        healthy: false,
        stable,
        canary,
    })
}

/// One seeded rollout through the real loop.
pub fn one_run(
    c: &Config,
    renderer: &Renderer,
    scenario: &Scenario,
    qps: f64,
    seed: u64,
) -> RunEnd {
    let (rc, queries) = markers(c);
    let (sig, kinds) = signals(c, &queries);
    let world = World::new(scenario.clone(), qps, seed);
    let provider = std::sync::Arc::new(SimProvider {
        world: world.clone(),
        queries,
        signals: sig,
        kinds,
    });
    let r = crate::rollout::driver::virtual_run(
        &rc,
        renderer,
        Box::new(SimPlatform(world.clone())),
        provider,
        1_767_225_600_000,
    );
    let w = world.lock().unwrap_or_else(|p| p.into_inner());
    RunEnd {
        result: r.outcome.result(),
        minutes: (r.finished_at - r.started_at) as f64 / 60_000.0,
        canary_requests: w.canary_at_decision.unwrap_or(0.0),
        reason: r
            .outcome
            .reason()
            .map(|m| m.split(':').next().unwrap_or(m).to_string()),
    }
}

fn pct(v: &mut [f64], p: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let i = ((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
    Some(v[i])
}

/// How many runs rolled back for each reason (the reason up to its first ':').
fn reasons(ends: &[RunEnd]) -> std::collections::BTreeMap<String, usize> {
    let mut m = std::collections::BTreeMap::new();
    for e in ends.iter().filter(|e| e.result == "rolled-back") {
        *m.entry(e.reason.clone().unwrap_or_default()).or_insert(0) += 1;
    }
    m
}

pub fn summarise(ends: &[RunEnd], scenario: &Scenario, qps: f64, seed: u64) -> Value {
    let n = ends.len().max(1) as f64;
    let share = |r: &str| ends.iter().filter(|e| e.result == r).count() as f64 / n;
    let mut rb_req: Vec<f64> = ends
        .iter()
        .filter(|e| e.result == "rolled-back")
        .map(|e| e.canary_requests)
        .collect();
    let mut rb_min: Vec<f64> = ends
        .iter()
        .filter(|e| e.result == "rolled-back")
        .map(|e| e.minutes)
        .collect();
    let mut pr_min: Vec<f64> = ends
        .iter()
        .filter(|e| e.result == "promoted")
        .map(|e| e.minutes)
        .collect();
    json!({
        "scenario": scenario.name, "description": scenario.description, "qps": qps, "runs": ends.len(), "seed": seed,
        "rolledBack": share("rolled-back"), "promoted": share("promoted"), "inconclusive": share("inconclusive"),
        "rollback": {
            "medianCanaryRequests": pct(&mut rb_req, 0.5), "p90CanaryRequests": pct(&mut rb_req, 0.9),
            "medianMinutes": pct(&mut rb_min, 0.5), "p90Minutes": pct(&mut rb_min, 0.9),
        },
        "promote": {"medianMinutes": pct(&mut pr_min, 0.5), "p90Minutes": pct(&mut pr_min, 0.9)},
        "rollbackReasons": reasons(ends),
    })
}

pub fn run(a: &SimArgs) -> anyhow::Result<i32> {
    let (c, renderer) = super::load(a.config)?;
    let scenario = parse_scenario(a.scenario).map_err(UsageError)?;
    if a.qps <= 0.0 || a.runs == 0 {
        return Err(UsageError("--qps and --runs must be positive".into()).into());
    }
    let ends: Vec<RunEnd> = (0..a.runs)
        .map(|i| {
            one_run(
                &c,
                &renderer,
                &scenario,
                a.qps,
                a.seed.wrapping_add(i as u64),
            )
        })
        .collect();
    let v = summarise(&ends, &scenario, a.qps, a.seed);
    match a.format {
        Format::Json => crate::outln!("{}", serde_json::to_string_pretty(&v)?),
        Format::Text => crate::out!("{}", text(&v)),
    }
    Ok(0)
}

fn text(v: &Value) -> String {
    let f = |x: &Value| x.as_f64().map_or("-".into(), |x| format!("{x:.0}"));
    let m = |x: &Value| x.as_f64().map_or("-".into(), |x| format!("{x:.1}"));
    let p = |x: &Value| format!("{:.1}%", x.as_f64().unwrap_or(0.0) * 100.0);
    format!(
        "scenario {} ({}) at {} QPS, {} runs, seed {}\n  rolled back {}   promoted {}   inconclusive {}\n  to roll back: median {} canary requests (p90 {}), median {} min (p90 {})\n  to promote:   median {} min (p90 {})\n",
        v["scenario"].as_str().unwrap_or(""),
        v["description"].as_str().unwrap_or(""),
        v["qps"],
        v["runs"],
        v["seed"],
        p(&v["rolledBack"]),
        p(&v["promoted"]),
        p(&v["inconclusive"]),
        f(&v["rollback"]["medianCanaryRequests"]),
        f(&v["rollback"]["p90CanaryRequests"]),
        m(&v["rollback"]["medianMinutes"]),
        m(&v["rollback"]["p90Minutes"]),
        m(&v["promote"]["medianMinutes"]),
        m(&v["promote"]["p90Minutes"]),
    )
}
