//! The rollout state machine. Pure: the caller feeds it what happened ([`Input`]) and the current
//! time, and it answers the next thing to do ([`Action`]). The live loop, `replay`, `simulate`
//! and the tests all drive this same code; only the clock and the back-ends differ.
//!
//! Decision rules (config.md "Decisions"), per check, ignoring `dryRun` guardrails:
//! - a failed check on a `critical` guardrail, or more failed checks on one guardrail than
//!   `failureLimit` (counted over the whole rollout): roll back now;
//! - more consecutive provider errors on one guardrail than `errorLimit`: roll back now;
//! - at the end of a stage's pause: all pass -> advance; otherwise (a hold, an error, or a failure
//!   still within the limit) extend by one interval, at most `inconclusiveLimit` times, then
//!   `onInconclusive`;
//! - with `advanceEarly`, a check where every guardrail passes and a sequential test has proven
//!   the canary within tolerance ends the stage at once;
//! - past the deadline: roll back. A cancellation rolls back (or, with `onCancel: leave`, stops).
//!
//! A platform failure while moving forward rolls back and ends as a failure (exit 3).

use super::judge::Judgement;
use super::plan::{PhaseKind, Plan};
use super::verdict::Verdict;
use crate::config::{Config, OnCancel, OnInconclusive};
use serde::Serialize;

/// Milliseconds since the unix epoch, from the caller's clock.
pub type Millis = i64;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Limits {
    pub failure_limit: u32,
    pub inconclusive_limit: u32,
    pub error_limit: u32,
    pub on_inconclusive: OnInconclusive,
    pub on_cancel: OnCancel,
    pub deadline_ms: u64,
    pub advance_early: bool,
    pub ready_timeout_ms: u64,
    /// Longest wait between readiness polls (`target.readyPoll`); see [`ready_poll_delay`].
    pub ready_poll_ms: u64,
}

/// The first readiness poll comes this soon after a change (then the waits double).
pub const READY_POLL_FIRST_MS: u64 = 500;

/// Wait before readiness poll number `attempt + 1` after `attempt` polls said "not ready": 0.5 s,
/// 1 s, 2 s, 4 s, then `max_ms` (default 5 s) each. A canary that serves within a second of the
/// write is seen ready within a second, so its stage clock (and the judged traffic) starts then
/// rather than up to one long poll interval later; a slow one costs few API calls.
pub fn ready_poll_delay(attempt: u32, max_ms: u64) -> u64 {
    let first = READY_POLL_FIRST_MS.min(max_ms);
    first
        .saturating_mul(1u64 << attempt.min(20))
        .min(max_ms)
        .max(1)
}

impl Limits {
    pub fn from_config(c: &Config) -> Limits {
        let a = &c.analysis;
        Limits {
            failure_limit: a.failure_limit,
            inconclusive_limit: a.inconclusive_limit,
            error_limit: a.error_limit,
            on_inconclusive: a.on_inconclusive,
            on_cancel: a.on_cancel,
            deadline_ms: a.deadline.as_millis(),
            advance_early: a.advance_early,
            // In Argo watch mode "ready" means Argo finished the whole rollout.
            ready_timeout_ms: match (c.target.ready_timeout, crate::core::plan::Walk::of(c)) {
                (Some(d), _) => d.as_millis(),
                (None, crate::core::plan::Walk::ArgoWatch) => a.deadline.as_millis(),
                (None, crate::core::plan::Walk::Stages) => 600_000,
            },
            ready_poll_ms: c.target.ready_poll.map_or(5_000, |d| d.as_millis()),
        }
    }
}

/// How a rollout ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "result")]
pub enum Outcome {
    Promoted,
    /// A guardrail, a limit or the deadline rolled it back.
    RolledBack {
        reason: String,
    },
    /// Holds outlasted inconclusiveLimit with `onInconclusive: fail`: traffic left where it is.
    Inconclusive {
        reason: String,
    },
    /// The platform (or rollback itself) failed.
    Failed {
        reason: String,
        rolled_back: bool,
    },
    Interrupted {
        rolled_back: bool,
    },
}

