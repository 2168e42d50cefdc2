//! The step summary (Markdown for `GITHUB_STEP_SUMMARY`), built to be read in ten seconds: the
//! verdict and model in the title; why in words with units; where traffic is by role and when the
//! platform said so; a stage strip; one row per guardrail (rule, last, worst, failed of allowed);
//! a chart of each guardrail that decided or came near a limit; every check folded away; what to
//! do next. Every number goes through [`crate::core::units`].

use super::json::{rfc3339, roles};
use super::record::{GuardrailRule, RunRecord};
use crate::core::judge::Judgement;
use crate::core::machine::{EventKind, Outcome};
use crate::core::units::{self, bound, duration, high_is_bad};
use crate::core::verdict::Verdict;
use std::fmt::Write;

/// What the summary can point to beyond the record.
#[derive(Debug, Clone, Default)]
pub struct Links {
    /// The config file as passed (`-c`), for the replay command.
    pub config: Option<String>,
    /// Where the JSON record was written.
    pub report: Option<String>,
}

fn headline(r: &RunRecord) -> &'static str {
    if r.dry_run {
        return "🧪 Dry run";
    }
    match r.outcome {
        Outcome::Promoted => "✅ Promoted",
        Outcome::RolledBack { .. } => "❌ Rolled back",
        Outcome::Failed { .. } => "⚠️ Failed",
        Outcome::Inconclusive { .. } => "⏸️ Inconclusive",
        Outcome::Interrupted { .. } => "⛔ Interrupted",
    }
}

