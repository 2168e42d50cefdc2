//! The template context (config.md "Template context"), built from the config, the plan and what
//! the platform reports. Queries, URLs, notification bodies and manifests all see this.

use crate::config::{Condition, Config, GuardrailKind, ProviderSpec};
use crate::core::plan::{PhaseKind, Plan, Stage};
use crate::platform::kube_platform::KubeSettings;
use crate::platform::target::Target;
use crate::platform::Revisions;
use serde_json::{json, Map, Value};

/// Where in the rollout the context is rendered.
#[derive(Debug, Clone, Default)]
pub struct Moment {
    /// Index into `plan.stages` (shadow included).
    pub phase: usize,
    /// Unix seconds the phase began (readiness reached).
    pub start: i64,
    /// Seconds since then.
    pub elapsed: u64,
}

/// The names the templates see before the platform reports any
/// ([`Target::default_revisions`]: each platform's defaults).
pub fn default_revisions(c: &Config) -> Revisions {
    Target::from_config(c).default_revisions()
}

/// [`default_revisions`] with unknown revisions as placeholders that read as what they stand for:
/// for dry runs, `render`, manifests (rendered before the platform creates revisions) and
/// checking templates before the run. Never for a query that is sent to a real provider.
pub fn placeholder_revisions(c: &Config) -> Revisions {
    with_placeholders(default_revisions(c))
}

/// `r` with each unknown revision replaced by a placeholder (simulated and replayed runs, whose
/// platforms have no revisions, and notifications).
pub fn with_placeholders(r: Revisions) -> Revisions {
    Revisions {
        canary_revision: r.canary_revision.or(Some("<canary-revision>".into())),
        stable_revision: r.stable_revision.or(Some("<stable-revision>".into())),
        ..r
    }
}

/// `{"name": .., "revision": ..}`; an unknown revision is left out, so a template using it fails
/// (strict undefined) rather than rendering `none`.
fn named(name: &str, revision: &Option<String>) -> Value {
    let mut v = json!({ "name": name });
    if let Some(r) = revision {
        v["revision"] = json!(r);
    }
    v
}

fn cond(c: &Option<Condition>) -> Value {
    match c {
        None => Value::Null,
        Some(c) => {
            json!({"op": c.op.symbol(), "value": c.value, "relative": c.relative, "text": c.text})
        }
    }
}

fn stage_json(s: &Stage, i: usize) -> Value {
    json!({
        "index": s.index.unwrap_or(i),
        "weight": s.weight(),
        "pause": s.pause.to_string(),
        "pauseSeconds": s.pause.as_secs_ceil(),
    })
}

fn guardrails(c: &Config) -> Value {
    c.guardrails
        .iter()
        .map(|g| {
            let p = c.providers.get(&g.provider);
            let address = match p {
                Some(ProviderSpec::Prometheus(p)) => Value::String(p.address.clone()),
                _ => Value::Null,
            };
            let kind = match g.kind() {
                GuardrailKind::Threshold => "threshold",
                GuardrailKind::Baseline => "baseline",
                GuardrailKind::Psi => "psi",
                GuardrailKind::Sequential => "sequential",
            };
            json!({
                "name": g.name,
                "provider": {"name": g.provider, "type": p.map(|p| p.type_name()), "address": address},
                "kind": kind,
                "query": g.query, "baseline": g.baseline,
                "psi": g.psi.as_ref().map(|p| json!({"query": p.query, "baseline": p.baseline})),
                "promote": cond(&g.promote), "rollback": cond(&g.rollback),
                "dryRun": g.dry_run, "critical": g.critical,
            })
        })
        .collect()
}