impl Outcome {
    /// Exit codes of config.md.
    pub fn exit_code(&self) -> i32 {
        match self {
            Outcome::Promoted => 0,
            Outcome::RolledBack { .. } => 1,
            Outcome::Failed { .. } => 3,
            Outcome::Inconclusive { .. } => 4,
            Outcome::Interrupted { .. } => 130,
        }
    }
    /// `result` output: promoted | rolled-back | failed | inconclusive | interrupted.
    pub fn result(&self) -> &'static str {
        match self {
            Outcome::Promoted => "promoted",
            Outcome::RolledBack { .. } => "rolled-back",
            Outcome::Failed { .. } => "failed",
            Outcome::Inconclusive { .. } => "inconclusive",
            Outcome::Interrupted { .. } => "interrupted",
        }
    }
    pub fn reason(&self) -> Option<&str> {
        match self {
            Outcome::RolledBack { reason }
            | Outcome::Inconclusive { reason }
            | Outcome::Failed { reason, .. } => Some(reason),
            _ => None,
        }
    }
}

/// What the caller must do next.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Apply the new model: canary at `weight`, mirroring `mirror` percent. Answer Applied or PlatformError.
    Prepare {
        phase: usize,
        weight: u32,
        mirror: u32,
    },
    /// Move traffic. `mirror: Some(0)` turns mirroring off. Answer Applied or PlatformError.
    SetTraffic {
        phase: usize,
        weight: u32,
        mirror: Option<u32>,
    },
    /// Check readiness once. Answer Ready, NotReady or ReadyFailed.
    PollReady,
    /// Sleep until this time (or a cancellation). Answer Woke.
    SleepUntil(Millis),
    /// Run every guardrail of the phase. Answer Checked.
    Check { phase: usize, check: usize },
    /// Answer Applied or PlatformError.
    Promote,
    /// Answer Applied or PlatformError.
    Rollback { reason: String },
    /// The end.
    Finish(Outcome),
}

/// What happened since the last action.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    Start,
    Applied,
    /// The platform failed the last action, after the driver retried what a retry can fix; the
    /// rules here are the same for every kind, and the words go into the journal and the outcome.
    PlatformError(crate::core::fault::Fault),
    Ready,
    NotReady(String),
    ReadyFailed(String),
    Woke,
    Checked(Vec<Judgement>),
    Cancelled,
}

/// The machine's journal: every decision with its inputs.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub at: Millis,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase: Option<usize>,
    #[serde(flatten)]
    pub kind: EventKind,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase", tag = "event")]
pub enum EventKind {
    PhaseStarted {
        label: String,
        weight: u32,
        mirror: u32,
    },
    Ready,
    Check {
        check: usize,
        judgements: Vec<Judgement>,
        decision: String,
    },
    Extended {
        extension: u32,
        reason: String,
    },
    PhaseEnded {
        reason: String,
    },
    RollbackRequested {
        reason: String,
    },
    PlatformError {
        message: String,
    },
    Cancelled,
    Finished {
        outcome: Outcome,
    },
}

#[derive(Debug, Clone, PartialEq)]
enum St {
    Idle,
    Applying,
    /// `attempt`: polls so far that said "not ready" (drives [`ready_poll_delay`]).
    Polling {
        until: Millis,
        attempt: u32,
    },
    ReadySleep {
        until: Millis,
        attempt: u32,
    },
    CheckSleep,
    Checking,
    Promoting,
    RollingBack {
        then: Outcome,
    },
    Done,
}

pub struct Machine {
    plan: Plan,
    limits: Limits,
    st: St,
    start: Millis,
    phase: usize,
    phase_start: Millis,
    next_check: usize,
    extensions: u32,
    failed: Vec<u32>,
    errors: Vec<u32>,
    weight: u32,
    mirror: u32,
    events: Vec<Event>,
    /// Continue an earlier run: (phase, failed counts, its start).
    resume: Option<(usize, Vec<u32>, Millis)>,
}

impl Machine {
    pub fn new(plan: Plan, limits: Limits, guardrails: usize) -> Machine {
        Machine {
            plan,
            limits,
            st: St::Idle,
            start: 0,
            phase: 0,
            phase_start: 0,
            next_check: 0,
            extensions: 0,
            failed: vec![0; guardrails],
            errors: vec![0; guardrails],
            weight: 0,
            mirror: 0,
            events: Vec::new(),
            resume: None,
        }
    }

