//! The step summary (Markdown for `GITHUB_STEP_SUMMARY`): the verdict and why in the first two
//! lines, where traffic is, then one table per stage with every guardrail's value, zone and verdict
//! at every check. Built to be read in ten seconds.

use super::record::RunRecord;
use crate::core::judge::{fmt_num, Judgement};
use crate::core::machine::{EventKind, Outcome};
use crate::core::verdict::Verdict;
use std::fmt::Write;

fn headline(o: &Outcome) -> &'static str {
    match o {
        Outcome::Promoted => "✅ promoted",
        Outcome::RolledBack { .. } => "❌ rolled back",
        Outcome::Failed { .. } => "⚠️ failed",
        Outcome::Inconclusive { .. } => "⏸️ inconclusive",
        Outcome::Interrupted { .. } => "⛔ interrupted",
    }
}

/// Where traffic is, in words: `a 90%, b 10%, c mirrored 5%`.
pub fn traffic_line(t: &crate::platform::Traffic) -> String {
    let mut s: Vec<String> = t.split.iter().map(|(k, v)| format!("{k} {v}%")).collect();
    s.extend(
        t.mirror
            .iter()
            .filter(|(_, v)| **v > 0)
            .map(|(k, v)| format!("{k} mirrored {v}%")),
    );
    if s.is_empty() {
        "no traffic reported".into()
    } else {
        s.join(", ")
    }
}

/// Where traffic is, in words: the platform's own report when we have it.
pub fn traffic_words(r: &RunRecord) -> String {
    match (&r.traffic, &r.traffic_error) {
        (Some(t), Some(e)) if !t.split.is_empty() => {
            format!("{} (as the platform reports; {e})", traffic_line(t))
        }
        (Some(t), _) if !t.split.is_empty() => {
            format!("{} (as the platform reports)", traffic_line(t))
        }
        (_, Some(e)) => format!(
            "canary {}% as last applied; the platform could not confirm: {e}",
            r.final_weight
        ),
        _ => format!(
            "canary {}%, stable {}%",
            r.final_weight,
            100 - r.final_weight.min(100)
        ),
    }
}

fn cell(j: &Judgement) -> String {
    let mark = match j.verdict {
        Verdict::Pass => "pass",
        Verdict::Hold => "hold",
        Verdict::Fail => "**FAIL**",
        Verdict::Error => "**error**",
    };
    let v = j.value.map(fmt_num).unwrap_or_else(|| "-".into());
    let dry = if j.dry_run { " (dryRun)" } else { "" };
    format!("{v} {mark}{dry}")
}

fn clock(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    format!("+{}:{:02}", s / 60, s % 60)
}

fn md(s: &str) -> String {
    super::github::one_line(s).replace('|', "\\|")
}

pub fn render(r: &RunRecord) -> String {
    let mut o = String::new();
    let version = r
        .model_version
        .as_deref()
        .map(|v| format!(" {v}"))
        .unwrap_or_default();
    let dry = if r.dry_run { " (dry run)" } else { "" };
    let _ = writeln!(
        o,
        "## {}{dry}: {}{}",
        headline(&r.outcome),
        md(&r.name),
        md(&version)
    );
    if let Some(reason) = r.outcome.reason() {
        let _ = writeln!(o, "\n**Why:** {}", md(reason));
    }
    let _ = writeln!(o, "\n**Traffic now:** {}  ", md(&traffic_words(r)));
    let _ = writeln!(
        o,
        "{} · {} · model `{}` · {}s · ended in {}",
        r.platform,
        md(&r.name),
        md(&r.model_uri),
        r.duration_seconds(),
        md(&r.stage)
    );
    if !r.warnings.is_empty() {
        let _ = writeln!(o, "\n**Warnings:**");
        for w in &r.warnings {
            let _ = writeln!(o, "- {}", md(w));
        }
    }
    let mut table: Option<(String, Vec<String>, Vec<String>)> = None;
    let flush = |o: &mut String, t: &mut Option<(String, Vec<String>, Vec<String>)>| {
        if let Some((label, names, rows)) = t.take() {
            let _ = writeln!(o, "\n### {}", md(&label));
            if rows.is_empty() {
                let _ = writeln!(o, "no checks");
                return;
            }
            let _ = writeln!(
                o,
                "| time | {} | decision |",
                names.iter().map(|n| md(n)).collect::<Vec<_>>().join(" | ")
            );
            let _ = writeln!(o, "|---|{}---|", "---|".repeat(names.len()));
            for row in rows {
                let _ = writeln!(o, "{row}");
            }
        }
    };
    // Times in a stage's table count from when the canary was ready at that weight.
    let mut t0 = r.started_at;
    for ev in &r.events {
        match &ev.kind {
            EventKind::PhaseStarted { label, .. } => {
                flush(&mut o, &mut table);
                table = Some((label.clone(), Vec::new(), Vec::new()));
                t0 = ev.at;
            }
            EventKind::Ready => t0 = ev.at,
            EventKind::Check {
                judgements,
                decision,
                ..
            } => {
                if let Some((_, names, rows)) = table.as_mut() {
                    if names.is_empty() {
                        *names = judgements.iter().map(|j| j.guardrail.clone()).collect();
                    }
                    let cells: Vec<String> = judgements.iter().map(cell).collect();
                    rows.push(format!(
                        "| {} | {} | {} |",
                        clock(ev.at - t0),
                        cells.join(" | "),
                        md(decision)
                    ));
                }
            }
            _ => {}
        }
    }
    flush(&mut o, &mut table);
    o
}