/// The full context at a moment of the rollout. `env` holds only variables the config names.
pub fn build(
    c: &Config,
    plan: &Plan,
    at: &Moment,
    rev: &Revisions,
    env: &Map<String, Value>,
) -> Value {
    let target = serde_json::to_value(&c.target).unwrap_or(Value::Null);
    let kube = KubeSettings::from_config(c);
    let stage = plan
        .stages
        .get(at.phase)
        .cloned()
        .unwrap_or_else(|| plan.stages[0].clone());
    let mut stage_v = stage_json(&stage, at.phase);
    stage_v["start"] = json!(at.start);
    stage_v["elapsed"] = json!(crate::config::Duration::from_secs(at.elapsed).promql());
    // Time since the warmup ended (at least 1s): a window that leaves out the canary's first seconds.
    let warmup = c.analysis.warmup.as_secs_ceil();
    stage_v["warmupEnd"] = json!(at.start + warmup as i64);
    stage_v["sinceWarmup"] =
        json!(crate::config::Duration::from_secs(at.elapsed.saturating_sub(warmup)).promql());
    stage_v["mirror"] = json!(match stage.kind {
        PhaseKind::Shadow { percent } => percent,
        PhaseKind::Traffic { .. } | PhaseKind::Compare => 0,
    });
    let a = &c.analysis;
    let observed = plan
        .traffic_stages()
        .find(|s| !s.checks.is_empty())
        .map_or(0, |s| s.checks.len());
    json!({
        "name": c.name,
        "model": {"uri": c.model.uri, "format": c.model.format, "version": c.model.version},
        "target": target,
        "namespace": kube.namespace,
        "resource": kube.resource,
        "stage": stage_v,
        "stages": plan.traffic_stages().enumerate().map(|(i, s)| stage_json(s, i)).collect::<Vec<_>>(),
        "shadow": c.shadow.as_ref().map(|s| json!({"percent": s.percent, "duration": s.duration.to_string(), "durationSeconds": s.duration.as_secs_ceil()})),
        // The prediction comparison phase (docs/compare.md): the Argo Rollout renders its steps.
        "compare": c.compare.is_some(),
        "canary": named(&rev.canary_name, &rev.canary_revision),
        "stable": named(&rev.stable_name, &rev.stable_revision),
        "analysis": {
            "interval": a.interval.to_string(), "intervalSeconds": a.interval.as_secs_ceil(),
            "warmup": a.warmup.to_string(), "warmupSeconds": a.warmup.as_secs_ceil(),
            "failureLimit": a.failure_limit, "inconclusiveLimit": a.inconclusive_limit,
            "errorLimit": a.error_limit, "checksPerStage": observed,
        },
        "guardrails": guardrails(c),
        "env": env,
    })
}

/// Environment variables the config names (`${VAR}` in notify URLs, bearerTokenEnv names are NOT
/// included: tokens never reach templates).
pub fn env_subset(c: &Config, lookup: &dyn Fn(&str) -> Option<String>) -> Map<String, Value> {
    let mut out = Map::new();
    for n in &c.notify {
        let mut rest = n.url.as_str();
        while let Some(i) = rest.find("${") {
            let after = &rest[i + 2..];
            let Some(end) = after.find('}') else { break };
            let name = &after[..end];
            if let Some(v) = lookup(name) {
                out.insert(name.to_string(), Value::String(v));
            }
            rest = &after[end + 1..];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_times_since_readiness_and_since_warmup() {
        let c = crate::config::load_str(
            "t.yaml",
            "apiVersion: mlcanary/v1\nname: m\nmodel: {uri: s3://m, format: sklearn}\ntarget: {platform: kserve}\nanalysis: {warmup: 30s}\nproviders: {prom: {type: prometheus, address: \"http://p:9090\"}}\nguardrails: [{name: g, provider: prom, query: q, rollback: \"> 1\"}]\n",
            None,
        )
        .unwrap();
        let plan = Plan::for_run(&c);
        let rev = default_revisions(&c);
        // (seconds since ready, elapsed, sinceWarmup)
        for (secs, elapsed, since) in [(95, "1m35s", "1m5s"), (31, "31s", "1s"), (10, "10s", "1s")]
        {
            let at = Moment {
                phase: 0,
                start: 1_700_000_000,
                elapsed: secs,
            };
            let v = build(&c, &plan, &at, &rev, &Map::new());
            assert_eq!(v["stage"]["elapsed"], elapsed);
            assert_eq!(v["stage"]["sinceWarmup"], since, "{secs}");
            assert_eq!(v["stage"]["warmupEnd"], 1_700_000_030);
        }
    }
}
