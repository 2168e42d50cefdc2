//! `mlcanary plan`: stages, weights, pauses, checks, cumulative and worst-case time, and every
//! guardrail with its zones. Readiness waits are not counted (they depend on the platform).

use crate::cli::Format;
use crate::config::Duration;
use crate::config::{Config, GuardrailKind};
use crate::core::plan::{PhaseKind, Plan};
use serde_json::json;
use std::fmt::Write;

pub fn run(arg: &crate::cli::ConfigArg, format: Format) -> anyhow::Result<i32> {
    let (c, renderer) = super::load(arg)?;
    let plan = Plan::from_config(&c);
    let gitops = super::plan_gitops::check(&c, &renderer);
    let lines = gitops.as_ref().map(|g| g.lines()).unwrap_or_default();
    let mut summary = crate::report::summary::plan_summary(&c, &plan);
    for l in &lines {
        summary.push_str(&format!("\n> {}\n", crate::report::summary::md(l)));
    }
    crate::report::summary::append_step_summary(&summary)?;
    match format {
        Format::Json => {
            let mut v = plan_json(&c, &plan);
            if let Some(g) = &gitops {
                v["gitops"] = serde_json::to_value(g)?;
            }
            crate::outln!(
                "{}",
                crate::report::github::safe_json(&serde_json::to_string_pretty(&v)?)
            )
        }
        Format::Text => {
            let mut text = plan_text(&c, &plan);
            if !lines.is_empty() {
                text.push('\n');
                for l in &lines {
                    text.push_str(l);
                    text.push('\n');
                }
            }
            crate::out!("{}", crate::report::github::safe_text(&text))
        }
    }
    Ok(0)
}

fn kind_name(k: GuardrailKind) -> &'static str {
    match k {
        GuardrailKind::Threshold => "threshold",
        GuardrailKind::Baseline => "baseline",
        GuardrailKind::Psi => "psi",
        GuardrailKind::Sequential => "sequential",
    }
}

fn zones(g: &crate::config::Guardrail) -> String {
    if let Some(s) = &g.sequential {
        return format!(
            "{:?} test, alpha {}, tolerance {}x",
            s.test, s.alpha.0, s.tolerance.0
        )
        .to_lowercase();
    }
    let p = g.promote.as_ref().map_or("-".into(), |c| c.text.clone());
    let r = g.rollback.as_ref().map_or("-".into(), |c| c.text.clone());
    format!("promote {p}, rollback {r}")
}

/// The comparison phase: what it sends before any traffic moves.
fn compare_line(o: &mut String, c: &Config) {
    if let Some(k) = &c.compare {
        // `load` checked the requests file already; the count is what the phase would send.
        let n = crate::rollout::compare::load_requests(k, std::path::Path::new(""))
            .map_or(0, |r| r.len());
        if let Some(d) = crate::rollout::compare::dry(c, n) {
            let _ = writeln!(
                o,
                "compare (canary at 0%, before any traffic moves): {}",
                d.0.trim_start_matches("compare ")
            );
        }
    }
}

/// The analysis settings, the deadline against the worst case, and what a shadow phase mirrors
/// (a Seldon v1 shadow takes every request).
fn limits_and_shadow(o: &mut String, c: &Config, worst: u64) {
    let a = &c.analysis;
    let _ = writeln!(o);
    let _ = writeln!(
        o,
        "checks every {} after a {} warmup; failureLimit {}, inconclusiveLimit {} (one interval each), errorLimit {}, noData {}, onInconclusive {}",
        a.interval, a.warmup, a.failure_limit, a.inconclusive_limit, a.error_limit, word(&a.no_data), word(&a.on_inconclusive)
    );
    let fits = if worst <= a.deadline.as_millis() {
        "fits"
    } else {
        "EXCEEDS it: the rollout would roll back at the deadline"
    };
    let _ = writeln!(
        o,
        "deadline {} (worst case {} {fits}); advanceEarly {}",
        a.deadline,
        Duration::from_millis(worst),
        a.advance_early
    );
    if let Some(s) = &c.shadow {
        if c.target.platform == crate::config::PlatformKind::Seldon {
            // A Seldon v1 shadow predictor takes no percentage: the operator mirrors every
            // request to it (seldon-core createIstioResources: `mirror` without a percentage
            // unless the shadow predictor carries traffic, which mlcanary's does not).
            let _ = writeln!(
                o,
                "shadow: Seldon Core v1 copies EVERY request to the shadow predictor for {}, whatever `percent` ({}%) says",
                s.duration, s.percent
            );
        } else {
            let _ = writeln!(
                o,
                "shadow: {}% of requests mirrored for {} before any user sees the canary",
                s.percent, s.duration
            );
        }
    }
}

