//! JUnit XML: one test suite per stage, one test case per guardrail check (failed checks are
//! failures, provider errors are errors), so CI systems show guardrails as tests.

use super::record::RunRecord;
use crate::core::machine::EventKind;
use crate::core::verdict::Verdict;

fn xml(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .collect::<String>()
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub fn render(r: &RunRecord) -> String {
    let mut suites = Vec::new();
    let mut label = String::from("rollout");
    let mut cases: Vec<String> = Vec::new();
    let (mut failures, mut errors) = (0, 0);
    let flush = |label: &str,
                 cases: &mut Vec<String>,
                 f: &mut i32,
                 e: &mut i32,
                 out: &mut Vec<String>| {
        if !cases.is_empty() {
            out.push(format!(
                "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{f}\" errors=\"{e}\">\n{}\n  </testsuite>",
                xml(label),
                cases.len(),
                cases.join("\n")
            ));
        }
        cases.clear();
        *f = 0;
        *e = 0;
    };
    for ev in &r.events {
        match &ev.kind {
            EventKind::PhaseStarted { label: l, .. } => {
                flush(&label, &mut cases, &mut failures, &mut errors, &mut suites);
                label = l.clone();
            }
            EventKind::Check {
                check, judgements, ..
            } => {
                for j in judgements {
                    let name = format!("{} check {}", j.guardrail, check + 1);
                    let body = match j.verdict {
                        // A dry run sends no query: the check was not evaluated.
                        _ if r.dry_run => {
                            "<skipped message=\"dry run: not evaluated\"/>".to_string()
                        }
                        Verdict::Fail if !j.dry_run => {
                            failures += 1;
                            format!("<failure message=\"{}\"/>", xml(&j.detail))
                        }
                        Verdict::Error if !j.dry_run => {
                            errors += 1;
                            format!("<error message=\"{}\"/>", xml(&j.detail))
                        }
                        _ => format!("<system-out>{}</system-out>", xml(&j.detail)),
                    };
                    cases.push(format!(
                        "    <testcase classname=\"{}\" name=\"{}\">{body}</testcase>",
                        xml(&r.name),
                        xml(&name)
                    ));
                }
            }
            _ => {}
        }
    }
    flush(&label, &mut cases, &mut failures, &mut errors, &mut suites);
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"mlcanary {}\">\n{}\n</testsuites>\n",
        xml(&r.name),
        suites.join("\n")
    )
}
