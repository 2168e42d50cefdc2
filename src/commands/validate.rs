//! `mlcanary validate`: the config and its template overrides, every problem at once. With
//! `--format json` the answer is one JSON object on stdout, problems included (exit 2).

use crate::cli::Format;
use crate::config::{Config, ConfigError, Diagnostic};
use crate::report::github::{escape_data, escape_property};
use std::path::Path;

pub fn run(arg: &crate::cli::ConfigArg, format: Format) -> anyhow::Result<i32> {
    let path = arg.config.as_path();
    let checked = super::load_with(arg, &super::plan_checks).and_then(|(c, renderer)| {
        // Render every stage once: a template that fails on this config is a config error too.
        super::render::all_stages(&c, &renderer)?;
        // ... and everything a run renders before its first request (guardrail queries included).
        let plan = crate::core::plan::Plan::for_run(&c);
        crate::rollout::build::render_run(&c, &plan, &renderer, &Default::default())?;
        Ok(c)
    });
    let c = match (checked, format) {
        (Ok(c), _) => c,
        (Err(e), Format::Json) => match e.downcast_ref::<ConfigError>() {
            Some(ce) => {
                annotate_errors(&e);
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
    let warnings = unit_warnings(path, &c);
    print_warnings(&path.display().to_string(), &warnings, format);
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
                "warnings": diagnostics_json(&warnings),
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

fn diagnostics_json(ds: &[Diagnostic]) -> Vec<serde_json::Value> {
    ds.iter()
        .map(|d| {
            serde_json::json!({"line": d.line, "col": d.col, "path": d.path, "message": d.message})
        })
        .collect()
}

/// `{"ok": false, "file", "problems": [{"line", "col", "path", "message"}]}`.
pub fn problems_json(e: &ConfigError) -> String {
    let v = serde_json::json!({"ok": false, "file": e.file, "problems": diagnostics_json(&e.diagnostics)});
    crate::report::github::safe_json(&v.to_string())
}

/// Likely unit mistakes (`promote: "< 0.5"` on a percent guardrail), placed in the file.
pub fn unit_warnings(path: &Path, c: &Config) -> Vec<Diagnostic> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let positions = crate::config::position::Positions::build(&text);
    c.guardrails
        .iter()
        .enumerate()
        .flat_map(|(i, g)| crate::core::units::warnings(i, g))
        .map(|(key, message)| {
            let pos = positions.find(&key);
            Diagnostic {
                line: pos.map_or(1, |p| p.line),
                col: pos.map_or(1, |p| p.col),
                path: key,
                message,
            }
        })
        .collect()
}

/// Warnings on stderr (`FILE:LINE:COL: key: warning: ...`), and under GitHub Actions as
/// `::warning file=…,line=…,col=…` so they show on the pull request.
pub fn print_warnings(file: &str, ws: &[Diagnostic], format: Format) {
    let github = std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true");
    for d in ws {
        match github {
            true => super::run::log_line(format, &annotation("warning", file, d)),
            false => eprintln!(
                "{file}:{}:{}: {}: warning: {}",
                d.line,
                d.col,
                d.path,
                crate::report::github::one_line(&d.message)
            ),
        }
    }
}

/// A workflow command placed on a line of the config: `::error file=F,line=L,col=C,title=…::msg`.
pub fn annotation(kind: &str, file: &str, d: &Diagnostic) -> String {
    let msg = match d.path.is_empty() {
        true => d.message.clone(),
        false => format!("{}: {}", d.path, d.message),
    };
    format!(
        "::{kind} file={},line={},col={},title={}::{}",
        escape_property(file),
        d.line.max(1),
        d.col.max(1),
        escape_property(&format!("mlcanary {kind}")),
        escape_data(&msg)
    )
}

/// Under GitHub Actions, one `::error` annotation per config problem (on stderr, which the
/// runner reads like stdout), so each shows on its line of the pull request.
pub fn annotate_errors(e: &anyhow::Error) {
    if !std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true") {
        return;
    }
    for cause in e.chain() {
        if let Some(ce) = cause.downcast_ref::<ConfigError>() {
            for d in &ce.diagnostics {
                eprintln!("{}", annotation("error", &ce.file, d));
            }
        }
    }
}
