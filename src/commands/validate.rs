//! `mlcanary validate`: the config and its template overrides, every problem at once. With
//! `--format json` the answer is one JSON object on stdout, problems included (exit 2).

use crate::cli::Format;
use crate::config::ConfigError;
use std::path::Path;

pub fn run(path: &Path, format: Format) -> anyhow::Result<i32> {
    let checked = super::load(path).and_then(|(c, renderer)| {
        // Render every stage once: a template that fails on this config is a config error too.
        super::render::all_stages(&c, &renderer)?;
        Ok(c)
    });
    let c = match (checked, format) {
        (Ok(c), _) => c,
        (Err(e), Format::Json) => match e.downcast_ref::<ConfigError>() {
            Some(ce) => {
                crate::outln!("{}", problems_json(ce));
                return Ok(2);
            }
            None => return Err(e),
        },
        (Err(e), Format::Text) => return Err(e),
    };
    let stages = crate::core::plan::Plan::from_config(&c)
        .traffic_stages()
        .count();
    match format {
        Format::Json => crate::outln!(
            "{}",
            serde_json::json!({
                "ok": true,
                "file": path.display().to_string(),
                "name": c.name,
                "platform": c.target.platform.as_str(),
                "stages": stages,
                "guardrails": c.guardrails.len(),
                "problems": [],
            })
        ),
        Format::Text => crate::outln!(
            "{}: ok ({} on {}, {stages} stage(s), {} guardrail(s))",
            path.display(),
            c.name,
            c.target.platform.as_str(),
            c.guardrails.len()
        ),
    }
    Ok(0)
}

/// `{"ok": false, "file", "problems": [{"line", "col", "path", "message"}]}`.
pub fn problems_json(e: &ConfigError) -> String {
    let problems: Vec<serde_json::Value> = e
        .diagnostics
        .iter()
        .map(|d| {
            serde_json::json!({"line": d.line, "col": d.col, "path": d.path, "message": d.message})
        })
        .collect();
    let v = serde_json::json!({"ok": false, "file": e.file, "problems": problems});
    crate::report::github::safe_json(&v.to_string())
}
