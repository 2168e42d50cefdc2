//! JUnit XML that agrees with the decision. A `rollout` test case first: it passes only when the
//! canary was promoted, and fails with the outcome's reason otherwise (rolled back, inconclusive,
//! deadline, readiness, platform failure, interruption). Then one test suite per stage with one
//! test case per guardrail check: a failed check is a failure only when it counted (beyond
//! `failureLimit`, or a critical guardrail); a tolerated one passes with a note, as does a provider
//! error within `errorLimit`. Suites carry `timestamp` (RFC 3339) and `time` (seconds).

use super::json::rfc3339;
use super::record::RunRecord;
use crate::core::judgement::Judgement;
use crate::core::machine::{EventKind, Outcome};
use crate::core::verdict::Verdict;
use std::collections::HashMap;

fn xml(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .collect::<String>()
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn secs(ms: i64) -> String {
    format!("{:.3}", ms.max(0) as f64 / 1000.0)
}

struct Suite {
    label: String,
    start: i64,
    end: i64,
    cases: Vec<String>,
    failures: usize,
    errors: usize,
}

impl Suite {
    fn xml(&self) -> String {
        format!(
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" timestamp=\"{}\" time=\"{}\">\n{}\n  </testsuite>",
            xml(&self.label),
            self.cases.len(),
            self.failures,
            self.errors,
            rfc3339(self.start),
            secs(self.end - self.start),
            self.cases.join("\n")
        )
    }
}

fn rollout_case(r: &RunRecord) -> (String, bool) {
    let time = secs(r.finished_at - r.started_at);
    let open = format!(
        "    <testcase classname=\"{}\" name=\"rollout\" time=\"{time}\">",
        xml(&r.name)
    );
    let traffic = super::summary::traffic_words(r);
    match &r.outcome {
        Outcome::Promoted => (
            format!(
                "{open}<system-out>promoted; traffic now: {}</system-out></testcase>",
                xml(&traffic)
            ),
            false,
        ),
        o => {
            let reason = o
                .reason()
                .unwrap_or("the run was stopped before a decision");
            (
                format!(
                    "{open}<failure type=\"{}\" message=\"{}\">{}</failure></testcase>",
                    o.result(),
                    xml(&format!("{}: {reason}", o.result())),
                    xml(&format!("{reason}\ntraffic now: {traffic}"))
                ),
                true,
            )
        }
    }
}

/// Each guardrail's failed checks so far and provider errors in a row, for its `failureLimit`
/// and `errorLimit`.
#[derive(Default)]
struct Streaks<'r> {
    failed: HashMap<&'r str, u32>,
    errors_in_a_row: HashMap<&'r str, u32>,
}

impl<'r> Streaks<'r> {
    /// The body of one guardrail's check case; a failure or an error past its limit counts on
    /// `suite`.
    fn case_body(&mut self, r: &RunRecord, j: &'r Judgement, suite: &mut Suite) -> String {
        let rule = r.info.guardrails.iter().find(|g| g.name == j.guardrail);
        let critical = rule.is_some_and(|g| g.critical) || j.critical;
        let streak = self
            .errors_in_a_row
            .entry(j.guardrail.as_str())
            .or_default();
        match j.verdict {
            // A dry run sends no query: the check was not evaluated.
            _ if r.dry_run => "<skipped message=\"dry run: not evaluated\"/>".to_string(),
            _ if j.dry_run => {
                format!(
                    "<system-out>dry run (never acts): {}</system-out>",
                    xml(&j.detail)
                )
            }
            Verdict::Fail => {
                *streak = 0;
                let n = self.failed.entry(j.guardrail.as_str()).or_default();
                *n += 1;
                if critical || *n > r.info.failure_limit {
                    suite.failures += 1;
                    format!("<failure message=\"{}\"/>", xml(&j.detail))
                } else {
                    format!(
                        "<system-out>failed check {n} of {} tolerated (failureLimit): {}</system-out>",
                        r.info.failure_limit,
                        xml(&j.detail)
                    )
                }
            }
            Verdict::Error => {
                *streak += 1;
                if *streak > r.info.error_limit {
                    suite.errors += 1;
                    format!("<error message=\"{}\"/>", xml(&j.detail))
                } else {
                    format!(
                        "<system-out>provider error {streak} in a row, {} tolerated (errorLimit): {}</system-out>",
                        r.info.error_limit,
                        xml(&j.detail)
                    )
                }
            }
            _ => {
                *streak = 0;
                format!("<system-out>{}</system-out>", xml(&j.detail))
            }
        }
    }
}

pub fn render(r: &RunRecord) -> String {
    let mut suites: Vec<Suite> = Vec::new();
    let (rollout, failed) = rollout_case(r);
    suites.push(Suite {
        label: "rollout".into(),
        start: r.started_at,
        end: r.finished_at,
        cases: vec![rollout],
        failures: usize::from(failed),
        errors: 0,
    });
    let mut streaks = Streaks::default();
    let mut previous = r.started_at;
    for ev in &r.events {
        match &ev.kind {
            EventKind::PhaseStarted { label, .. } => {
                if let Some(s) = suites.last_mut() {
                    s.end = s.end.max(ev.at);
                }
                suites.push(Suite {
                    label: label.clone(),
                    start: ev.at,
                    end: ev.at,
                    cases: Vec::new(),
                    failures: 0,
                    errors: 0,
                });
                previous = ev.at;
            }
            EventKind::Check {
                check, judgements, ..
            } => {
                let Some(suite) = suites.last_mut().filter(|s| s.label != "rollout") else {
                    continue;
                };
                suite.end = ev.at;
                let time = secs(ev.at - previous);
                previous = ev.at;
                for j in judgements {
                    let body = streaks.case_body(r, j, suite);
                    suite.cases.push(format!(
                        "    <testcase classname=\"{}\" name=\"{}\" time=\"{time}\">{body}</testcase>",
                        xml(&r.name),
                        xml(&format!("{} check {}", j.guardrail, check + 1))
                    ));
                }
            }
            _ => {}
        }
    }
    if let Some(s) = suites.last_mut() {
        s.end = s.end.max(r.finished_at);
    }
    suites.retain(|s| !s.cases.is_empty());
    let tests: usize = suites.iter().map(|s| s.cases.len()).sum();
    let failures: usize = suites.iter().map(|s| s.failures).sum();
    let errors: usize = suites.iter().map(|s| s.errors).sum();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"mlcanary {}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" time=\"{}\" timestamp=\"{}\">\n{}\n</testsuites>\n",
        xml(&r.name),
        secs(r.finished_at - r.started_at),
        rfc3339(r.started_at),
        suites.iter().map(Suite::xml).collect::<Vec<_>>().join("\n")
    )
}
