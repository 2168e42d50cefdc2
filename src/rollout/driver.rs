//! The loop that ties the pure machine to the edges: it performs each [`Action`] on the platform
//! or the providers and feeds the result back. Time comes from an injected [`Clock`], so tests,
//! `replay` and `simulate` run whole rollouts in milliseconds.
//!
//! Cancellation and the deadline must act fast even while a call is in flight: provider queries
//! run on a worker thread ([`interruptible`]) and are abandoned on a signal or at the deadline,
//! sleeps never outlast the deadline, and a signal seen after a write still lets the machine learn
//! that the write happened (so a promotion that completed is not then rolled back).

use super::build::Rendered;
use super::clock::{interruptible, Cancel, Clock, Waited};
use super::context::{self, Moment};
use crate::config::{Config, NotifyEvent};
use crate::core::guardrail::queries;
use crate::core::judge::{fmt_num, Fetched, Judge, Judgement};
use crate::core::judgement::{FetchError, FetchKind};
use crate::core::machine::{Action, Input, Limits, Machine, Outcome};
use crate::core::plan::Plan;
use crate::core::progress::{fingerprint, Progress as ProgressRecord, State};
use crate::core::verdict::Verdict;
use crate::metrics::{Observation, Provider, Query};
use crate::platform::{Platform, PlatformError, Readiness, Revisions};
use crate::render::Renderer;
use crate::report::record::{QueryRecord, RunRecord};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A provider the loop can query from a worker thread (and abandon there on a signal).
pub type SharedProvider = Arc<dyn Provider + Send + Sync>;

/// Makes shared providers of the boxed ones the builders return.
pub fn shared(
    providers: BTreeMap<String, Box<dyn Provider + Send + Sync>>,
) -> BTreeMap<String, SharedProvider> {
    providers
        .into_iter()
        .map(|(k, v)| (k, SharedProvider::from(v)))
        .collect()
}

pub use crate::core::progress_events::{CheckStatus, Progress, Quiet};

/// The longest silent sleep: longer waits are cut into slices with a `waiting` line between.
const HEARTBEAT_MS: i64 = 30_000;

pub struct Driver<'a> {
    pub config: &'a Config,
    pub plan: Plan,
    pub platform: Box<dyn Platform + 'a>,
    pub providers: BTreeMap<String, SharedProvider>,
    pub renderer: &'a Renderer,
    pub clock: &'a dyn Clock,
    pub cancel: Cancel,
    pub env: Map<String, Value>,
    /// Every phase's manifests, rendered before the run (`build::render_run`).
    pub rendered: Rendered,
}

/// How long a rollback keeps retrying after a signal: CI runners kill the process about ten
/// seconds after the first one.
pub const SIGNAL_GRACE_MS: i64 = 8_000;
/// A rollback keeps retrying a transient failure until the deadline, and at least this long (the
/// deadline is often why it rolls back).
pub const ROLLBACK_RETRY_MS: i64 = 120_000;
/// The longest wait between two rollback attempts.
pub const ROLLBACK_BACKOFF_MAX_MS: i64 = 30_000;
/// Reads of the revision names after readiness before the stage goes on without them.
const REVISION_READS: u32 = 3;
/// How long the final traffic read waits for the platform to reflect the last write.
const SETTLE_MS: i64 = 60_000;
/// The same after a signal (runners kill the process about 10 s after the first one).
const SETTLE_CANCELLED_MS: i64 = 4_000;
const SETTLE_POLL_MS: i64 = 250;

fn platform_msg(e: PlatformError) -> String {
    e.to_string()
}

/// The machine's view of a platform failure: its kind, from the typed error.
fn fault(e: PlatformError) -> Input {
    Input::PlatformError(crate::core::fault::Fault::from(&e))
}

/// A live run keeps its progress on the live object (`core::progress`) so a re-run can continue.
#[derive(Debug, Clone, PartialEq)]
pub struct Persist {
    pub run_id: String,
    /// Continue an earlier run: (phase, failed counts, started at).
    pub resume: Option<(usize, Vec<u32>, i64)>,
}