/// Where traffic is, in words: `a 90%, b 10%, c mirrored 5%`.
pub fn traffic_line(t: &crate::core::traffic::Traffic) -> String {
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

/// Where traffic is, in words, with roles: the platform's own report when we have it.
pub fn traffic_words(r: &RunRecord) -> String {
    if !r.changed {
        if r.dry_run {
            return "unchanged (a dry run sends nothing)".into();
        }
        let reported = match &r.traffic {
            Some(t) if !t.split.is_empty() => {
                format!(": {} (as the platform reports)", traffic_line(t))
            }
            _ => String::new(),
        };
        return format!(
            "unchanged: this run changed nothing, traffic is where it was before{reported}"
        );
    }
    match (&r.traffic, &r.traffic_error) {
        (Some(t), Some(e)) if !t.split.is_empty() => {
            format!("{} (as the platform reports; {e})", traffic_line(t))
        }
        (Some(t), _) if !t.split.is_empty() => {
            let parts: Vec<String> = roles(r)
                .into_iter()
                .map(|(role, name, p)| format!("{role} {name} {p}%"))
                .collect();
            format!("{} (as the platform reports)", parts.join(", "))
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

fn platform_name(p: &str) -> &str {
    match p {
        "kserve" => "KServe",
        "seldon" => "Seldon Core",
        "seldon-v2" => "Seldon Core 2",
        "argo-rollouts" => "Argo Rollouts",
        "azureml" => "Azure ML",
        other => other,
    }
}

/// Markdown-safe single-line text (table cells included).
pub fn md(s: &str) -> String {
    super::github::one_line(s)
        .replace('|', "\\|")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Inline code: a value that cannot break out of its backticks.
fn code(s: &str) -> String {
    let s = super::github::one_line(s).replace('`', "'");
    format!("`{s}`")
}

/// One check as the summary reads it.
struct Check<'a> {
    phase: usize,
    /// Milliseconds since the run started.
    since_start: i64,
    /// Milliseconds since its phase was ready.
    since_ready: i64,
    judgements: &'a [Judgement],
    decision: &'a str,
}

fn checks(r: &RunRecord) -> Vec<Check<'_>> {
    let mut ready = r.started_at;
    let mut out = Vec::new();
    for ev in &r.events {
        match &ev.kind {
            EventKind::PhaseStarted { .. } | EventKind::Ready => ready = ev.at,
            EventKind::Check {
                judgements,
                decision,
                ..
            } => out.push(Check {
                phase: ev.phase.unwrap_or(0),
                since_start: ev.at - r.started_at,
                since_ready: ev.at - ready,
                judgements,
                decision,
            }),
            _ => {}
        }
    }
    out
}

fn value_of(c: &Check, name: &str) -> Option<(f64, Verdict, bool)> {
    c.judgements
        .iter()
        .find(|j| j.guardrail == name)
        .and_then(|j| j.value.map(|v| (v, j.verdict, j.dry_run)))
}

fn failed_checks(cs: &[Check], name: &str) -> usize {
    cs.iter()
        .filter(|c| {
            c.judgements
                .iter()
                .any(|j| j.guardrail == name && j.verdict == Verdict::Fail && !j.dry_run)
        })
        .count()
}

/// The guardrail that rolled the canary back: a failed judgement of the last check, preferring
/// the one the outcome names.
fn decider<'a>(r: &'a RunRecord, cs: &'a [Check]) -> Option<&'a Judgement> {
    let Outcome::RolledBack { reason } = &r.outcome else {
        return None;
    };
    let last = cs.last()?;
    let failed: Vec<&Judgement> = last
        .judgements
        .iter()
        .filter(|j| j.verdict == Verdict::Fail && !j.dry_run)
        .collect();
    failed
        .iter()
        .find(|j| reason.contains(&format!("guardrail {} ", j.guardrail)))
        .or(failed.first())
        .copied()
}

fn rule_of<'a>(r: &'a RunRecord, name: &str) -> Option<&'a GuardrailRule> {
    r.info.guardrails.iter().find(|g| g.name == name)
}

fn why(r: &RunRecord, cs: &[Check]) -> String {
    if r.dry_run {
        return "a dry run walks the whole plan and sends nothing; no metric was read".into();
    }
    if let Some(j) = decider(r, cs) {
        if let (Some(g), Some(v)) = (rule_of(r, &j.guardrail), j.value) {
            if let Some(t) = &g.rollback {
                let side = match t.op {
                    crate::config::Op::Gt => "above",
                    crate::config::Op::Ge => "at or above",
                    crate::config::Op::Lt => "below",
                    crate::config::Op::Le => "at or below",
                };
                let n = failed_checks(cs, &g.name);
                let tolerated = n.saturating_sub(1).min(r.info.failure_limit as usize);
                let counted = match (g.critical, n) {
                    (true, _) => "(critical: one failed check rolls back)".to_string(),
                    (false, 1) => format!("(`failureLimit: {}`)", r.info.failure_limit),
                    (false, _) => format!(
                        "({tolerated} tolerated, `failureLimit: {}`)",
                        r.info.failure_limit
                    ),
                };
                return format!(
                    "{} was **{}**, {side} the **{}** rollback limit, in {n} check{} {counted}.",
                    code(&g.name),
                    units::value(v, g.unit),
                    bound(t.value, t.relative, g.unit),
                    if n == 1 { "" } else { "s" },
                );
            }
        }
        return format!("{}: {}", code(&j.guardrail), md(&j.detail));
    }
    if let Some(s) = held(r, cs) {
        return s;
    }
    match &r.outcome {
        Outcome::Promoted => {
            let tolerated: usize = r
                .info
                .guardrails
                .iter()
                .map(|g| failed_checks(cs, &g.name))
                .sum();
            let mut s = format!(
                "{} check{} in {} stage{}; no guardrail reached its rollback limit",
                cs.len(),
                if cs.len() == 1 { "" } else { "s" },
                r.info.plan.len(),
                if r.info.plan.len() == 1 { "" } else { "s" }
            );
            if tolerated > 0 {
                let _ = write!(s, " ({tolerated} failed check(s) tolerated)");
            }
            s + "."
        }
        Outcome::Interrupted { rolled_back } => format!(
            "the run was stopped (a signal or a cancelled job){}.",
            if *rolled_back {
                "; traffic was rolled back to the stable version"
            } else {
                "; traffic was left where it was"
            }
        ),
        o => md(o.reason().unwrap_or("")),
    }
}

/// A rollout that ended on holds (inconclusive, or rolled back by `onInconclusive`): the first
/// guardrail that held at the last check, its value and the zones it sat between.
fn held(r: &RunRecord, cs: &[Check]) -> Option<String> {
    let reason = match &r.outcome {
        Outcome::Inconclusive { reason } | Outcome::RolledBack { reason } => reason,
        _ => return None,
    };
    if !reason.contains("inconclusive") {
        return None;
    }
    let j = cs
        .last()?
        .judgements
        .iter()
        .find(|j| j.verdict == Verdict::Hold && !j.dry_run)?;
    let g = rule_of(r, &j.guardrail)?;
    let v = j.value?;
    let cond = |t: &Option<super::record::Threshold>| {
        t.as_ref()
            .map(|t| format!("{} {}", t.op.symbol(), bound(t.value, t.relative, g.unit)))
    };
    let zones = match (cond(&g.promote), cond(&g.rollback)) {
        (Some(p), Some(b)) => format!("between pass {p} and roll back {b}"),
        (Some(p), None) => format!("short of pass {p}"),
        _ => "not proven either way".into(),
    };
    let extensions = r
        .events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Extended { .. }))
        .count();
    let then = match r.outcome {
        Outcome::RolledBack { .. } => "so it was rolled back (`onInconclusive: rollback`)",
        _ => "so traffic was left where it is (`onInconclusive: fail`)",
    };
    Some(format!(
        "{} was **{}**, {}, still after {extensions} extension{} of the stage; {then}.",
        code(&g.name),
        units::value(v, g.unit),
        md(&zones),
        if extensions == 1 { "" } else { "s" },
    ))
}

