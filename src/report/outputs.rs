//! `GITHUB_OUTPUT` (and the same keys for any CI): result, final-weight, stage, duration-seconds,
//! report. Values are single-line by construction; a value with a line break would be refused by
//! the heredoc form, so we use it for every key.

use super::record::RunRecord;
use std::io::Write;
use std::path::Path;

pub fn pairs(r: &RunRecord, report_path: Option<&Path>) -> Vec<(&'static str, String)> {
    vec![
        ("result", r.outcome.result().to_string()),
        ("final-weight", r.final_weight.to_string()),
        ("stage", r.stage.clone()),
        ("duration-seconds", r.duration_seconds().to_string()),
        (
            "report",
            report_path
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
        ),
    ]
}

/// Append the outputs to the file GitHub names in `GITHUB_OUTPUT`.
pub fn write(file: &Path, r: &RunRecord, report_path: Option<&Path>) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)?;
    for (k, v) in pairs(r, report_path) {
        let delim = format!("mlcanary_{}", std::process::id());
        writeln!(
            f,
            "{k}<<{delim}\n{}\n{delim}",
            super::redact::redact(&super::github::one_line(&v))
        )?;
    }
    Ok(())
}
