//! `mlcanary validate`: the config and its template overrides, every problem at once.

use std::path::Path;

pub fn run(path: &Path) -> anyhow::Result<i32> {
    let (c, renderer) = super::load_with(path, &super::plan_checks)?;
    // Render every stage once: a template that fails on this config is a config error too.
    super::render::all_stages(&c, &renderer)?;
    // ... and everything a run renders before its first request (guardrail queries included).
    let plan = crate::core::plan::Plan::for_run(&c);
    crate::rollout::build::render_run(&c, &plan, &renderer, &Default::default())?;
    println!(
        "{}: ok ({} on {}, {} stage(s), {} guardrail(s))",
        path.display(),
        c.name,
        c.target.platform.as_str(),
        crate::core::plan::Plan::from_config(&c)
            .traffic_stages()
            .count(),
        c.guardrails.len()
    );
    Ok(0)
}
