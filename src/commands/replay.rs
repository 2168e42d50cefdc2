//! `mlcanary replay -c FILE --metrics RECORDED.json`: when would these guardrails have fired on
//! recorded traffic? The real stage loop on a virtual clock; see `rollout::replay`.

use super::UsageError;
use crate::cli::Format;
use crate::core::machine::EventKind;
use crate::report::record::RunRecord;
use crate::rollout::replay::{markers, InstantPlatform, Recorded, ReplayProvider};
use serde_json::{json, Value};
use std::path::Path;

pub fn run(config: &crate::cli::ConfigArg, metrics: &Path, format: Format) -> anyhow::Result<i32> {
    let (c, renderer) = super::load(config)?;
    let text = std::fs::read_to_string(metrics).map_err(|e| {
        UsageError(format!(
            "{}: cannot read the recording: {e}",
            metrics.display()
        ))
    })?;
    let recorded: Recorded = serde_json::from_str(&text).map_err(|e| {
        UsageError(format!(
            "{}:{}:{}: not a recording ({{\"start\": <unix s>, \"series\": {{\"<query>\": [[<unix s>, <value>], ...]}}}}): {e}",
            metrics.display(),
            e.line(),
            e.column()
        ))
    })?;
    let record = replay(&c, &renderer, recorded);
    let out = result_json(&record);
    match format {
        Format::Json => crate::outln!("{}", serde_json::to_string_pretty(&out)?),
        Format::Text => crate::out!("{}", result_text(&out)),
    }
    Ok(0)
}

/// Run the loop against a recording. Unknown series answer "no data".
pub fn replay(
    c: &crate::config::Config,
    renderer: &crate::render::Renderer,
    recorded: Recorded,
) -> RunRecord {
    let (rc, queries) = markers(c);
    let start = recorded.start * 1000;
    let provider = std::sync::Arc::new(ReplayProvider {
        recorded,
        queries: queries.clone(),
    });
    let mut r = crate::rollout::driver::virtual_run(
        &rc,
        renderer,
        Box::new(InstantPlatform::default()),
        provider,
        start,
    );
    for q in &mut r.queries {
        if let Some(r) = queries.get(q.query.trim()) {
            q.query = r.original.clone();
        }
    }
    r
}

/// The replay answer: result, when it was decided (seconds since start), the stage, every check.
pub fn result_json(r: &RunRecord) -> Value {
    let secs = |at: i64| (at - r.started_at) as f64 / 1000.0;
    let mut label = String::new();
    let mut checks = Vec::new();
    let mut decided = secs(r.finished_at);
    for ev in &r.events {
        match &ev.kind {
            EventKind::PhaseStarted { label: l, .. } => label = l.clone(),
            EventKind::Check {
                check,
                judgements,
                decision,
            } => {
                for j in judgements {
                    checks.push(json!({
                        "at": secs(ev.at), "stage": label, "check": check + 1, "guardrail": j.guardrail,
                        "verdict": j.verdict, "zone": j.zone, "value": j.value, "detail": j.detail,
                        "stats": j.stats, "decision": decision,
                    }));
                }
            }
            EventKind::RollbackRequested { .. } | EventKind::Finished { .. } => {
                decided = decided.min(secs(ev.at));
            }
            _ => {}
        }
    }
    json!({
        "result": r.outcome.result(),
        "decidedAt": decided,
        "stage": r.stage,
        "reason": r.outcome.reason(),
        "checks": checks,
    })
}

fn result_text(v: &Value) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    let at = v["decidedAt"].as_f64().unwrap_or(0.0);
    let _ = writeln!(
        o,
        "result: {} after {} ({})",
        v["result"].as_str().unwrap_or("?"),
        crate::config::Duration::from_millis((at * 1000.0) as u64),
        v["stage"].as_str().unwrap_or("")
    );
    if let Some(r) = v["reason"].as_str() {
        let _ = writeln!(o, "why: {r}");
    }
    for c in v["checks"].as_array().into_iter().flatten() {
        let _ = writeln!(
            o,
            "  +{:>6}s {:<16} {:<20} {:<5} {}",
            c["at"],
            c["stage"].as_str().unwrap_or(""),
            c["guardrail"].as_str().unwrap_or(""),
            c["verdict"].as_str().unwrap_or(""),
            c["detail"].as_str().unwrap_or("")
        );
    }
    o
}