/// `stage 2 of 3 (30%), 46s after start`.
fn where_stopped(r: &RunRecord) -> String {
    let total = r.info.plan.len();
    let at = r
        .info
        .plan
        .iter()
        .position(|p| p.label == r.stage)
        .map_or_else(
            || md(&r.stage),
            |i| match r.info.plan[i].label.as_str() {
                // Phases before any user traffic are not "stage N of M".
                "compare" => "the prediction comparison, before any traffic stage".into(),
                l if l.starts_with("shadow") => format!("{}, before any traffic stage", md(l)),
                l => format!("{} of {total}", md(l)),
            },
        );
    format!("{at}, {} after start", duration(r.duration_seconds()))
}

fn stage_strip(r: &RunRecord, cs: &[Check]) -> String {
    let mut head = vec!["stage".to_string()];
    let mut row = vec!["result".to_string()];
    let last_phase = r.events.iter().filter_map(|e| e.phase).max();
    for (i, p) in r.info.plan.iter().enumerate() {
        head.push(match p.mirror {
            0 => format!("{}%", p.weight),
            m => format!("shadow {m}%"),
        });
        let mine: Vec<&Check> = cs.iter().filter(|c| c.phase == i).collect();
        let passed = mine
            .iter()
            .filter(|c| {
                c.judgements
                    .iter()
                    .all(|j| j.dry_run || j.verdict == Verdict::Pass)
            })
            .count();
        let span = |c: Option<&&Check>| c.map_or(0, |c| c.since_ready / 1000);
        let cell = match last_phase {
            _ if r.dry_run => format!("🧪 {} check(s) planned", p.checks),
            Some(l) if i < l => format!(
                "✅ {}, {passed}/{} checks pass",
                duration(span(mine.last())),
                mine.len()
            ),
            Some(l) if i == l => {
                let t = duration(span(mine.last()));
                match &r.outcome {
                    Outcome::Promoted if mine.is_empty() => "✅ promoted".into(),
                    Outcome::Promoted => {
                        format!("✅ {t}, {passed}/{} checks pass", mine.len())
                    }
                    Outcome::RolledBack { .. } => format!("❌ rolled back at +{t}"),
                    Outcome::Inconclusive { .. } => format!("⏸️ held at +{t}"),
                    Outcome::Failed { .. } => format!("⚠️ failed at +{t}"),
                    Outcome::Interrupted { .. } => format!("⛔ stopped at +{t}"),
                }
            }
            _ => "⏭️ not reached".into(),
        };
        row.push(cell);
    }
    let mut o = String::new();
    let _ = writeln!(o, "| {} |", head.join(" | "));
    let _ = writeln!(o, "|{}", "---|".repeat(head.len()));
    let _ = writeln!(o, "| {} |", row.join(" | "));
    o
}

