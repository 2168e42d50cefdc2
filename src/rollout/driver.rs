//! The loop that ties the pure machine to the edges: it performs each [`Action`] on the platform
//! or the providers and feeds the result back. Time comes from an injected [`Clock`], so tests,
//! `replay` and `simulate` run whole rollouts in milliseconds.
//!
//! Cancellation and the deadline must act fast even while a call is in flight: provider queries
//! run on a worker thread ([`interruptible`]) and are abandoned on a signal or at the deadline,
//! sleeps never outlast the deadline, and a signal seen after a write still lets the machine learn
//! that the write happened (so a promotion that completed is not then rolled back).

use super::clock::{interruptible, Cancel, Clock, Waited};
use super::context::{self, Moment};
use crate::config::{Config, NotifyEvent, ProviderSpec};
use crate::core::guardrail::{queries, Role};
use crate::core::judge::{fmt_num, Fetched, Judge, Judgement};
use crate::core::machine::{Action, Input, Limits, Machine};
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

/// Progress as it happens, for the terminal and CI logs.
pub trait Progress {
    /// A new phase begins (stage or shadow).
    fn phase(&mut self, _label: &str) {}
    fn event(&mut self, line: &str);
    /// A milestone worth a notification (started, a stage, the end).
    fn milestone(&mut self, _m: &crate::notify::Milestone) {}
}

/// Prints nothing.
pub struct Quiet;
impl Progress for Quiet {
    fn event(&mut self, _: &str) {}
}

pub struct Driver<'a> {
    pub config: &'a Config,
    pub plan: Plan,
    pub platform: Box<dyn Platform + 'a>,
    pub providers: BTreeMap<String, SharedProvider>,
    pub renderer: &'a Renderer,
    pub clock: &'a dyn Clock,
    pub cancel: Cancel,
    pub env: Map<String, Value>,
    /// Dry run: the platform is a recorder, readiness is assumed, queries are rendered but not sent.
    pub dry_run: bool,
}

/// How long the final traffic read waits for the platform to reflect the last write.
const SETTLE_MS: i64 = 60_000;
/// The same after a signal (runners kill the process about 10 s after the first one).
const SETTLE_CANCELLED_MS: i64 = 4_000;
const SETTLE_POLL_MS: i64 = 250;

fn platform_msg(e: PlatformError) -> String {
    e.to_string()
}

/// A live run keeps its progress on the live object (`core::progress`) so a re-run can continue.
#[derive(Debug, Clone, PartialEq)]
pub struct Persist {
    pub run_id: String,
    /// Continue an earlier run: (phase, failed counts, started at).
    pub resume: Option<(usize, Vec<u32>, i64)>,
}

impl<'a> Driver<'a> {
    pub fn run(self, progress: &mut dyn Progress) -> RunRecord {
        self.run_with(progress, None)
    }

    /// Store the rollout's progress as it goes (at every traffic change and at the end).
    fn save(
        &mut self,
        persist: &Option<Persist>,
        machine: &Machine,
        state: State,
        weight: u32,
        warnings: &mut Vec<String>,
        progress: &mut dyn Progress,
    ) {
        let Some(p) = persist else { return };
        let c = self.config;
        let record = ProgressRecord {
            run_id: p.run_id.clone(),
            model: fingerprint(&c.model.uri, c.model.version.as_deref()),
            version: c.model.version.clone(),
            state,
            phase: machine.phase(),
            weight,
            started_at: machine.started_at(),
            failed: machine.failed_counts().to_vec(),
        };
        if let Err(e) = self.platform.save_progress(&record.encode()) {
            let w =
                format!("could not store the rollout's progress (a re-run will start over): {e}");
            progress.event(&w);
            warnings.push(w);
        }
    }