/// What the loop carries from step to step.
struct Run {
    machine: Machine,
    judge: Judge,
    /// The names the templates see as `canary` / `stable` (unknown revisions are `None`).
    revisions: Revisions,
    records: Vec<QueryRecord>,
    warnings: Vec<String>,
    /// This run continues an earlier one (which changed the platform).
    resumed: bool,
    /// When the run first saw a signal.
    signalled_at: Option<i64>,
    started: i64,
    /// Journal entries already passed to the progress.
    journalled: usize,
}

impl<'a> Driver<'a> {
    pub fn run(self, progress: &mut dyn Progress) -> RunRecord {
        self.run_with(progress, None)
    }

    /// Store the rollout's progress as it goes (at every traffic change and at the end).
    fn save(
        &mut self,
        persist: &Option<Persist>,
        st: &mut Run,
        state: State,
        weight: u32,
        progress: &mut dyn Progress,
    ) {
        let Some(p) = persist else { return };
        let c = self.config;
        let m = &st.machine;
        let record = ProgressRecord {
            run_id: p.run_id.clone(),
            model: fingerprint(&c.model.uri, c.model.version.as_deref()),
            version: c.model.version.clone(),
            state,
            phase: m.phase(),
            weight,
            started_at: m.started_at(),
            failed: m.failed_counts().to_vec(),
        };
        if let Err(e) = self.platform.save_progress(&record.encode()) {
            let w =
                format!("could not store the rollout's progress (a re-run will start over): {e}");
            progress.event(&w);
            st.warnings.push(w);
        }
    }

    /// The loop: step the machine, perform its action, feed back what happened, until it
    /// finishes; then [`Driver::finish`].
    pub fn run_with(mut self, progress: &mut dyn Progress, persist: Option<Persist>) -> RunRecord {
        let mut st = self.begin(progress, &persist);
        let deadline_ms =
            i64::try_from(self.config.analysis.deadline.as_millis()).unwrap_or(i64::MAX);
        let mut input = Input::Start;
        let mut cancel_seen = false;
        let outcome = loop {
            let now = self.clock.now_ms();
            if self.cancel.is_cancelled() && !cancel_seen {
                cancel_seen = true;
                // The grace after a signal counts from its first sight (maybe inside a rollback).
                st.signalled_at.get_or_insert(now);
                progress.event("cancelled: stopping the rollout");
                // A write that completed must reach the machine first: a finished promotion or
                // rollback stands, and a traffic change is known before deciding what to undo.
                if input == Input::Applied {
                    if let Action::Finish(o) = st.machine.step(now, Input::Applied) {
                        break o;
                    }
                }
                input = Input::Cancelled;
            }
            // The deadline as an instant, once the machine has started.
            let deadline_at = (input != Input::Start).then(|| {
                st.machine
                    .started_at()
                    .saturating_add(deadline_ms)
                    .saturating_add(1)
            });
            if let Some(d) = deadline_at {
                self.cancel.set_deadline(d);
            }
            let action = st.machine.step(now, input);
            for e in &st.machine.events()[st.journalled..] {
                progress.journal(e);
            }
            st.journalled = st.machine.events().len();
            // A fresh run's first apply: its record follows the write, so a run whose first apply
            // is refused has written nothing at all (a crash in between re-runs the same stage).
            let first_apply = matches!(action, Action::Prepare { .. }) && !st.resumed;
            let moves_traffic =
                matches!(action, Action::Prepare { .. } | Action::SetTraffic { .. });
            let weight = self.plan.stages[st.machine.phase()].weight();
            if moves_traffic && !first_apply {
                // Every later move: the record goes BEFORE the traffic write, so a crash between
                // the two leaves the record ahead and the re-run repeats the (idempotent, already
                // decided) move forward; the other order made it repeat the lower weight before.
                self.save(&persist, &mut st, State::InProgress, weight, progress);
            }
            input = match action {
                Action::Finish(o) => break o,
                action => self.perform(&mut st, action, deadline_at, progress),
            };
            if first_apply && input == Input::Applied {
                self.save(&persist, &mut st, State::InProgress, weight, progress);
            }
        };
        self.finish(st, outcome, &persist, progress)
    }