fn guardrail_table(r: &RunRecord, cs: &[Check]) -> String {
    let decided = decider(r, cs).map(|j| j.guardrail.clone());
    let mut o = String::new();
    let _ = writeln!(o, "| guardrail | rule | last | worst | failed checks | |");
    let _ = writeln!(o, "|---|---|---|---|---|---|");
    for g in &r.info.guardrails {
        let vals: Vec<(f64, Verdict, bool)> =
            cs.iter().filter_map(|c| value_of(c, &g.name)).collect();
        let last_j = cs
            .iter()
            .rev()
            .find_map(|c| c.judgements.iter().find(|j| j.guardrail == g.name));
        let show = |v: Option<f64>| v.map_or_else(|| "–".into(), |v| units::value(v, g.unit));
        let high = high_is_bad(
            g.promote.as_ref().map(|t| t.op),
            g.rollback.as_ref().map(|t| t.op),
        );
        let worst = vals.iter().map(|v| v.0).reduce(|a, b| match high {
            true => a.max(b),
            false => a.min(b),
        });
        let failed = failed_checks(cs, &g.name);
        let allowed = match (g.dry_run, g.critical) {
            _ if r.dry_run => "–".to_string(),
            (true, _) => format!("{failed} (dry run: never acts)"),
            (_, true) => format!("{failed} (critical: none allowed)"),
            _ => format!("{failed} of {} allowed", r.info.failure_limit),
        };
        let verdict = match (decided.as_deref() == Some(g.name.as_str()), last_j) {
            _ if r.dry_run => "🧪 not judged".to_string(),
            (true, _) => "❌ **rolled back**".to_string(),
            (_, None) => "–".into(),
            (_, Some(j)) if j.dry_run => "🧪 dry run".into(),
            (_, Some(j)) => match j.verdict {
                Verdict::Pass => "✅".into(),
                Verdict::Hold => "⏸️ hold".into(),
                Verdict::Fail => "❌ fail".into(),
                Verdict::Error => "⚠️ error".into(),
            },
        };
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {allowed} | {verdict} |",
            md(&g.name),
            md(&g.rule),
            show(vals.last().map(|v| v.0)),
            show(worst),
        );
    }
    o
}

/// A guardrail worth a picture: it decided, failed or held, or came within 20% of a limit.
fn near_a_limit(r: &RunRecord, cs: &[Check], g: &GuardrailRule) -> bool {
    if decider(r, cs).is_some_and(|j| j.guardrail == g.name) {
        return true;
    }
    let vals: Vec<(f64, Verdict, bool)> = cs.iter().filter_map(|c| value_of(c, &g.name)).collect();
    if vals
        .iter()
        .any(|v| matches!(v.1, Verdict::Fail | Verdict::Hold))
    {
        return true;
    }
    let Some(t) = g.rollback.as_ref().filter(|t| t.value.is_finite()) else {
        return false;
    };
    let limit = t.value;
    vals.iter()
        .any(|(v, ..)| match high_is_bad(None, Some(t.op)) {
            true => *v >= 0.8 * limit,
            false => *v <= 1.25 * limit,
        })
}

/// `stage 1: 0-16s at 10%, stage 2: from 16s at 30%`: where each charted stage begins.
fn stage_spans(r: &RunRecord, cs: &[Check]) -> String {
    let mut starts: Vec<(usize, i64)> = Vec::new();
    for ev in &r.events {
        if let (EventKind::PhaseStarted { .. }, Some(p)) = (&ev.kind, ev.phase) {
            if cs.iter().any(|c| c.phase == p) {
                starts.push((p, (ev.at - r.started_at) / 1000));
            }
        }
    }
    let mut parts = Vec::new();
    for (i, (p, from)) in starts.iter().enumerate() {
        let span = starts
            .get(i + 1)
            .map_or(format!("from {from}s"), |n| format!("{from}-{}s", n.1));
        let plan = &r.info.plan[*p];
        let at = match plan.mirror {
            0 => format!("{}%", plan.weight),
            m => format!("shadow {m}%"),
        };
        parts.push(format!("stage {}: {span} at {at}", p + 1));
    }
    parts.join(", ").replace('"', "'")
}