    pub fn plan(&self) -> &Plan {
        &self.plan
    }
    pub fn events(&self) -> &[Event] {
        &self.events
    }
    /// Where the machine believes traffic is: (canary weight, mirror percent), as last applied.
    pub fn traffic(&self) -> (u32, u32) {
        (self.weight, self.mirror)
    }
    pub fn phase(&self) -> usize {
        self.phase
    }
    pub fn phase_start(&self) -> Millis {
        self.phase_start
    }
    pub fn started_at(&self) -> Millis {
        self.start
    }
    /// Failed checks per guardrail so far.
    pub fn failed_counts(&self) -> &[u32] {
        &self.failed
    }

    /// Continue an earlier run at `phase` (before the first step): traffic is set to that phase's
    /// weight again (idempotent), failure counts carry over, the deadline counts from `started`.
    pub fn resume_at(&mut self, phase: usize, failed: Vec<u32>, started: Millis) {
        if phase < self.plan.stages.len() {
            self.resume = Some((phase, failed, started));
        }
    }

    pub fn is_done(&self) -> bool {
        self.st == St::Done
    }

    fn log(&mut self, at: Millis, kind: EventKind) {
        self.events.push(Event {
            at,
            phase: Some(self.phase),
            kind,
        });
    }

    /// Feed what happened at `now`; get the next action.
    pub fn step(&mut self, now: Millis, input: Input) -> Action {
        if self.st == St::Done {
            return Action::Finish(self.outcome().unwrap_or(Outcome::Promoted));
        }
        if input == Input::Cancelled {
            return self.cancel(now);
        }
        if let Input::PlatformError(fault) = &input {
            return self.platform_error(now, fault.message.clone());
        }
        let past_deadline =
            now.saturating_sub(self.start) as u64 > self.limits.deadline_ms && self.st != St::Idle;
        if past_deadline && !matches!(self.st, St::RollingBack { .. } | St::Promoting) {
            let reason = format!(
                "the deadline of {} passed",
                crate::config::Duration::from_millis(self.limits.deadline_ms)
            );
            return self.rollback(now, reason.clone(), Outcome::RolledBack { reason });
        }
        match (self.st.clone(), input) {
            (St::Idle, Input::Start) => self.start(now),
            (St::Applying, Input::Applied) => {
                let (w, m) = self.phase_traffic(self.phase);
                self.weight = w;
                self.mirror = m;
                let until = now + self.limits.ready_timeout_ms as i64;
                self.st = St::Polling { until, attempt: 0 };
                Action::PollReady
            }
            (St::Polling { until, .. }, Input::Ready) => {
                let _ = until;
                self.log(now, EventKind::Ready);
                self.phase_start = now;
                self.next_check = 0;
                self.extensions = 0;
                self.after_check_or_ready(now)
            }
            (St::Polling { until, attempt }, Input::NotReady(msg)) => {
                if now >= until {
                    let reason = format!(
                        "the canary was not ready within {}: {msg}",
                        crate::config::Duration::from_millis(self.limits.ready_timeout_ms)
                    );
                    return self.rollback(now, reason.clone(), Outcome::RolledBack { reason });
                }
                let delay = ready_poll_delay(attempt, self.limits.ready_poll_ms);
                let wake = (now + delay as i64).min(until);
                self.st = St::ReadySleep {
                    until,
                    attempt: attempt + 1,
                };
                Action::SleepUntil(wake)
            }
            (St::ReadySleep { until, attempt }, Input::Woke) => {
                self.st = St::Polling { until, attempt };
                Action::PollReady
            }
            (St::Polling { .. }, Input::ReadyFailed(msg)) => {
                let reason = format!("the canary failed: {msg}");
                self.rollback(now, reason.clone(), Outcome::RolledBack { reason })
            }
            (St::CheckSleep, Input::Woke) => {
                if now < self.check_time(self.next_check) {
                    return Action::SleepUntil(self.check_time(self.next_check));
                }
                self.st = St::Checking;
                Action::Check {
                    phase: self.phase,
                    check: self.next_check,
                }
            }
            (St::Checking, Input::Checked(js)) => self.checked(now, js),
            (St::Promoting, Input::Applied) => {
                self.weight = 100;
                self.mirror = 0;
                self.finish(now, Outcome::Promoted)
            }
            (St::RollingBack { then }, Input::Applied) => {
                self.weight = 0;
                self.mirror = 0;
                self.finish(now, then)
            }
            (st, input) => {
                // A caller bug: say so loudly rather than guess.
                panic!("rollout machine: unexpected input {input:?} in state {st:?}")
            }
        }
    }

