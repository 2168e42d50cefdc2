//! `mlcanary render`: every stage's manifests as multi-document YAML (pipe into `kubectl apply
//! -f -`), one stage with `--stage N`, or one file per stage and object with `--out DIR`.

use super::UsageError;
use crate::config::Config;
use crate::core::plan::Plan;
use crate::render::{to_log_stream, to_yaml_stream, Manifest, Renderer};
use crate::rollout::{build, context};
use std::path::Path;

/// (phase label, file-name prefix, manifests) for every phase of the plan.
pub fn all_stages(
    c: &Config,
    r: &Renderer,
) -> anyhow::Result<Vec<(String, String, Vec<Manifest>)>> {
    let plan = Plan::from_config(c);
    let rev = context::placeholder_revisions(c);
    let mut out = Vec::new();
    for (phase, s) in plan.stages.iter().enumerate() {
        let ms = build::manifests(c, &plan, r, phase, &rev, &serde_json::Map::new())?;
        let prefix = match s.index {
            None if s.kind == crate::core::plan::PhaseKind::Compare => "stage-0-compare".into(),
            None => "stage-0-shadow".to_string(),
            Some(i) => format!("stage-{}-{}", i + 1, s.weight()),
        };
        out.push((s.label(), prefix, ms));
    }
    Ok(out)
}

pub fn run(
    arg: &crate::cli::ConfigArg,
    stage: Option<usize>,
    out: Option<&Path>,
    format: crate::cli::Format,
) -> anyhow::Result<i32> {
    let (c, r) = super::load(arg)?;
    let mut stages = all_stages(&c, &r)?;
    let has_shadow = c.shadow.is_some();
    if let Some(n) = stage {
        // 1-based traffic stages; 0 = shadow.
        let idx = if has_shadow {
            n
        } else {
            n.checked_sub(1).ok_or_else(|| {
                UsageError("--stage 0 is the shadow phase, and this config has none".into())
            })?
        };
        if idx >= stages.len() {
            return Err(UsageError(format!(
                "--stage {n}: the plan has {} traffic stage(s)",
                stages.len() - usize::from(has_shadow)
            ))
            .into());
        }
        stages = vec![stages.swap_remove(idx)];
    }
    match out {
        None if format == crate::cli::Format::Json => {
            let stages: Vec<serde_json::Value> = stages
                .iter()
                .map(|(label, _, ms)| {
                    serde_json::json!({
                        "stage": label,
                        "manifests": ms.iter().map(|m| m.value.clone()).collect::<Vec<_>>(),
                    })
                })
                .collect();
            let v = serde_json::json!({ "stages": stages });
            crate::outln!(
                "{}",
                crate::report::github::safe_json(&serde_json::to_string_pretty(&v)?)
            );
        }
        None => {
            for (label, _, ms) in &stages {
                crate::outln!("# {label}");
                crate::out!("{}", to_log_stream(ms).map_err(UsageError)?);
            }
        }
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            for (_, prefix, ms) in &stages {
                for m in ms {
                    let ext = if m.is_kubernetes() { "yaml" } else { "json" };
                    let file = dir.join(format!(
                        "{prefix}-{}-{}.{ext}",
                        m.kind.to_lowercase(),
                        m.name
                    ));
                    let text = if m.is_kubernetes() {
                        to_yaml_stream(std::slice::from_ref(m))
                    } else {
                        serde_json::to_string_pretty(&m.value)? + "\n"
                    };
                    std::fs::write(&file, text)?;
                    crate::outln!("{}", file.display());
                }
            }
        }
    }
    Ok(0)
}