pub fn plan_text(c: &Config, plan: &Plan) -> String {
    let mut o = String::new();
    let version = c
        .model
        .version
        .as_deref()
        .map(|v| format!(" ({v})"))
        .unwrap_or_default();
    let place = match crate::platform::target::Target::from_config(c) {
        crate::platform::target::Target::AzureMl(t) => format!(
            "{}/{} ({} -> {})",
            t.workspace, t.endpoint, t.stable_deployment, t.canary_deployment
        ),
        _ => {
            let k = crate::platform::kube_platform::KubeSettings::from_config(c);
            format!("{}/{}", k.namespace, k.resource)
        }
    };
    let _ = writeln!(
        o,
        "{}: {}{version} -> {} {place}",
        c.name,
        c.model.uri,
        c.target.platform.as_str()
    );
    let _ = writeln!(o);
    let _ = writeln!(
        o,
        "{:<16} {:>7} {:>7} {:>7} {:>11} {:>11}",
        "stage", "weight", "pause", "checks", "cumulative", "worst case"
    );
    let (mut cum, mut worst) = (0u64, 0u64);
    for s in &plan.stages {
        cum += s.pause.as_millis();
        worst += plan.worst_case(s).as_millis();
        let weight = match s.kind {
            PhaseKind::Shadow { percent } => format!("{percent}% m"),
            PhaseKind::Traffic { weight } => format!("{weight}%"),
            PhaseKind::Compare => "0%".to_string(),
        };
        let label = match (s.index, s.kind) {
            (None, PhaseKind::Compare) => "compare".to_string(),
            (None, _) => "shadow".to_string(),
            (Some(i), _) if s.checks.is_empty() => format!("{} (promote)", i + 1),
            (Some(i), _) => format!("{}", i + 1),
        };
        let _ = writeln!(
            o,
            "{:<16} {:>7} {:>7} {:>7} {:>11} {:>11}",
            label,
            weight,
            s.pause.to_string(),
            s.checks.len(),
            Duration::from_millis(cum).to_string(),
            Duration::from_millis(worst).to_string()
        );
    }
    limits_and_shadow(&mut o, c, worst);
    compare_line(&mut o, c);
    let _ = writeln!(o);
    if c.guardrails.is_empty() {
        let _ = writeln!(o, "no guardrails: stages advance on time alone");
    } else {
        let _ = writeln!(o, "guardrails:");
        for g in &c.guardrails {
            let mut flags = String::new();
            if g.critical {
                flags.push_str(" critical");
            }
            if g.dry_run {
                flags.push_str(" dryRun");
            }
            let _ = writeln!(
                o,
                "  {:<20} {:<10} {:<8} {}{flags}",
                g.name,
                kind_name(g.kind()),
                g.provider,
                zones(g)
            );
        }
    }
    if plan.walk == crate::core::plan::Walk::ArgoWatch {
        let ctx = crate::rollout::context::build(
            c,
            plan,
            &Default::default(),
            &crate::rollout::context::placeholder_revisions(c),
            &Default::default(),
        );
        let left = crate::render::argo_unsupported(&ctx);
        if !left.is_empty() {
            let _ = writeln!(o, "\nwarning: Argo cannot judge {} in watch mode (only Prometheus threshold and baseline guardrails become AnalysisTemplate metrics)", left.join(", "));
        }
    }
    o
}

pub fn plan_json(c: &Config, plan: &Plan) -> serde_json::Value {
    let (planned, worst) = plan.totals();
    json!({
        "name": c.name,
        "platform": c.target.platform.as_str(),
        "stages": plan.stages.iter().map(|s| json!({
            "label": s.label(), "weight": s.weight(), "kind": s.kind, "pause": s.pause.to_string(),
            "checks": s.checks.len(), "worstCase": plan.worst_case(s).to_string(),
        })).collect::<Vec<_>>(),
        "planned": planned.to_string(),
        "worstCase": worst.to_string(),
        "deadline": c.analysis.deadline.to_string(),
        "guardrails": c.guardrails.iter().map(|g| json!({"name": g.name, "kind": kind_name(g.kind()), "provider": g.provider, "zones": zones(g), "critical": g.critical, "dryRun": g.dry_run})).collect::<Vec<_>>(),
    })
}

/// An enum as the config spells it.
fn word<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}
