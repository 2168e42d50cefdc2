//! Progress for a person watching the log. One collapsible section per stage (`::group::` in
//! GitHub Actions, `section_start`/`section_end` in GitLab CI), plain lines with the elapsed time
//! elsewhere. After each check one status line:
//! `stage 2/3 (30%) · check 4/20 · 5m10s left · error-rate 0.42% (pass < 0.5%)`; during long
//! waits (warmup, readiness, the next check) a heartbeat now and then; extensions announced; and
//! each stage's outcome on one line after its section closes, so the collapsed log still reads as
//! a story. Every line is made single-line first, so a value can never start a workflow command.

use super::github::{group, END_GROUP};
use super::record::GuardrailRule;
use super::redact::neutralise_line;
use crate::core::machine::{Event, EventKind};
use crate::core::progress_events::{CheckStatus, Progress};
use crate::core::units;
use crate::core::verdict::Verdict;
use std::io::Write;
use std::time::{Duration, Instant};

/// Which CI's log conventions to follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ci {
    GitHub,
    GitLab,
    Plain,
}

impl Ci {
    /// From the environment the CI sets (`GITHUB_ACTIONS`, `GITLAB_CI`).
    pub fn detect(env: &dyn Fn(&str) -> Option<String>) -> Ci {
        if env("GITHUB_ACTIONS").as_deref() == Some("true") {
            Ci::GitHub
        } else if env("GITLAB_CI").as_deref() == Some("true") {
            Ci::GitLab
        } else {
            Ci::Plain
        }
    }
}

pub struct Console<W: Write> {
    out: W,
    ci: Ci,
    /// The open section's id (GitLab needs it to close the section).
    open: Option<String>,
    sections: usize,
    /// Stage outcome lines printed once the stage's section has closed.
    after_close: Vec<String>,
    label: String,
    rules: Vec<GuardrailRule>,
    start: Instant,
    last_line: Instant,
    /// No heartbeat within this long of the last line.
    pub heartbeat_every: Duration,
}

impl<W: Write> Console<W> {
    pub fn new(out: W, ci: Ci) -> Self {
        Console {
            out,
            ci,
            open: None,
            sections: 0,
            after_close: Vec::new(),
            label: String::new(),
            rules: Vec::new(),
            start: Instant::now(),
            last_line: Instant::now(),
            heartbeat_every: Duration::from_secs(30),
        }
    }

    /// Guardrail rules for the status line's units and zones.
    pub fn with_rules(mut self, rules: Vec<GuardrailRule>) -> Self {
        self.rules = rules;
        self
    }

    fn line(&mut self, line: &str) {
        let line = neutralise_line(line);
        self.last_line = Instant::now();
        let _ = match self.ci {
            Ci::Plain => {
                let s = self.start.elapsed().as_secs();
                writeln!(self.out, "[{:>2}:{:02}] {line}", s / 60, s % 60)
            }
            _ => writeln!(self.out, "{line}"),
        };
    }

    fn close_section(&mut self) {
        if let Some(id) = self.open.take() {
            let _ = match self.ci {
                Ci::GitHub => writeln!(self.out, "{END_GROUP}"),
                Ci::GitLab => writeln!(self.out, "\x1b[0Ksection_end:{}:{id}\r\x1b[0K", unix_now()),
                Ci::Plain => Ok(()),
            };
        }
        for l in std::mem::take(&mut self.after_close) {
            self.line(&l);
        }
    }

    pub fn finish(&mut self) {
        self.close_section();
    }