/// A number mermaid parses: plain decimal, a few significant digits.
fn chart_num(v: f64) -> String {
    let s = format!("{v:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-" {
        "0".into()
    } else {
        s.to_string()
    }
}

/// Scale for the chart: what [`units::value`] shows (percent in %, others as they are).
fn chart_scale(unit: Option<crate::config::Unit>) -> (f64, &'static str) {
    use crate::config::Unit;
    match unit {
        Some(Unit::Percent) => (100.0, "%"),
        Some(Unit::Ratio) => (1.0, "x"),
        Some(Unit::Ms) => (1.0, "ms"),
        Some(Unit::S) => (1.0, "s"),
        Some(Unit::Rps) => (1.0, "req/s"),
        Some(Unit::Bytes) => (1.0, "B"),
        Some(Unit::Count) | None => (1.0, "value"),
    }
}

fn chart(r: &RunRecord, cs: &[Check], g: &GuardrailRule) -> Option<String> {
    let points: Vec<(i64, f64)> = cs
        .iter()
        .filter_map(|c| value_of(c, &g.name).map(|v| (c.since_start / 1000, v.0)))
        .filter(|(_, v)| v.is_finite())
        .collect();
    if points.len() < 2 {
        return None;
    }
    let (scale, axis) = chart_scale(g.unit);
    let n = points.len();
    let mut lines = vec![(
        "value",
        points
            .iter()
            .map(|p| chart_num(p.1 * scale))
            .collect::<Vec<_>>(),
    )];
    let mut legend = vec!["blue: value".to_string()];
    let mut palette = vec!["#1f6feb"];
    let mut top = points.iter().map(|p| p.1 * scale).fold(0.0, f64::max);
    let mut bottom = points.iter().map(|p| p.1 * scale).fold(0.0, f64::min);
    for (t, name, colour, words) in [
        (&g.promote, "pass", "#2da44e", "green: pass"),
        (&g.rollback, "roll back", "#cf222e", "red: roll back"),
    ] {
        let Some(t) = t.as_ref().filter(|t| t.value.is_finite()) else {
            continue;
        };
        let v = t.value * scale;
        top = top.max(v);
        bottom = bottom.min(v);
        let side = match t.op {
            crate::config::Op::Lt | crate::config::Op::Le => "below",
            _ => "above",
        };
        lines.push((name, vec![chart_num(v); n]));
        legend.push(format!("{words} {side}"));
        palette.push(colour);
    }
    let mut o = String::new();
    let _ = writeln!(o, "```mermaid");
    let _ = writeln!(
        o,
        "%%{{init: {{\"xyChart\": {{\"width\": 900, \"height\": 360}}, \"themeVariables\": {{\"xyChart\": {{\"plotColorPalette\": \"{}\"}}}}}}}}%%",
        palette.join(", ")
    );
    let _ = writeln!(o, "xychart-beta");
    let title = format!(
        "{} of the canary ({axis}) · {}",
        g.name.replace(['"', '`'], "'"),
        legend.join(", ")
    );
    let _ = writeln!(o, "    title \"{}\"", super::github::one_line(&title));
    let xs: Vec<String> = points.iter().map(|p| p.0.to_string()).collect();
    let _ = writeln!(
        o,
        "    x-axis \"seconds since start ({})\" [{}]",
        stage_spans(r, cs),
        xs.join(", ")
    );
    let pad = ((top - bottom) * 0.1).max(top.abs() * 0.05).max(1e-9);
    let _ = writeln!(
        o,
        "    y-axis \"{axis}\" {} --> {}",
        chart_num(if bottom < 0.0 { bottom - pad } else { 0.0 }),
        chart_num(top + pad)
    );
    for (_, ys) in &lines {
        let _ = writeln!(o, "    line [{}]", ys.join(", "));
    }
    let _ = writeln!(o, "```");
    Some(o)
}

fn cell(j: &Judgement, unit: Option<crate::config::Unit>) -> String {
    let mark = match j.verdict {
        Verdict::Pass => "pass",
        Verdict::Hold => "hold",
        Verdict::Fail => "**FAIL**",
        Verdict::Error => "**error**",
    };
    let v = j
        .value
        .map(|v| units::value(v, unit))
        .unwrap_or_else(|| "–".into());
    let dry = if j.dry_run { " (dryRun)" } else { "" };
    format!("{v} {mark}{dry}")
}

fn all_checks(r: &RunRecord, cs: &[Check]) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "<details><summary>All {} checks, per stage</summary>\n",
        cs.len()
    );
    for (i, p) in r.info.plan.iter().enumerate() {
        let mine: Vec<&Check> = cs.iter().filter(|c| c.phase == i).collect();
        if mine.is_empty() {
            continue;
        }
        let names: Vec<&str> = mine[0]
            .judgements
            .iter()
            .map(|j| j.guardrail.as_str())
            .collect();
        let _ = writeln!(o, "**{}**\n", md(&p.label));
        let _ = writeln!(
            o,
            "| time | {} | decision |",
            names.iter().map(|n| md(n)).collect::<Vec<_>>().join(" | ")
        );
        let _ = writeln!(o, "|---|{}---|", "---|".repeat(names.len()));
        for c in mine {
            let cells: Vec<String> = c
                .judgements
                .iter()
                .map(|j| cell(j, rule_of(r, &j.guardrail).and_then(|g| g.unit)))
                .collect();
            let _ = writeln!(
                o,
                "| +{} | {} | {} |",
                duration(c.since_ready / 1000),
                cells.join(" | "),
                md(c.decision)
            );
        }
        let _ = writeln!(o);
    }
    let _ = writeln!(o, "</details>");
    o
}

