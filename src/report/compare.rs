//! The prediction comparison in the step summary and the text report: the figures, why it
//! stopped, the few most different requests (inputs already cut to 160 characters; no header,
//! URL credential or key is part of the record), and examples of failed answers.

use crate::core::compare::Outcome;
use crate::core::judge::fmt_num;
use std::fmt::Write;

fn md(s: &str) -> String {
    super::github::one_line(s).replace('|', "\\|")
}

fn num(v: Option<f64>) -> String {
    v.map(fmt_num).unwrap_or_else(|| "-".into())
}

fn pct(v: Option<f64>) -> String {
    v.map(|x| format!("{}%", fmt_num(x * 100.0)))
        .unwrap_or_else(|| "-".into())
}

/// Markdown section for the step summary.
pub fn markdown(o: &Outcome) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "\n### Prediction comparison");
    if let Some(u) = &o.unreachable {
        let _ = writeln!(s, "\n**{}**", md(u));
    }
    if let Some(w) = &o.stopped_early {
        let _ = writeln!(s, "\n*{}*", md(w));
    }
    let _ = writeln!(
        s,
        "\n| requests | compared | disagreement | score diff mean / p99 / max | latency p50 stable / canary (ratio) | latency p99 stable / canary (ratio) | errors stable / canary |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|");
    let ms = |v: Option<f64>| {
        v.map(|x| format!("{} ms", fmt_num(x)))
            .unwrap_or("-".into())
    };
    let _ = writeln!(
        s,
        "| {} | {} | {} ({} of {}) | {} / {} / {} | {} / {} ({}) | {} / {} ({}) | {} / {} |",
        o.requests,
        o.compared,
        pct(o.disagreement),
        o.disagreements,
        o.compared,
        num(o.score_diff_mean),
        num(o.score_diff_p99),
        num(o.score_diff_max),
        ms(o.latency_p50_ms[0]),
        ms(o.latency_p50_ms[1]),
        num(o.latency_p50_ratio),
        ms(o.latency_p99_ms[0]),
        ms(o.latency_p99_ms[1]),
        num(o.latency_p99_ratio),
        pct(o.stable_error_rate),
        pct(o.canary_error_rate),
    );
    if !o.most_different.is_empty() {
        let _ = writeln!(s, "\nMost different requests:\n");
        let _ = writeln!(s, "| line | stable | canary | input |");
        let _ = writeln!(s, "|---|---|---|---|");
        for d in &o.most_different {
            let _ = writeln!(
                s,
                "| {} | {} | {} | `{}` |",
                d.line,
                md(&d.stable),
                md(&d.canary),
                md(&d.input).replace('`', "'")
            );
        }
    }
    if !o.error_examples.is_empty() {
        let _ = writeln!(s, "\nFailed answers (examples):\n");
        for e in &o.error_examples {
            let _ = writeln!(s, "- {} line {}: {}", e.side, e.line, md(&e.message));
        }
    }
    s
}