    /// The first step: apply the new model (phase 0), or continue an earlier run at its phase.
    fn start(&mut self, now: Millis) -> Action {
        if let Some((phase, failed, started)) = self.resume.take() {
            self.start = started;
            self.phase = phase;
            if failed.len() == self.failed.len() {
                self.failed = failed;
            }
            let (weight, mirror) = self.phase_traffic(phase);
            self.begin_phase_log(now);
            self.st = St::Applying;
            if phase == 0 {
                // The new model's apply is idempotent: do it again.
                return Action::Prepare {
                    phase,
                    weight,
                    mirror,
                };
            }
            let shadow = matches!(self.plan.stages[phase].kind, PhaseKind::Shadow { .. });
            return Action::SetTraffic {
                phase,
                weight,
                mirror: shadow.then_some(mirror),
            };
        }
        self.start = now;
        self.phase = 0;
        let (weight, mirror) = self.phase_traffic(0);
        self.begin_phase_log(now);
        self.st = St::Applying;
        Action::Prepare {
            phase: 0,
            weight,
            mirror,
        }
    }

    fn outcome(&self) -> Option<Outcome> {
        self.events.iter().rev().find_map(|e| match &e.kind {
            EventKind::Finished { outcome } => Some(outcome.clone()),
            _ => None,
        })
    }

    fn phase_traffic(&self, phase: usize) -> (u32, u32) {
        match self.plan.stages[phase].kind {
            PhaseKind::Shadow { percent } => (0, percent),
            PhaseKind::Traffic { weight } => (weight, 0),
            PhaseKind::Compare => (0, 0),
        }
    }

    fn begin_phase_log(&mut self, now: Millis) {
        let s = &self.plan.stages[self.phase];
        let (weight, mirror) = self.phase_traffic(self.phase);
        let label = s.label();
        self.log(
            now,
            EventKind::PhaseStarted {
                label,
                weight,
                mirror,
            },
        );
    }

    /// Time of scheduled check `k` (extensions continue past the pause one interval at a time).
    fn check_time(&self, k: usize) -> Millis {
        let s = &self.plan.stages[self.phase];
        let off = if k < s.checks.len() {
            s.checks[k]
        } else {
            let ext = (k - s.checks.len() + 1) as u64;
            s.pause.as_millis() + ext * self.plan.interval.as_millis()
        };
        self.phase_start + off as Millis
    }

    fn scheduled_checks(&self) -> usize {
        self.plan.stages[self.phase].checks.len() + self.extensions as usize
    }

    fn after_check_or_ready(&mut self, now: Millis) -> Action {
        if self.next_check >= self.scheduled_checks() {
            return self.end_phase(
                now,
                "the stage's pause ended with every guardrail passing".into(),
            );
        }
        self.st = St::CheckSleep;
        let t = self.check_time(self.next_check);
        if t <= now {
            self.st = St::Checking;
            return Action::Check {
                phase: self.phase,
                check: self.next_check,
            };
        }
        Action::SleepUntil(t)
    }

