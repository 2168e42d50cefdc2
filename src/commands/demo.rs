//! `mlcanary demo`: the shipped examples are embedded in the binary, so a fresh checkout (or a
//! downloaded binary) can show a whole rollout, plan and dry run, with no cluster and no file.

use super::UsageError;
use crate::render::Renderer;

pub const EXAMPLES: &[(&str, &str)] = &[
    ("kserve", include_str!("../../examples/kserve.yaml")),
    ("seldon", include_str!("../../examples/seldon.yaml")),
    ("seldon-v2", include_str!("../../examples/seldon-v2.yaml")),
    (
        "argo-rollouts-drive",
        include_str!("../../examples/argo-rollouts-drive.yaml"),
    ),
    (
        "argo-rollouts-watch",
        include_str!("../../examples/argo-rollouts-watch.yaml"),
    ),
    ("azureml", include_str!("../../examples/azureml.yaml")),
];

pub fn run(name: &str, format: crate::cli::Format) -> anyhow::Result<i32> {
    let Some((_, text)) = EXAMPLES.iter().find(|(n, _)| *n == name) else {
        let names: Vec<&str> = EXAMPLES.iter().map(|(n, _)| *n).collect();
        return Err(UsageError(format!(
            "no example {name:?}; choose one of {}",
            names.join(", ")
        ))
        .into());
    };
    let file = format!("(embedded) examples/{name}.yaml");
    let c = crate::config::load_str(&file, text, None)?;
    let plan = crate::core::plan::Plan::from_config(&c);
    let record = super::run::dry_run(&c, Renderer::new(None)?)?;
    match format {
        crate::cli::Format::Json => {
            let v = serde_json::json!({
                "example": name,
                "plan": super::plan::plan_json(&c, &plan),
                "dryRun": crate::report::json::document(&record),
            });
            crate::outln!(
                "{}",
                crate::report::github::safe_json(&serde_json::to_string_pretty(&v)?)
            );
        }
        crate::cli::Format::Text => {
            crate::outln!("=== {file} ===\n");
            crate::out!("{}", super::plan::plan_text(&c, &plan));
            crate::outln!();
            crate::out!("{}", super::run::dry_run_text(&c, &record));
        }
    }
    Ok(record.outcome.exit_code())
}
