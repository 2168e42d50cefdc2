//! `GITHUB_OUTPUT` (and the same keys for any CI): result, final-weight, stage, reason,
//! duration-seconds, report. Values are single-line by construction; a value with a line break
//! would be refused by the heredoc form, so we use it for every key. The same keys as a dotenv file
//! (`--dotenv`, GitLab's `artifacts:reports:dotenv`): `MLCANARY_RESULT=...`.

use super::record::RunRecord;
use std::io::Write;
use std::path::Path;

pub fn pairs(r: &RunRecord, report_path: Option<&Path>) -> Vec<(&'static str, String)> {
    vec![
        ("result", r.outcome.result().to_string()),
        ("final-weight", r.final_weight.to_string()),
        ("stage", r.stage.clone()),
        ("reason", r.outcome.reason().unwrap_or_default().to_string()),
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

/// The outputs as dotenv lines (`MLCANARY_FINAL_WEIGHT=0`) for GitLab's dotenv report. GitLab reads
/// values literally up to the end of the line, so each is made single-line and kept short.
pub fn dotenv(r: &RunRecord, report_path: Option<&Path>) -> String {
    let mut s = String::new();
    for (k, v) in pairs(r, report_path) {
        let key = format!("MLCANARY_{}", k.replace('-', "_").to_uppercase());
        let mut v = super::github::one_line(&v);
        if v.len() > 1000 {
            let mut cut = 1000;
            while !v.is_char_boundary(cut) {
                cut -= 1;
            }
            v.truncate(cut);
        }
        s.push_str(&format!("{key}={v}\n"));
    }
    s
}