    fn checked(&mut self, now: Millis, js: Vec<Judgement>) -> Action {
        let check = self.next_check;
        self.next_check += 1;
        let active: Vec<(usize, &Judgement)> = self.plan.stages[self.phase]
            .guardrails
            .iter()
            .copied()
            .zip(js.iter())
            .filter(|(_, j)| !j.dry_run)
            .collect();
        let rollback = self.count(&active);
        let all_pass = active.iter().all(|(_, j)| j.verdict == Verdict::Pass);
        // advanceEarly: every sequential guardrail proven within tolerance (the others passing).
        let sequential: Vec<&Judgement> = active
            .iter()
            .map(|(_, j)| *j)
            .filter(|j| j.sequential)
            .collect();
        let proven = !sequential.is_empty() && sequential.iter().all(|j| j.proven);
        let last = self.next_check >= self.scheduled_checks();
        let decision = self.decision(rollback.as_deref(), proven, all_pass, last);
        self.log(
            now,
            EventKind::Check {
                check,
                judgements: js.clone(),
                decision,
            },
        );
        if let Some(reason) = rollback {
            return self.rollback(now, reason.clone(), Outcome::RolledBack { reason });
        }
        if all_pass && self.limits.advance_early && proven {
            return self.end_phase(
                now,
                "every guardrail proven within tolerance (advanceEarly)".into(),
            );
        }
        if !last {
            return self.after_check_or_ready(now);
        }
        if all_pass {
            return self.end_phase(
                now,
                "the stage's pause ended with every guardrail passing".into(),
            );
        }
        self.not_all_passing(now, &active)
    }

    /// Counts the check's failures (whole rollout) and consecutive errors per guardrail; the
    /// reason to roll back, if a guardrail is critical or over its limit (the first one wins).
    fn count(&mut self, active: &[(usize, &Judgement)]) -> Option<String> {
        let mut rollback: Option<String> = None;
        for (gi, j) in active {
            match j.verdict {
                Verdict::Fail => self.failed[*gi] += 1,
                Verdict::Error => self.errors[*gi] += 1,
                _ => {}
            }
            if j.verdict != Verdict::Error {
                self.errors[*gi] = 0;
            }
            if rollback.is_some() {
                continue;
            }
            if j.verdict == Verdict::Fail && j.critical {
                rollback = Some(format!(
                    "critical guardrail {} failed: {}",
                    j.guardrail, j.detail
                ));
            } else if j.verdict == Verdict::Fail && self.failed[*gi] > self.limits.failure_limit {
                rollback = Some(format!(
                    "guardrail {} failed {} check(s) (failureLimit {}): {}",
                    j.guardrail, self.failed[*gi], self.limits.failure_limit, j.detail
                ));
            } else if j.verdict == Verdict::Error && self.errors[*gi] > self.limits.error_limit {
                rollback = Some(format!(
                    "guardrail {} had {} provider errors in a row (errorLimit {}): {}",
                    j.guardrail, self.errors[*gi], self.limits.error_limit, j.detail
                ));
            }
        }
        rollback
    }

    /// The check's decision in words, for the journal.
    fn decision(&self, rollback: Option<&str>, proven: bool, all_pass: bool, last: bool) -> String {
        match (rollback, all_pass, last) {
            (Some(r), _, _) => format!("roll back: {r}"),
            (None, true, _) if self.limits.advance_early && proven => {
                "advance early: every guardrail passes and the canary is proven within tolerance"
                    .to_string()
            }
            (None, true, true) => "advance: every guardrail passes".to_string(),
            (None, false, true) if self.extensions < self.limits.inconclusive_limit => {
                "extend: not every guardrail passes yet".to_string()
            }
            (None, false, true) => "inconclusive: holds outlasted inconclusiveLimit".to_string(),
            (None, _, false) => "continue".to_string(),
        }
    }

    /// The stage's last check with a guardrail not passing: extend the stage while
    /// `inconclusiveLimit` allows, then `onInconclusive`.
    fn not_all_passing(&mut self, now: Millis, active: &[(usize, &Judgement)]) -> Action {
        let waiting: Vec<String> = active
            .iter()
            .filter(|(_, j)| j.verdict != Verdict::Pass)
            .map(|(_, j)| {
                format!(
                    "{} ({})",
                    j.guardrail,
                    serde_json::to_value(j.verdict)
                        .ok()
                        .and_then(|v| v.as_str().map(String::from))
                        .unwrap_or_default()
                )
            })
            .collect();
        if self.extensions < self.limits.inconclusive_limit {
            self.extensions += 1;
            let reason = format!("waiting for {}", waiting.join(", "));
            self.log(
                now,
                EventKind::Extended {
                    extension: self.extensions,
                    reason,
                },
            );
            return self.after_check_or_ready(now);
        }
        let reason = format!(
            "{} stayed inconclusive after {} extension(s) (inconclusiveLimit)",
            waiting.join(", "),
            self.limits.inconclusive_limit
        );
        match self.limits.on_inconclusive {
            OnInconclusive::Rollback => {
                self.rollback(now, reason.clone(), Outcome::RolledBack { reason })
            }
            OnInconclusive::Fail => self.finish(now, Outcome::Inconclusive { reason }),
        }
    }