    /// The loop's state before the first step (resuming an earlier run when `persist` says so).
    fn begin(&mut self, progress: &mut dyn Progress, persist: &Option<Persist>) -> Run {
        let c = self.config;
        let mut machine = Machine::new(
            self.plan.clone(),
            Limits::from_config(c),
            c.guardrails.len(),
        );
        let resume = persist.as_ref().and_then(|p| p.resume.clone());
        if let Some((phase, failed, started)) = resume.clone() {
            progress.event(&format!(
                "resuming run {} at {}",
                persist.as_ref().map_or("", |p| p.run_id.as_str()),
                self.plan.stages[phase].label()
            ));
            machine.resume_at(phase, failed, started);
        }
        // Revision names the platform has not reported are unknown (a query using one is not
        // sent) until readiness, when the platform names them.
        let revisions = context::default_revisions(c);
        self.announce(progress, NotifyEvent::Started, 0, &revisions, None);
        Run {
            machine,
            judge: Judge::new(c),
            revisions,
            records: Vec::new(),
            warnings: Vec::new(),
            resumed: resume.is_some(),
            signalled_at: None,
            started: self.clock.now_ms(),
            journalled: 0,
        }
    }

    /// Perform one action on the platform or the providers; what happened, for the machine.
    fn perform(
        &mut self,
        st: &mut Run,
        action: Action,
        deadline_at: Option<i64>,
        progress: &mut dyn Progress,
    ) -> Input {
        match action {
            Action::Prepare {
                phase,
                weight,
                mirror,
            } => {
                self.begin_phase(progress, phase, &st.revisions);
                let what = self
                    .platform
                    .describe_prepare(weight)
                    .unwrap_or_else(|| format!("canary {weight}%{}", mirror_words(mirror)));
                progress.event(&format!(
                    "{}: applying the new model ({what})",
                    self.plan.stages[phase].label(),
                ));
                let manifests = self.rendered.phase(phase);
                applied(self.platform.prepare(weight, mirror, manifests))
            }
            Action::SetTraffic {
                phase,
                weight,
                mirror,
            } => {
                self.begin_phase(progress, phase, &st.revisions);
                progress.event(&format!(
                    "{}: moving {weight}% of traffic to the canary",
                    self.plan.stages[phase].label()
                ));
                // set_weight ends mirroring itself; only a new mirror percent needs a call.
                let r = self.platform.set_weight(weight).and_then(|_| match mirror {
                    Some(m) if m > 0 => self.platform.set_shadow(m),
                    _ => Ok(()),
                });
                applied(r)
            }
            Action::PollReady => match self.platform.poll_ready() {
                Ok(Readiness::Ready) => {
                    progress.event("canary ready");
                    self.read_revisions(&mut st.revisions, REVISION_READS, progress);
                    Input::Ready
                }
                Ok(Readiness::Pending(m)) => {
                    progress.waiting(&format!("waiting for the canary: {m}"));
                    Input::NotReady(m)
                }
                Ok(Readiness::Failed(m)) => Input::ReadyFailed(m),
                // A poll cut short by the deadline: still not ready, and the machine's next step
                // rolls back for the deadline (not as a platform failure).
                Err(e) if deadline_at.is_some_and(|d| self.clock.now_ms() >= d) => {
                    Input::NotReady(platform_msg(e))
                }
                Err(e) => fault(e),
            },
            Action::SleepUntil(t) => {
                // Never sleep past the deadline: the machine's next step enforces it.
                let t = deadline_at.map_or(t, |d| t.min(d));
                match self.sleep_with_heartbeat(t, progress) {
                    true => Input::Woke,
                    false => Input::Cancelled,
                }
            }
            Action::Check { phase, check } => self.check(st, (phase, check), deadline_at, progress),
            Action::Promote => {
                progress.event("promoting the canary to 100%");
                applied(self.platform.promote())
            }
            Action::Rollback { reason } => {
                progress.event(&format!("rolling back: {reason}"));
                if !st.resumed && !self.platform.has_written() {
                    progress.event("nothing to roll back: this run changed nothing");
                    Input::Applied
                } else {
                    applied(self.rollback(progress, &mut st.signalled_at, deadline_at))
                }
            }
            Action::Finish(_) => unreachable!("the loop ends at Finish"),
        }
    }