    /// `stage 2/3 (30%) · check 4/20 · 5m10s left · error-rate 0.42% (pass < 0.5%)`.
    pub fn status_line(&self, c: &CheckStatus) -> String {
        let mut parts = vec![match (c.phase.index, c.phase.kind) {
            (Some(i), _) => format!("stage {}/{} ({}%)", i + 1, c.stages, c.phase.weight()),
            (None, crate::core::plan::PhaseKind::Shadow { percent }) => {
                format!("shadow {percent}%")
            }
            (None, _) => c.phase.label(),
        }];
        parts.push(format!("check {}/{}", c.check + 1, c.phase.checks.len()));
        parts.push(format!(
            "{} left",
            units::duration((c.left_ms.max(0) + 999) / 1000)
        ));
        for j in c.judgements {
            let rule = self.rules.iter().find(|g| g.name == j.guardrail);
            let unit = rule.and_then(|g| g.unit);
            let cond = |t: &Option<super::record::Threshold>| {
                t.as_ref().map(|t| {
                    format!(
                        "{} {}",
                        t.op.symbol(),
                        units::bound(t.value, t.relative, unit)
                    )
                })
            };
            let (p, r) = rule.map_or((None, None), |g| (cond(&g.promote), cond(&g.rollback)));
            let zone = match j.verdict {
                _ if j.dry_run => "dry run".to_string(),
                Verdict::Pass => p.map_or("pass".into(), |p| format!("pass {p}")),
                Verdict::Hold => match p {
                    Some(p) => format!("hold: pass needs {p}"),
                    None => "hold".into(),
                },
                Verdict::Fail => r.map_or("FAIL".into(), |r| format!("FAIL: roll back {r}")),
                Verdict::Error => "error".into(),
            };
            let value = j
                .value
                .map_or_else(|| "no value".to_string(), |v| units::value(v, unit));
            parts.push(format!("{} {value} ({zone})", j.guardrail));
        }
        parts.join(" · ")
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl<W: Write> Progress for Console<W> {
    fn phase(&mut self, label: &str) {
        self.close_section();
        self.label = label.to_string();
        self.sections += 1;
        let id = format!("mlcanary_stage_{}", self.sections);
        let _ = match self.ci {
            Ci::GitHub => writeln!(self.out, "{}", group(&super::redact::redact(label))),
            Ci::GitLab => writeln!(
                self.out,
                "\x1b[0Ksection_start:{}:{id}[collapsed=true]\r\x1b[0K{}",
                unix_now(),
                neutralise_line(label)
            ),
            Ci::Plain => Ok(()),
        };
        if self.ci != Ci::Plain {
            self.open = Some(id);
        }
    }
    fn event(&mut self, line: &str) {
        self.line(line);
    }
    fn checked(&mut self, c: &CheckStatus) {
        let s = self.status_line(c);
        self.line(&s);
    }
    fn journal(&mut self, e: &Event) {
        match &e.kind {
            EventKind::Extended { extension, reason } => {
                self.line(&format!(
                    "{}: extended (extension {extension}): {reason}",
                    self.label
                ));
            }
            EventKind::PhaseEnded { reason } => {
                let l = format!("{}: ✅ {reason}", self.label);
                match self.open {
                    Some(_) => self.after_close.push(l),
                    None => self.line(&l),
                }
            }
            // Outside a collapsible section the driver's own "rolling back: ..." line says it.
            EventKind::RollbackRequested { reason } if self.open.is_some() => {
                let l = format!("{}: ❌ rolling back: {reason}", self.label);
                self.after_close.push(l);
            }
            _ => {}
        }
    }
    fn waiting(&mut self, what: &str) {
        if self.last_line.elapsed() >= self.heartbeat_every {
            self.line(&format!("… {what}"));
        }
    }
}

impl<W: Write> Drop for Console<W> {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn console(ci: Ci) -> Console<Vec<u8>> {
        Console::new(Vec::new(), ci)
    }

    fn text(c: &mut Console<Vec<u8>>) -> String {
        c.finish();
        String::from_utf8(std::mem::take(&mut c.out)).unwrap()
    }

    fn ended(reason: &str) -> Event {
        Event {
            at: 0,
            phase: Some(0),
            kind: EventKind::PhaseEnded {
                reason: reason.into(),
            },
        }
    }

    #[test]
    fn the_stage_outcome_follows_its_closed_group() {
        let mut c = console(Ci::GitHub);
        c.phase("stage 1 (10%)");
        c.event("check 1");
        c.journal(&ended("every guardrail passes"));
        c.phase("stage 2 (30%)");
        let t = text(&mut c);
        assert_eq!(
            t,
            "::group::stage 1 (10%25)\ncheck 1\n::endgroup::\nstage 1 (10%): ✅ every guardrail passes\n::group::stage 2 (30%25)\n::endgroup::\n"
        );
    }

    #[test]
    fn gitlab_gets_collapsible_sections() {
        let mut c = console(Ci::GitLab);
        c.phase("stage 1 (10%)");
        c.event("check 1");
        let t = text(&mut c);
        let lines: Vec<&str> = t.lines().collect();
        assert!(
            lines[0].starts_with("\x1b[0Ksection_start:")
                && lines[0].ends_with(":mlcanary_stage_1[collapsed=true]\r\x1b[0Kstage 1 (10%)"),
            "{t:?}"
        );
        assert!(
            lines[2].starts_with("\x1b[0Ksection_end:") && lines[2].contains(":mlcanary_stage_1\r"),
            "{t:?}"
        );
        let env = |k: &str| (k == "GITLAB_CI").then(|| "true".to_string());
        assert_eq!(Ci::detect(&env), Ci::GitLab);
    }

    #[test]
    fn heartbeats_only_after_a_quiet_spell() {
        let mut c = console(Ci::GitHub);
        c.event("applying");
        c.waiting("waiting for the canary: 0/1 ready");
        assert!(!text(&mut c).contains("waiting"), "just printed something");
        c.heartbeat_every = Duration::ZERO;
        c.waiting("waiting for the canary: 0/1 ready");
        assert_eq!(text(&mut c), "… waiting for the canary: 0/1 ready\n");
    }
}