    fn end_phase(&mut self, now: Millis, reason: String) -> Action {
        self.log(now, EventKind::PhaseEnded { reason });
        if self.phase + 1 >= self.plan.stages.len() {
            self.st = St::Promoting;
            return Action::Promote;
        }
        let was_shadow = matches!(self.plan.stages[self.phase].kind, PhaseKind::Shadow { .. });
        let next = &self.plan.stages[self.phase + 1];
        if self.phase + 2 == self.plan.stages.len()
            && next.weight() == 100
            && next.checks.is_empty()
        {
            // The implied (unobserved) final 100%: promoting puts it there in one step.
            self.phase += 1;
            self.begin_phase_log(now);
            self.st = St::Promoting;
            return Action::Promote;
        }
        self.phase += 1;
        self.begin_phase_log(now);
        let (weight, mirror) = self.phase_traffic(self.phase);
        self.st = St::Applying;
        Action::SetTraffic {
            phase: self.phase,
            weight,
            mirror: if was_shadow || mirror > 0 {
                Some(mirror)
            } else {
                None
            },
        }
    }

    fn rollback(&mut self, now: Millis, reason: String, then: Outcome) -> Action {
        self.log(
            now,
            EventKind::RollbackRequested {
                reason: reason.clone(),
            },
        );
        self.st = St::RollingBack { then };
        Action::Rollback { reason }
    }

    fn finish(&mut self, now: Millis, outcome: Outcome) -> Action {
        self.log(
            now,
            EventKind::Finished {
                outcome: outcome.clone(),
            },
        );
        self.st = St::Done;
        Action::Finish(outcome)
    }

    fn platform_error(&mut self, now: Millis, message: String) -> Action {
        self.log(
            now,
            EventKind::PlatformError {
                message: message.clone(),
            },
        );
        match self.st.clone() {
            St::RollingBack { then } => {
                // Rollback itself failed: stop and report where traffic may be.
                let reason = match then.reason() {
                    Some(r) => format!("{r}; then the rollback failed: {message}"),
                    None => format!("the rollback failed: {message}"),
                };
                self.finish(
                    now,
                    Outcome::Failed {
                        reason,
                        rolled_back: false,
                    },
                )
            }
            St::Idle => self.finish(
                now,
                Outcome::Failed {
                    reason: message,
                    rolled_back: false,
                },
            ),
            _ => {
                let reason = format!("platform failure: {message}");
                self.rollback(
                    now,
                    reason.clone(),
                    Outcome::Failed {
                        reason,
                        rolled_back: true,
                    },
                )
            }
        }
    }

    fn cancel(&mut self, now: Millis) -> Action {
        self.log(now, EventKind::Cancelled);
        match (&self.st, self.limits.on_cancel) {
            (St::RollingBack { .. }, _) => {
                // Already rolling back: finish that first, but report the interruption.
                self.st = St::RollingBack {
                    then: Outcome::Interrupted { rolled_back: true },
                };
                Action::Rollback {
                    reason: "cancelled".into(),
                }
            }
            (St::Idle, _) => self.finish(now, Outcome::Interrupted { rolled_back: false }),
            (_, OnCancel::Leave) => self.finish(now, Outcome::Interrupted { rolled_back: false }),
            (_, OnCancel::Rollback) => self.rollback(
                now,
                "cancelled (SIGINT/SIGTERM/SIGHUP)".into(),
                Outcome::Interrupted { rolled_back: true },
            ),
        }
    }
}

#[cfg(test)]
#[path = "machine_tests.rs"]
mod tests;