    /// Sleep until `t` in slices of at most [`HEARTBEAT_MS`], saying between them what is awaited;
    /// false when cancelled.
    fn sleep_with_heartbeat(&self, t: i64, progress: &mut dyn Progress) -> bool {
        loop {
            let now = self.clock.now_ms();
            if t - now > HEARTBEAT_MS {
                progress.waiting(&format!(
                    "next step in {}",
                    crate::core::units::duration((t - now + 999) / 1000)
                ));
            }
            let slice = t.min(now + HEARTBEAT_MS);
            if !self.clock.sleep_until(slice, &self.cancel) {
                return false;
            }
            if slice >= t {
                return true;
            }
        }
    }

    /// A new phase for the console and notifications.
    fn begin_phase(&self, progress: &mut dyn Progress, phase: usize, rev: &Revisions) {
        progress.phase(&self.plan.stages[phase].label());
        self.announce(progress, NotifyEvent::Stage, phase, rev, None);
    }

    /// Every guardrail of the phase, queried and judged now.
    fn check(
        &mut self,
        st: &mut Run,
        (phase, check): (usize, usize),
        deadline_at: Option<i64>,
        progress: &mut dyn Progress,
    ) -> Input {
        if !known(&st.revisions) {
            self.read_revisions(&mut st.revisions, 1, progress);
        }
        let now = self.clock.now_ms();
        let phase_start = st.machine.phase_start();
        let moment = Moment {
            phase,
            start: phase_start / 1000,
            elapsed: ((now - phase_start).max(0) / 1000) as u64,
        };
        let ctx = context::build(self.config, &self.plan, &moment, &st.revisions, &self.env);
        let weight = self.plan.stages[phase].weight() as f64 / 100.0;
        let mut js = Vec::new();
        for &gi in &self.plan.stages[phase].guardrails {
            if self.cancel.is_cancelled() {
                break; // the check is void; the loop's top feeds the cancellation
            }
            let (j, mut recs) = self.check_guardrail(
                &mut st.judge,
                gi,
                (phase, check),
                weight,
                &ctx,
                (now, deadline_at),
            );
            progress.event(&format!(
                "  check {}: {} {}: {}",
                check + 1,
                verdict_mark(j.verdict),
                j.guardrail,
                j.detail
            ));
            st.records.append(&mut recs);
            js.push(j);
        }
        let stage = &self.plan.stages[phase];
        let last = stage.checks.last().copied().unwrap_or(0) as i64;
        progress.checked(&CheckStatus {
            phase: stage,
            stages: self.plan.traffic_stages().count(),
            check,
            left_ms: phase_start + last - now,
            judgements: &js,
        });
        Input::Checked(js)
    }

    /// After the machine finished: store the final record, read where traffic is, announce the
    /// end, and build the run record.
    fn finish(
        mut self,
        mut st: Run,
        outcome: Outcome,
        persist: &Option<Persist>,
        progress: &mut dyn Progress,
    ) -> RunRecord {
        let c = self.config;
        let changed = st.resumed || self.platform.has_written();
        let outcome = if changed { outcome } else { unchanged(outcome) };
        let final_state = match &outcome {
            Outcome::Promoted => State::Promoted,
            Outcome::RolledBack { .. } => State::RolledBack,
            Outcome::Failed { .. } => State::Failed,
            Outcome::Inconclusive { .. } => State::Inconclusive,
            Outcome::Interrupted { .. } => State::Interrupted,
        };
        // A run that changed nothing leaves no record either (nothing to continue).
        if changed {
            let weight = st.machine.traffic().0;
            self.save(persist, &mut st, final_state, weight, progress);
        }
        let traffic_read_at = Some(self.clock.now_ms());
        let (traffic, traffic_error) = self.final_traffic(progress);
        let m = &st.machine;
        let final_weight = if changed { m.traffic().0 } else { 0 };
        let end = crate::notify::final_event(&outcome);
        self.announce(progress, end, m.phase(), &st.revisions, Some(&outcome));
        let mut r = RunRecord {
            started_at: st.started,
            finished_at: self.clock.now_ms(),
            outcome,
            final_weight,
            stage: self.plan.stages[m.phase()].label(),
            traffic,
            traffic_error,
            changed,
            events: m.events().to_vec(),
            queries: st.records,
            warnings: st.warnings,
            ..RunRecord::of(c, &self.plan)
        };
        r.info.run_id = persist
            .as_ref()
            .map(|p| p.run_id.clone())
            .unwrap_or_default();
        r.info.traffic_read_at = traffic_read_at;
        r.info.revisions = Some(st.revisions.clone());
        r
    }