fn next_steps(r: &RunRecord, links: &Links) -> String {
    let config = links.config.as_deref().unwrap_or("mlcanary.yaml");
    let mut steps = Vec::new();
    match &r.outcome {
        _ if r.dry_run => steps.push(format!(
            "run it for real without `--dry-run`; {} prints the stages and guardrails",
            code(&format!("mlcanary plan -c {config}"))
        )),
        Outcome::Promoted => {}
        Outcome::Inconclusive { .. } => steps.push(
            "decide by hand: `mlcanary promote` or `mlcanary rollback` (traffic was left where it is)".into(),
        ),
        _ => steps.push(format!(
            "{} to test a fix against recorded metrics",
            code(&format!("mlcanary replay -c {config} --metrics …"))
        )),
    }
    if !r.dry_run {
        steps.push("re-running this same version needs `--force`".into());
    }
    if let Some(p) = &links.report {
        steps.push(format!("the JSON record: {}", code(p)));
    }
    format!("**Next:** {}\n", steps.join(" · "))
}

pub fn render(r: &RunRecord) -> String {
    render_with(r, &Links::default())
}

pub fn render_with(r: &RunRecord, links: &Links) -> String {
    let cs = checks(r);
    let mut o = String::new();
    let version = r
        .model_version
        .as_deref()
        .map(|v| format!(" {v}"))
        .unwrap_or_default();
    let _ = writeln!(o, "## {} · {}{}\n", headline(r), md(&r.name), md(&version));
    let _ = writeln!(o, "**Why:** {}  ", why(r, &cs));
    let traffic = match (&r.traffic, r.info.traffic_read_at) {
        _ if !r.changed => md(&traffic_words(r)),
        (Some(t), at) if !t.split.is_empty() => {
            let parts: Vec<String> = roles(r)
                .into_iter()
                .map(|(role, name, p)| format!("{role} {} **{p}%**", code(&name)))
                .collect();
            let when = at.map_or(String::new(), |at| {
                format!(" at {} UTC", &rfc3339(at)[11..19])
            });
            format!(
                "{} (read back from {}{when})",
                parts.join(" · "),
                platform_name(&r.platform)
            )
        }
        _ => md(&traffic_words(r)),
    };
    let _ = writeln!(o, "**Traffic now:** {traffic}  ");
    let _ = writeln!(
        o,
        "**Where it {}:** {} · model {}\n",
        if matches!(r.outcome, Outcome::Promoted) {
            "ended"
        } else {
            "stopped"
        },
        where_stopped(r),
        code(&r.model_uri)
    );
    if !r.warnings.is_empty() {
        let _ = writeln!(o, "> [!WARNING]");
        for w in &r.warnings {
            let _ = writeln!(o, "> {}  ", md(w));
        }
        let _ = writeln!(o);
    }
    let _ = writeln!(o, "{}", stage_strip(r, &cs));
    if !r.info.guardrails.is_empty() {
        let _ = writeln!(o, "{}", guardrail_table(r, &cs));
    }
    for g in &r.info.guardrails {
        if near_a_limit(r, &cs, g) {
            if let Some(c) = chart(r, &cs, g) {
                let _ = writeln!(o, "{c}");
            }
        }
    }
    if let Some(c) = &r.compare {
        o.push_str(&super::compare::markdown(c));
    }
    if !cs.is_empty() && !r.dry_run {
        let _ = writeln!(o, "{}", all_checks(r, &cs));
    }
    o.push_str(&next_steps(r, links));
    o
}

/// Append Markdown to the file GitHub names in `GITHUB_STEP_SUMMARY` (nothing when unset).
pub fn append_step_summary(markdown: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let Some(p) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|v| !v.is_empty()) else {
        return Ok(());
    };
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(p)?;
    writeln!(f, "{markdown}")
}

