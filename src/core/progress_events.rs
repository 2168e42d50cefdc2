//! What a rollout tells its watchers as it goes: the [`Progress`] trait the loop (`rollout/`)
//! reports to, and what it reports (a [`CheckStatus`] per check, a [`Milestone`] for
//! notifications). Vocabulary only: the console (`report/`) and the webhooks (`notify/`) implement
//! it without depending on the loop.

use super::judgement::Judgement;
use super::machine::{Event, Outcome};
use super::plan::Stage;
use crate::config::NotifyEvent;
use serde_json::Value;

/// Progress as it happens, for the terminal and CI logs.
pub trait Progress {
    /// A new phase begins (stage or shadow).
    fn phase(&mut self, _label: &str) {}
    fn event(&mut self, line: &str);
    /// A milestone worth a notification (started, a stage, the end).
    fn milestone(&mut self, _m: &Milestone) {}
    /// A check was judged: where the rollout stands, for a one-line status.
    fn checked(&mut self, _c: &CheckStatus) {}
    /// A new journal entry of the machine (extensions, stage ends, the outcome).
    fn journal(&mut self, _e: &Event) {}
    /// Still waiting (warmup, readiness, the next check); a console shows it now and then.
    fn waiting(&mut self, _what: &str) {}
}

/// Where a rollout stands after a check.
pub struct CheckStatus<'a> {
    pub phase: &'a Stage,
    /// Traffic stages in the plan (the shadow phase not counted).
    pub stages: usize,
    /// 0-based check in the phase.
    pub check: usize,
    /// Milliseconds until the phase's last planned check.
    pub left_ms: i64,
    pub judgements: &'a [Judgement],
}

/// A point of the rollout worth telling someone about, as the driver reports it.
#[derive(Debug, Clone, Copy)]
pub struct Milestone<'m> {
    pub event: NotifyEvent,
    /// The template context (config.md "Template context") at that moment.
    pub ctx: &'m Value,
    /// The phase label (`stage 2 (25%)`, `shadow (10% mirrored)`).
    pub stage: &'m str,
    /// Set for the final event.
    pub outcome: Option<&'m Outcome>,
}

/// Prints nothing.
pub struct Quiet;
impl Progress for Quiet {
    fn event(&mut self, _: &str) {}
}