    /// The final traffic, read once the platform's status reflects the last write (bounded:
    /// [`SETTLE_MS`], or [`SETTLE_CANCELLED_MS`] after a signal); when it does not in time the
    /// traffic read is reported as not yet confirmed by the platform.
    fn final_traffic(
        &mut self,
        progress: &mut dyn Progress,
    ) -> (Option<crate::platform::Traffic>, Option<String>) {
        let bound = if self.cancel.is_cancelled() {
            SETTLE_CANCELLED_MS
        } else {
            SETTLE_MS
        };
        let until = self.clock.now_ms().saturating_add(bound);
        let never = Cancel::new();
        let mut announced = false;
        let pending = loop {
            match self.platform.settled() {
                Ok(None) => break None,
                // A failed read is not "not yet": say so once, do not hammer a failing server.
                Err(e) => break Some(e.to_string()),
                Ok(Some(m)) if self.clock.now_ms() >= until => break Some(m),
                Ok(Some(m)) if !announced => {
                    announced = true;
                    progress.event(&format!(
                        "waiting for the platform to apply the change: {m}"
                    ));
                }
                _ => {}
            }
            let next = self
                .clock
                .now_ms()
                .saturating_add(SETTLE_POLL_MS)
                .min(until);
            self.clock.sleep_until(next, &never);
        };
        let unconfirmed = pending.map(|m| format!("not yet confirmed by the platform: {m}"));
        if let Some(u) = &unconfirmed {
            progress.event(u);
        }
        match self.platform.traffic() {
            Ok(t) => (Some(t), unconfirmed),
            Err(e) => (
                None,
                Some(unconfirmed.map_or(e.to_string(), |u| format!("{u}; {e}"))),
            ),
        }
    }

    /// One guardrail's queries and judgement. `at` is (now, the deadline instant): a query still
    /// unanswered at the deadline or at a cancellation is abandoned and counts as an error.
    fn check_guardrail(
        &self,
        judge: &mut Judge,
        gi: usize,
        (phase, check): (usize, usize),
        weight: f64,
        ctx: &Value,
        (now, deadline_at): (i64, Option<i64>),
    ) -> (Judgement, Vec<QueryRecord>) {
        let g = &self.config.guardrails[gi];
        let provider = self.providers.get(&g.provider);
        let mut fetched: Vec<Fetched> = Vec::new();
        let mut recs = Vec::new();
        for spec in queries(g) {
            let mut rec = QueryRecord {
                at: now,
                phase,
                check,
                guardrail: g.name.clone(),
                role: spec.role,
                provider: g.provider.clone(),
                query: String::new(),
                request: String::new(),
                value: None,
                error: None,
            };
            let result: Fetched =
                match super::build::query(self.config, self.renderer, g, &spec, ctx) {
                    Err(e) => Err(FetchError::new(
                        FetchKind::Render,
                        format!("cannot render the query: {e}"),
                    )),
                    Ok((text, filter)) => {
                        let q = Query {
                            text,
                            shape: spec.shape,
                            start: ctx["stage"]["start"].as_i64().unwrap_or(0),
                            end: now / 1000,
                            aggregation: g.aggregation.map(|a| format!("{a:?}")),
                            filter,
                        };
                        rec.query = q.text.clone();
                        match provider {
                            None => Err(FetchError::new(
                                FetchKind::NoProvider,
                                format!("provider {} is not available", g.provider),
                            )),
                            Some(p) => {
                                rec.request = p.describe(&q);
                                self.fetch(p, q, deadline_at)
                            }
                        }
                    }
                };
            match &result {
                Ok(o) => rec.value = Some(observation_json(o)),
                Err(e) => rec.error = Some(e.message.clone()),
            }
            recs.push(rec);
            fetched.push(result);
        }
        let j = match provider.and_then(|p| p.unjudged()) {
            Some(why) => not_evaluated(g, why),
            None => {
                let mut j = judge.judge(gi, phase, weight, &fetched);
                if let Some(reason) = provider.and_then(|p| p.fatal()) {
                    crate::core::compare::fail_judgement(&mut j, reason);
                }
                j
            }
        };
        (j, recs)
    }
}