/// `mlcanary plan` as a summary: the stages with their time, and every guardrail's rule in units.
pub fn plan_summary(c: &crate::config::Config, plan: &crate::core::plan::Plan) -> String {
    let info = super::record::RunInfo::new(c, plan);
    let version = c
        .model
        .version
        .as_deref()
        .map(|v| format!(" {v}"))
        .unwrap_or_default();
    let (planned, worst) = plan.totals();
    let mut o = String::new();
    let _ = writeln!(o, "## 📋 Plan · {}{}\n", md(&c.name), md(&version));
    let _ = writeln!(
        o,
        "**Model:** {} on {} · **Time:** {planned} planned, {worst} at worst (readiness waits not counted)\n",
        code(&c.model.uri),
        platform_name(c.target.platform.as_str())
    );
    let mut head = vec!["stage".to_string()];
    let mut row = vec!["checks".to_string()];
    for p in &info.plan {
        head.push(match p.mirror {
            0 => format!("{}%", p.weight),
            m => format!("shadow {m}%"),
        });
        row.push(p.checks.to_string());
    }
    let _ = writeln!(o, "| {} |", head.join(" | "));
    let _ = writeln!(o, "|{}", "---|".repeat(head.len()));
    let _ = writeln!(o, "| {} |\n", row.join(" | "));
    let _ = writeln!(o, "| guardrail | kind | rule |");
    let _ = writeln!(o, "|---|---|---|");
    for g in &info.guardrails {
        let kind = serde_json::to_value(g.kind)
            .ok()
            .and_then(|v| v.as_str().map(String::from));
        let flags = match (g.critical, g.dry_run) {
            (true, _) => " (critical)",
            (_, true) => " (dry run)",
            _ => "",
        };
        let _ = writeln!(
            o,
            "| {} | {}{flags} | {} |",
            md(&g.name),
            kind.unwrap_or_default(),
            md(&g.rule)
        );
    }
    let _ = writeln!(
        o,
        "\nA failed check is tolerated {} time(s) per guardrail (`failureLimit`).",
        info.failure_limit
    );
    o
}

/// A manual gate (`promote`, `rollback`, `status`) as a summary: what was done and where traffic
/// is, by role.
pub fn gate_summary(
    gate: &str,
    resource: &str,
    ok: bool,
    error: Option<&str>,
    traffic: Option<&crate::core::traffic::Traffic>,
    revisions: Option<&crate::core::traffic::Revisions>,
) -> String {
    let title = match (gate, ok) {
        (_, false) => format!("⚠️ {gate} failed"),
        ("promote", true) => "✅ Promoted by hand".into(),
        ("rollback", true) => "↩️ Rolled back by hand".into(),
        _ => "ℹ️ Status".into(),
    };
    let mut o = String::new();
    let _ = writeln!(o, "## {title} · {}\n", md(resource));
    if let Some(e) = error {
        let _ = writeln!(o, "**Why:** {}  ", md(e));
    }
    let words = match traffic {
        Some(t) => {
            let r = RunRecord {
                traffic: Some(t.clone()),
                info: super::record::RunInfo {
                    revisions: revisions.cloned(),
                    ..Default::default()
                },
                ..RunRecord::empty()
            };
            roles(&r)
                .into_iter()
                .map(|(role, name, p)| format!("{role} {} **{p}%**", code(&name)))
                .collect::<Vec<_>>()
                .join(" · ")
        }
        None => "the platform could not say".into(),
    };
    let _ = writeln!(o, "**Traffic now:** {words}");
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::record::PlannedPhase;

    fn stopped_in(label: &str) -> String {
        let phase = |label: &str, weight| PlannedPhase {
            label: label.into(),
            weight,
            mirror: 0,
            checks: 3,
        };
        let mut r = RunRecord::empty();
        r.info.plan = vec![
            phase("compare", 0),
            phase("shadow 10%", 0),
            phase("stage 1 (10%)", 10),
            phase("stage 2 (100%)", 100),
        ];
        r.stage = label.into();
        r.finished_at = 12_000;
        where_stopped(&r)
    }

    /// A traffic stage is counted among the plan's phases; the phases before any user traffic
    /// are named for what they are.
    #[test]
    fn where_it_stopped_names_the_phase_in_words() {
        assert_eq!(
            stopped_in("stage 1 (10%)"),
            "stage 1 (10%) of 4, 12s after start"
        );
        assert_eq!(
            stopped_in("compare"),
            "the prediction comparison, before any traffic stage, 12s after start"
        );
        assert_eq!(
            stopped_in("shadow 10%"),
            "shadow 10%, before any traffic stage, 12s after start"
        );
    }
}