    pub fn run_with(mut self, progress: &mut dyn Progress, persist: Option<Persist>) -> RunRecord {
        let c = self.config;
        let mut machine = Machine::new(
            self.plan.clone(),
            Limits::from_config(c),
            c.guardrails.len(),
        );
        let mut warnings = Vec::new();
        if let Some((phase, failed, started)) = persist.as_ref().and_then(|p| p.resume.clone()) {
            progress.event(&format!(
                "resuming run {} at {}",
                persist.as_ref().map_or("", |p| p.run_id.as_str()),
                self.plan.stages[phase].label()
            ));
            machine.resume_at(phase, failed, started);
        }
        let mut judge = Judge::new(c);
        let mut revisions = context::default_revisions(c);
        let mut records = Vec::new();
        let mut input = Input::Start;
        let mut cancel_seen = false;
        let started = self.clock.now_ms();
        let deadline_ms = i64::try_from(c.analysis.deadline.as_millis()).unwrap_or(i64::MAX);
        self.announce(progress, NotifyEvent::Started, 0, &revisions, None);
        let outcome = loop {
            let now = self.clock.now_ms();
            if self.cancel.is_cancelled() && !cancel_seen {
                cancel_seen = true;
                progress.event("cancelled: stopping the rollout");
                // A write that completed must reach the machine first: a finished promotion or
                // rollback stands, and a traffic change is known before deciding what to undo.
                if input == Input::Applied {
                    if let Action::Finish(o) = machine.step(now, Input::Applied) {
                        break o;
                    }
                }
                input = Input::Cancelled;
            }
            // The deadline as an instant, once the machine has started.
            let deadline_at = (input != Input::Start).then(|| {
                machine
                    .started_at()
                    .saturating_add(deadline_ms)
                    .saturating_add(1)
            });
            if let Some(d) = deadline_at {
                self.cancel.set_deadline(d);
            }
            let action = machine.step(now, input);
            let moves_traffic =
                matches!(action, Action::Prepare { .. } | Action::SetTraffic { .. });
            if moves_traffic {
                // The record goes BEFORE the traffic write: a crash between the two leaves the
                // record ahead, and the re-run repeats the (idempotent, already decided) move
                // forward; the other order made it repeat the previous stage's lower weight.
                let weight = self.plan.stages[machine.phase()].weight();
                self.save(
                    &persist,
                    &machine,
                    State::InProgress,
                    weight,
                    &mut warnings,
                    progress,
                );
            }
            input = match action {
                Action::Prepare {
                    phase,
                    weight,
                    mirror,
                } => {
                    progress.phase(&self.plan.stages[phase].label());
                    self.announce(progress, NotifyEvent::Stage, phase, &revisions, None);
                    let what = self
                        .platform
                        .describe_prepare(weight)
                        .unwrap_or_else(|| format!("canary {weight}%{}", mirror_words(mirror)));
                    progress.event(&format!(
                        "{}: applying the new model ({what})",
                        self.plan.stages[phase].label(),
                    ));
                    applied(self.platform.prepare(weight, mirror))
                }
                Action::SetTraffic {
                    phase,
                    weight,
                    mirror,
                } => {
                    progress.phase(&self.plan.stages[phase].label());
                    self.announce(progress, NotifyEvent::Stage, phase, &revisions, None);
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
                Action::PollReady => {
                    if self.dry_run {
                        Input::Ready
                    } else {
                        match self.platform.poll_ready() {
                            Ok(Readiness::Ready) => {
                                if let Ok(r) = self.platform.revisions() {
                                    revisions = merge_revisions(revisions, r);
                                }
                                progress.event("canary ready");
                                Input::Ready
                            }
                            Ok(Readiness::Pending(m)) => Input::NotReady(m),
                            Ok(Readiness::Failed(m)) => Input::ReadyFailed(m),
                            // A poll cut short by the deadline: still not ready, and the machine's
                            // next step rolls back for the deadline (not as a platform failure).
                            Err(e) if deadline_at.is_some_and(|d| self.clock.now_ms() >= d) => {
                                Input::NotReady(platform_msg(e))
                            }
                            Err(e) => Input::PlatformError(platform_msg(e)),
                        }
                    }
                }
                Action::SleepUntil(t) => {
                    // Never sleep past the deadline: the machine's next step enforces it.
                    let t = deadline_at.map_or(t, |d| t.min(d));
                    if self.clock.sleep_until(t, &self.cancel) {
                        Input::Woke
                    } else {
                        Input::Cancelled
                    }
                }
                Action::Check { phase, check } => {
                    let now = self.clock.now_ms();
                    let moment = Moment {
                        phase,
                        start: machine.phase_start() / 1000,
                        elapsed: ((now - machine.phase_start()).max(0) / 1000) as u64,
                    };
                    let ctx = context::build(c, &self.plan, &moment, &revisions, &self.env);
                    let weight = self.plan.stages[phase].weight() as f64 / 100.0;
                    let mut js = Vec::new();
                    for &gi in &self.plan.stages[phase].guardrails {
                        if self.cancel.is_cancelled() {
                            break; // the check is void; the loop's top feeds the cancellation
                        }
                        let (j, mut recs) = self.check_guardrail(
                            &mut judge,
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
                        records.append(&mut recs);
                        js.push(j);
                    }
                    Input::Checked(js)
                }
                Action::Promote => {
                    progress.event("promoting the canary to 100%");
                    applied(self.platform.promote())
                }
                Action::Rollback { reason } => {
                    progress.event(&format!("rolling back: {reason}"));
                    applied(self.platform.rollback())
                }
                Action::Finish(o) => break o,
            };
        };
        let final_state = match &outcome {
            crate::core::machine::Outcome::Promoted => State::Promoted,
            crate::core::machine::Outcome::RolledBack { .. } => State::RolledBack,
            crate::core::machine::Outcome::Failed { .. } => State::Failed,
            crate::core::machine::Outcome::Inconclusive { .. } => State::Inconclusive,
            crate::core::machine::Outcome::Interrupted { .. } => State::Interrupted,
        };
        if !self.dry_run {
            let weight = machine.traffic().0;
            self.save(
                &persist,
                &machine,
                final_state,
                weight,
                &mut warnings,
                progress,
            );
        }
        let (traffic, traffic_error) = if self.dry_run {
            (None, None)
        } else {
            self.final_traffic(progress)
        };
        let (final_weight, _) = machine.traffic();
        let end = crate::notify::final_event(&outcome);
        self.announce(progress, end, machine.phase(), &revisions, Some(&outcome));
        RunRecord {
            name: c.name.clone(),
            platform: c.target.platform.as_str().into(),
            model_uri: c.model.uri.clone(),
            model_version: c.model.version.clone(),
            dry_run: self.dry_run,
            started_at: started,
            finished_at: self.clock.now_ms(),
            outcome,
            final_weight,
            stage: self.plan.stages[machine.phase()].label(),
            traffic,
            traffic_error,
            events: machine.events().to_vec(),
            queries: records,
            requests: Vec::new(),
            warnings,
        }
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
            let rendered = self.renderer.render_str(
                &format!("guardrail {} query", g.name),
                &spec.template,
                ctx,
            );
            let result: Fetched =
                match rendered.and_then(|t| self.provider_request(g, spec.role, t, ctx)) {
                    Err(e) => Err(format!("cannot render the query: {e}")),
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
                            None => Err(format!("provider {} is not available", g.provider)),
                            Some(p) => {
                                rec.request = p.describe(&q);
                                if self.dry_run {
                                    Ok(Observation::NoData)
                                } else {
                                    self.fetch(p, q, deadline_at)
                                }
                            }
                        }
                    }
                };
            match &result {
                Ok(o) => rec.value = Some(observation_json(o)),
                Err(e) => rec.error = Some(e.clone()),
            }
            recs.push(rec);
            fetched.push(result);
        }
        let j = if self.dry_run {
            Judgement {
                guardrail: g.name.clone(),
                verdict: Verdict::Pass,
                zone: crate::core::guardrail::Zone::Promote,
                value: None,
                detail: "dry run: query rendered, not sent".into(),
                stats: None,
                dry_run: g.dry_run,
                critical: g.critical,
                proven: false,
                sequential: g.sequential.is_some(),
            }
        } else {
            judge.judge(gi, phase, weight, &fetched)
        };
        let _ = Role::Canary;
        (j, recs)
    }
}