impl Driver<'_> {
    /// Read the revision names (up to `attempts` times, backing off on the clock) until they are
    /// known. A failed or empty read never becomes a placeholder: the names stay unknown and a
    /// query that uses them is not sent (an error, never a verdict); the next check reads again.
    fn read_revisions(&mut self, rev: &mut Revisions, attempts: u32, progress: &mut dyn Progress) {
        let mut last = String::new();
        for attempt in 1..=attempts {
            match self.platform.revisions() {
                Ok(r) => {
                    *rev = merge_revisions(rev.clone(), r);
                    if known(rev) {
                        return;
                    }
                    last = "the platform did not name them yet".into();
                }
                Err(e) => last = e.to_string(),
            }
            if attempt < attempts {
                let at = self.clock.now_ms() + 1000 * i64::from(attempt);
                let at = self.cancel.deadline().map_or(at, |d| at.min(d));
                if !self.clock.sleep_until(at, &self.cancel) {
                    break;
                }
            }
        }
        progress.event(&format!(
            "the canary's revision names could not be read ({last}); queries that use them are not sent until they are"
        ));
    }

    /// Roll back, retrying a transient failure with backoff while time remains: until the deadline
    /// (at least [`ROLLBACK_RETRY_MS`]), or [`SIGNAL_GRACE_MS`] after a signal.
    fn rollback(
        &mut self,
        progress: &mut dyn Progress,
        signalled_at: &mut Option<i64>,
        deadline_at: Option<i64>,
    ) -> Result<(), PlatformError> {
        let start = self.clock.now_ms();
        let mut wait = 1000;
        loop {
            let err = match self.platform.rollback() {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            let now = self.clock.now_ms();
            if self.cancel.is_cancelled() && signalled_at.is_none() {
                *signalled_at = Some(now);
            }
            let until = match *signalled_at {
                Some(s) => s + SIGNAL_GRACE_MS,
                None => deadline_at.unwrap_or(start).max(start + ROLLBACK_RETRY_MS),
            };
            if !err.is_transient() || now + wait >= until {
                return Err(err);
            }
            progress.event(&format!(
                "the rollback failed ({err}); retrying in {}s",
                wait / 1000
            ));
            // After a signal the wait itself must not be cut short (it is already bounded).
            let guard = if signalled_at.is_some() {
                Cancel::new()
            } else {
                self.cancel.clone()
            };
            if !self.clock.sleep_until(now + wait, &guard) {
                *signalled_at = Some(self.clock.now_ms());
            }
            wait = (wait * 2).min(ROLLBACK_BACKOFF_MAX_MS);
        }
    }

    /// One provider query on a worker thread, abandoned on a signal or at the deadline.
    fn fetch(&self, p: &SharedProvider, q: Query, until: Option<i64>) -> Fetched {
        let p = Arc::clone(p);
        match interruptible(self.clock, &self.cancel, until, move || p.fetch(&q)) {
            Waited::Done(r) => r.map_err(|e| FetchError::from(&e)),
            Waited::Cancelled => Err(FetchError::new(
                FetchKind::Abandoned,
                "abandoned: the run was cancelled",
            )),
            Waited::TimedOut => Err(FetchError::new(
                FetchKind::Abandoned,
                "no answer before the rollout's deadline",
            )),
        }
    }

    /// Tell `progress` about a milestone, with the template context of `phase` now.
    fn announce(
        &self,
        progress: &mut dyn Progress,
        event: NotifyEvent,
        phase: usize,
        rev: &Revisions,
        outcome: Option<&crate::core::machine::Outcome>,
    ) {
        let at = Moment {
            phase,
            start: self.clock.now_ms() / 1000,
            elapsed: 0,
        };
        // Notifications name unknown revisions by placeholder rather than fail to render.
        let rev = context::with_placeholders(rev.clone());
        let ctx = context::build(self.config, &self.plan, &at, &rev, &self.env);
        let stage = self.plan.stages[phase].label();
        progress.milestone(&crate::notify::Milestone {
            event,
            ctx: &ctx,
            stage: &stage,
            outcome,
        });
    }
}

fn applied(r: Result<(), PlatformError>) -> Input {
    match r {
        Ok(()) => Input::Applied,
        Err(e) => fault(e),
    }
}

/// The judgement of a guardrail whose provider sent nothing (a dry run): it passes, so the walk
/// covers the whole plan, and says why it was not evaluated.
fn not_evaluated(g: &crate::config::Guardrail, why: &str) -> Judgement {
    Judgement {
        guardrail: g.name.clone(),
        verdict: Verdict::Pass,
        zone: crate::core::guardrail::Zone::Promote,
        value: None,
        detail: why.into(),
        stats: None,
        dry_run: g.dry_run,
        critical: g.critical,
        proven: false,
        sequential: g.sequential.is_some(),
    }
}

fn mirror_words(m: u32) -> String {
    if m > 0 {
        format!(", mirroring {m}%")
    } else {
        String::new()
    }
}

pub fn verdict_mark(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "pass",
        Verdict::Hold => "hold",
        Verdict::Fail => "FAIL",
        Verdict::Error => "ERROR",
    }
}

/// Whether every revision name is known.
fn known(r: &Revisions) -> bool {
    r.canary_revision.is_some() && r.stable_revision.is_some()
}

/// The outcome of a run that changed nothing: it rolled nothing back, and says so.
fn unchanged(o: crate::core::machine::Outcome) -> crate::core::machine::Outcome {
    use crate::core::machine::Outcome;
    const NOTE: &str = "nothing was changed";
    match o {
        Outcome::Failed { reason, .. } => Outcome::Failed {
            reason: format!("{reason} ({NOTE})"),
            rolled_back: false,
        },
        Outcome::RolledBack { reason } => Outcome::RolledBack {
            reason: format!("{reason} ({NOTE})"),
        },
        Outcome::Interrupted { .. } => Outcome::Interrupted { rolled_back: false },
        other => other,
    }
}

/// What the platform reported, over what was known (an empty name or an unknown revision in
/// the report keeps the earlier value).
fn merge_revisions(old: Revisions, new: Revisions) -> Revisions {
    let name = |new: String, old: String| if new.is_empty() { old } else { new };
    Revisions {
        canary_name: name(new.canary_name, old.canary_name),
        canary_revision: new.canary_revision.or(old.canary_revision),
        stable_name: name(new.stable_name, old.stable_name),
        stable_revision: new.stable_revision.or(old.stable_revision),
    }
}

fn observation_json(o: &Observation) -> Value {
    match o {
        Observation::NoData => Value::Null,
        Observation::Scalar(v) if v.is_finite() => serde_json::json!(v),
        Observation::Scalar(v) => Value::String(fmt_num(*v)),
        Observation::Histogram(b) => b
            .iter()
            .map(|b| serde_json::json!([b.le, b.count]))
            .collect(),
    }
}

/// The real loop on virtual time against in-process back-ends (`replay`, `simulate`): every
/// provider name of the config answers through `provider`.
pub fn virtual_run(
    config: &Config,
    renderer: &Renderer,
    platform: Box<dyn Platform>,
    provider: SharedProvider,
    start_ms: i64,
) -> RunRecord {
    let clock = super::clock::VirtualClock::new(start_ms);
    let providers = config
        .providers
        .keys()
        .map(|n| (n.clone(), Arc::clone(&provider)))
        .collect();
    let driver = Driver {
        config,
        plan: Plan::for_run(config),
        platform,
        providers,
        renderer,
        clock: &clock,
        cancel: Cancel::new(),
        env: Default::default(),
        rendered: Rendered::default(),
    };
    driver.run(&mut Quiet)
}