impl Driver<'_> {
    /// One provider query on a worker thread, abandoned on a signal or at the deadline.
    fn fetch(&self, p: &SharedProvider, q: Query, until: Option<i64>) -> Fetched {
        let p = Arc::clone(p);
        match interruptible(self.clock, &self.cancel, until, move || p.fetch(&q)) {
            Waited::Done(r) => r.map_err(|e| e.to_string()),
            Waited::Cancelled => Err("abandoned: the run was cancelled".into()),
            Waited::TimedOut => Err("no answer before the rollout's deadline".into()),
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
        let ctx = context::build(self.config, &self.plan, &at, rev, &self.env);
        let stage = self.plan.stages[phase].label();
        progress.milestone(&crate::notify::Milestone {
            event,
            ctx: &ctx,
            stage: &stage,
            outcome,
        });
    }

    /// What the provider receives for a rendered query: for `http` providers the provider's URL
    /// template, which sees the query as `{{ query }}`; for `azure-monitor` the `$filter`, by default
    /// the canary deployment.
    fn provider_request(
        &self,
        g: &crate::config::Guardrail,
        role: Role,
        query: String,
        ctx: &Value,
    ) -> Result<(String, Option<String>), crate::render::RenderError> {
        let what = |k: &str| format!("guardrail {} {k}", g.name);
        match self.config.providers.get(&g.provider) {
            Some(ProviderSpec::Http(h)) => {
                let mut c = ctx.clone();
                c["query"] = Value::String(query);
                Ok((self.renderer.render_str(&what("url"), &h.url, &c)?, None))
            }
            Some(ProviderSpec::AzureMonitor(_)) => {
                // A baseline query reads the stable deployment (a `filter` the user wrote is
                // rendered for both: use `{{ stable.name }}` / `{{ canary.name }}` there).
                let default = match role {
                    Role::Baseline | Role::BaselineEvents | Role::BaselineTotal => {
                        DEFAULT_AZURE_BASELINE_FILTER
                    }
                    _ => DEFAULT_AZURE_FILTER,
                };
                let f = g.filter.as_deref().unwrap_or(default);
                Ok((
                    query,
                    Some(self.renderer.render_str(&what("filter"), f, ctx)?),
                ))
            }
            _ => Ok((query, None)),
        }
    }
}

/// config.md: the Azure Monitor filter defaults to the canary deployment.
pub const DEFAULT_AZURE_FILTER: &str = "deployment eq '{{ canary.name }}'";
/// ... and for a baseline query, to the stable deployment.
pub const DEFAULT_AZURE_BASELINE_FILTER: &str = "deployment eq '{{ stable.name }}'";

fn applied(r: Result<(), PlatformError>) -> Input {
    match r {
        Ok(()) => Input::Applied,
        Err(e) => Input::PlatformError(platform_msg(e)),
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

fn merge_revisions(old: Revisions, new: Revisions) -> Revisions {
    Revisions {
        canary_name: new.canary_name,
        canary_revision: new.canary_revision.or(old.canary_revision),
        stable_name: new.stable_name,
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
        dry_run: false,
    };
    driver.run(&mut Quiet)
}
