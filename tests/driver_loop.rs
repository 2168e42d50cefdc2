//! The rollout loop end to end on a virtual clock, with an in-memory platform and a scripted
//! provider: what the live run does, minus the network. Also checks the report writers on the
//! records it produces.

use mlcanary::config::load_str;
use mlcanary::core::plan::Plan;
use mlcanary::metrics::{Observation, Provider, ProviderError, Query};
use mlcanary::platform::{Platform, PlatformError, Readiness, Revisions, Traffic};
use mlcanary::render::Renderer;
use mlcanary::report::record::RunRecord;
use mlcanary::rollout::clock::{Cancel, VirtualClock};
use mlcanary::rollout::driver::{Driver, Quiet, SharedProvider};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::{Arc, Mutex};

const CONFIG: &str = r#"
apiVersion: mlcanary/v1
name: fraud
model: {uri: s3://m/v2, format: sklearn, version: v2}
target: {platform: kserve, namespace: ml}
stages: [{weight: 5, pause: 2m}, {weight: 50, pause: 2m}]
analysis: {interval: 1m, warmup: 0s, errorLimit: 2}
providers: {prom: {type: prometheus, address: "http://prom:9090"}}
guardrails:
  - name: error-rate
    provider: prom
    query: errors{rev="{{ canary.revision }}"}
    promote: "< 0.5%"
    rollback: "> 1%"
"#;

#[derive(Default)]
struct World {
    weight: u32,
    calls: Vec<String>,
    polls: u32,
    /// Reads of the revision names that fail (a 500 after the client's retries), then answer.
    revision_failures: u32,
    /// Rollbacks that fail with `rollback_error`, then succeed.
    rollback_failures: u32,
    rollback_error: Option<fn() -> PlatformError>,
    /// The first apply fails before writing anything (a refused server-side dry run).
    prepare_refused: bool,
    wrote: bool,
    /// Set when the first rollback is attempted (a signal arriving then).
    cancel_on_rollback: Option<Cancel>,
}

fn server_error() -> PlatformError {
    PlatformError::Kube {
        request: "PATCH /x".into(),
        error: Box::new(mlcanary::clients::kube::KubeError::Api {
            code: 500,
            reason: "InternalError".into(),
            message: "etcd timeout".into(),
        }),
    }
}

struct FakePlatform(Rc<RefCell<World>>);

impl Platform for FakePlatform {
    fn prepare(
        &mut self,
        weight: u32,
        _mirror: u32,
        _: &[serde_json::Value],
    ) -> Result<(), PlatformError> {
        let mut w = self.0.borrow_mut();
        w.calls.push(format!("prepare {weight}"));
        if w.prepare_refused {
            return Err(PlatformError::Other(
                "refused by the server-side dry run".into(),
            ));
        }
        w.weight = weight;
        w.wrote = true;
        Ok(())
    }
    fn poll_ready(&mut self) -> Result<Readiness, PlatformError> {
        let mut w = self.0.borrow_mut();
        w.polls += 1;
        // Every change needs two polls to converge, like a controller.
        Ok(if w.polls.is_multiple_of(2) {
            Readiness::Ready
        } else {
            Readiness::Pending("converging".into())
        })
    }
    fn set_weight(&mut self, weight: u32) -> Result<(), PlatformError> {
        let mut w = self.0.borrow_mut();
        w.weight = weight;
        w.calls.push(format!("weight {weight}"));
        Ok(())
    }
    fn set_shadow(&mut self, _percent: u32) -> Result<(), PlatformError> {
        Ok(())
    }
    fn traffic(&mut self) -> Result<Traffic, PlatformError> {
        let w = self.0.borrow().weight;
        Ok(Traffic {
            split: BTreeMap::from([("fraud-00002".into(), w), ("fraud-00001".into(), 100 - w)]),
            mirror: BTreeMap::new(),
        })
    }
    fn revisions(&mut self) -> Result<Revisions, PlatformError> {
        let mut w = self.0.borrow_mut();
        w.calls.push("revisions".into());
        if w.revision_failures > 0 {
            w.revision_failures -= 1;
            return Err(server_error());
        }
        Ok(Revisions {
            canary_name: "fraud".into(),
            canary_revision: Some("fraud-00002".into()),
            stable_name: "fraud".into(),
            stable_revision: Some("fraud-00001".into()),
        })
    }
    fn promote(&mut self) -> Result<(), PlatformError> {
        let mut w = self.0.borrow_mut();
        w.weight = 100;
        w.calls.push("promote".into());
        Ok(())
    }
    fn rollback(&mut self) -> Result<(), PlatformError> {
        let mut w = self.0.borrow_mut();
        w.calls.push("rollback".into());
        if let Some(c) = w.cancel_on_rollback.take() {
            c.cancel();
        }
        if w.rollback_failures > 0 {
            w.rollback_failures -= 1;
            return Err(w.rollback_error.unwrap_or(server_error)());
        }
        w.weight = 0;
        Ok(())
    }
    fn has_written(&self) -> bool {
        self.0.borrow().wrote
    }
}

type Answer = Box<dyn Fn(&str) -> Result<Observation, ProviderError> + Send + Sync>;

/// Answers from a script: (query text) -> result.
struct Scripted(Answer, Arc<Mutex<Vec<String>>>);

impl Provider for Scripted {
    fn fetch(&self, q: &Query) -> Result<Observation, ProviderError> {
        self.1.lock().unwrap().push(q.text.clone());
        (self.0)(&q.text)
    }
    fn describe(&self, q: &Query) -> String {
        format!("GET /api/v1/query?query={}", q.text)
    }
}

fn run(
    answer: impl Fn(&str) -> Result<Observation, ProviderError> + Send + Sync + 'static,
) -> (RunRecord, Rc<RefCell<World>>, Vec<String>) {
    run_in(World::default(), Cancel::new(), answer)
}

fn run_in(
    world: World,
    cancel: Cancel,
    answer: impl Fn(&str) -> Result<Observation, ProviderError> + Send + Sync + 'static,
) -> (RunRecord, Rc<RefCell<World>>, Vec<String>) {
    let c = load_str("c.yaml", CONFIG, None).unwrap();
    let world = Rc::new(RefCell::new(world));
    let sent = Arc::new(Mutex::new(Vec::new()));
    let renderer = Renderer::new(None).unwrap();
    let clock = VirtualClock::new(1_767_225_600_000);
    let mut providers: BTreeMap<String, SharedProvider> = BTreeMap::new();
    providers.insert(
        "prom".into(),
        Arc::new(Scripted(Box::new(answer), sent.clone())),
    );
    let d = Driver {
        config: &c,
        plan: Plan::for_run(&c),
        platform: Box::new(FakePlatform(world.clone())),
        providers,
        renderer: &renderer,
        clock: &clock,
        cancel,
        env: Default::default(),
        rendered: Default::default(),
    };
    let r = d.run(&mut Quiet);
    let sent = sent.lock().unwrap().clone();
    (r, world, sent)
}

#[test]
fn a_healthy_canary_is_promoted_through_every_stage() {
    let (r, world, sent) = run(|_| Ok(Observation::Scalar(0.001)));
    assert_eq!(r.outcome.result(), "promoted");
    let calls: Vec<String> = world.borrow().calls.clone();
    let calls: Vec<&String> = calls.iter().filter(|c| *c != "revisions").collect();
    assert_eq!(calls, ["prepare 5", "weight 50", "promote"]);
    // 2 stages x 3 checks, each with the revision the platform reported rendered into the query.
    assert_eq!(sent.len(), 6);
    assert!(
        sent.iter().all(|q| q == "errors{rev=\"fraud-00002\"}"),
        "{sent:?}"
    );
    assert_eq!(r.final_weight, 100);
    assert_eq!(r.traffic.as_ref().unwrap().split["fraud-00002"], 100);
    // 2 stages of 2m, plus one readiness re-poll per change, 0.5 s after the first "not ready"
    // (polls start fast: core::machine::ready_poll_delay).
    assert_eq!(r.duration_seconds(), 241);
}

#[test]
fn a_canary_with_5_percent_errors_is_rolled_back_at_the_first_check() {
    let (r, world, sent) = run(|_| Ok(Observation::Scalar(0.05)));
    assert_eq!(r.outcome.exit_code(), 1);
    assert_eq!(world.borrow().calls, ["prepare 5", "revisions", "rollback"]);
    assert_eq!(sent.len(), 1);
    let why = r.outcome.reason().unwrap();
    assert!(
        why.contains("error-rate = 5%: in the rollback zone (> 1%)"),
        "{why}"
    );
    assert_eq!(r.traffic.as_ref().unwrap().split["fraud-00001"], 100);
}

#[test]
fn a_provider_down_rolls_back_after_error_limit_and_says_why() {
    let (r, world, sent) = run(|_| {
        Err(ProviderError::Transport {
            url: "http://prom:9090".into(),
            message: "connection refused".into(),
        })
    });
    assert_eq!(r.outcome.exit_code(), 1);
    assert_eq!(
        sent.len(),
        3,
        "errorLimit 2: the third consecutive error rolls back"
    );
    assert!(r
        .outcome
        .reason()
        .unwrap()
        .contains("3 provider errors in a row (errorLimit 2)"));
    assert!(r.outcome.reason().unwrap().contains("connection refused"));
    assert_eq!(world.borrow().weight, 0);
    let q = &r.queries[0];
    assert_eq!(
        q.error.as_deref(),
        Some("cannot reach http://prom:9090: connection refused")
    );
}

#[test]
fn reports_over_a_rolled_back_run() {
    let (r, _, _) = run(|_| Ok(Observation::Scalar(0.05)));
    let s = mlcanary::report::summary::render(&r);
    let first: Vec<&str> = s.lines().take(3).collect();
    assert_eq!(first[0], "## ❌ Rolled back · fraud v2");
    assert_eq!(
        first[2],
        "**Why:** `error-rate` was **5%**, above the **1%** rollback limit, in 1 check (`failureLimit: 0`).  ",
        "{s}"
    );
    assert!(
        s.contains("**Traffic now:** stable `fraud-00001` **100%** · canary `fraud-00002` **0%** (read back from KServe at 00:0"),
        "{s}"
    );
    assert!(s.contains("| time | error-rate | decision |"), "{s}");
    assert!(s.contains("| +0s | 5% **FAIL** | roll back:"), "{s}");
    let x = mlcanary::report::junit::render(&r);
    assert!(
        x.contains(
            "<testsuite name=\"stage 1 (5%)\" tests=\"1\" failures=\"1\" errors=\"0\" timestamp="
        ),
        "{x}"
    );
    assert!(
        x.contains("<failure message=\"error-rate = 5%: in the rollback zone (&gt; 1%)\"/>"),
        "{x}"
    );
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    mlcanary::report::outputs::write(&out, &r, Some(std::path::Path::new("report.json"))).unwrap();
    let text = std::fs::read_to_string(&out).unwrap();
    for (k, v) in [
        ("result", "rolled-back"),
        ("final-weight", "0"),
        ("stage", "stage 1 (5%)"),
        ("reason", "guardrail error-rate failed 1 check(s) (failureLimit 0): error-rate = 5%: in the rollback zone (> 1%)"),
        ("report", "report.json"),
    ] {
        let line = text
            .lines()
            .skip_while(|l| !l.starts_with(&format!("{k}<<")))
            .nth(1)
            .unwrap();
        assert_eq!(line, v, "{k}");
    }
    let env = mlcanary::report::outputs::dotenv(&r, None);
    assert_eq!(
        env.lines().take(4).collect::<Vec<_>>(),
        [
            "MLCANARY_RESULT=rolled-back",
            "MLCANARY_FINAL_WEIGHT=0",
            "MLCANARY_STAGE=stage 1 (5%)",
            "MLCANARY_REASON=guardrail error-rate failed 1 check(s) (failureLimit 0): error-rate = 5%: in the rollback zone (> 1%)",
        ]
    );
}

/// The calls the platform saw, without the reads of revision names.
fn writes(world: &Rc<RefCell<World>>) -> Vec<String> {
    let calls = world.borrow().calls.clone();
    calls.into_iter().filter(|c| c != "revisions").collect()
}

#[test]
fn revision_names_that_fail_to_read_after_readiness_are_read_again() {
    let world = World {
        revision_failures: 2,
        ..World::default()
    };
    let (r, _, sent) = run_in(world, Cancel::new(), |_| Ok(Observation::Scalar(0.001)));
    assert_eq!(r.outcome.result(), "promoted");
    assert_eq!(sent.len(), 6);
    assert!(
        sent.iter().all(|q| q == "errors{rev=\"fraud-00002\"}"),
        "never a placeholder: {sent:?}"
    );
}

#[test]
fn a_stage_is_never_judged_on_revision_names_that_could_not_be_read() {
    let world = World {
        revision_failures: u32::MAX,
        ..World::default()
    };
    let (r, world, sent) = run_in(world, Cancel::new(), |_| Ok(Observation::Scalar(0.001)));
    assert!(sent.is_empty(), "no query goes out unrendered: {sent:?}");
    assert_ne!(r.outcome.result(), "promoted");
    for q in &r.queries {
        let e = q.error.as_deref().unwrap_or("");
        assert!(e.contains("cannot render the query"), "{e}");
    }
    // Read again at every check, never judged: every verdict is an error.
    let reads = world
        .borrow()
        .calls
        .iter()
        .filter(|c| *c == "revisions")
        .count();
    assert!(reads > 3, "{reads}");
    for ev in &r.events {
        if let mlcanary::core::machine::EventKind::Check { judgements, .. } = &ev.kind {
            assert!(judgements
                .iter()
                .all(|j| j.verdict == mlcanary::core::verdict::Verdict::Error));
        }
    }
}

#[test]
fn a_rollback_failing_transiently_is_retried_until_it_lands() {
    let world = World {
        rollback_failures: 5,
        ..World::default()
    };
    let (r, world, _) = run_in(world, Cancel::new(), |_| Ok(Observation::Scalar(0.05)));
    assert_eq!(r.outcome.result(), "rolled-back", "{:?}", r.outcome);
    assert_eq!(r.outcome.exit_code(), 1);
    assert_eq!(world.borrow().weight, 0);
    assert_eq!(
        writes(&world),
        [
            "prepare 5",
            "rollback",
            "rollback",
            "rollback",
            "rollback",
            "rollback",
            "rollback"
        ]
    );
}

#[test]
fn a_rollback_failing_for_good_is_not_retried() {
    let world = World {
        rollback_failures: 1,
        rollback_error: Some(|| PlatformError::Other("the InferenceService is gone".into())),
        ..World::default()
    };
    let (r, world, _) = run_in(world, Cancel::new(), |_| Ok(Observation::Scalar(0.05)));
    assert_eq!(r.outcome.exit_code(), 3);
    assert_eq!(writes(&world), ["prepare 5", "rollback"]);
}

#[test]
fn a_rollback_that_keeps_failing_is_retried_until_the_deadline() {
    let world = World {
        rollback_failures: u32::MAX,
        ..World::default()
    };
    let (r, world, _) = run_in(world, Cancel::new(), |_| Ok(Observation::Scalar(0.05)));
    assert_eq!(r.outcome.exit_code(), 3);
    let tries = writes(&world).iter().filter(|c| *c == "rollback").count();
    assert!(tries > 5, "{tries}");
    // The default deadline is 2h; retries back off up to 30 s apart and stop before it.
    let spent = r.finished_at - r.started_at;
    let deadline = 2 * 3600 * 1000;
    let gap = mlcanary::rollout::driver::ROLLBACK_BACKOFF_MAX_MS;
    assert!((deadline - gap..=deadline).contains(&spent), "{spent}");
}

#[test]
fn after_a_signal_a_failing_rollback_is_retried_within_the_grace() {
    let cancel = Cancel::new();
    let world = World {
        rollback_failures: u32::MAX,
        cancel_on_rollback: Some(cancel.clone()),
        ..World::default()
    };
    let (r, world, _) = run_in(world, cancel, |_| Ok(Observation::Scalar(0.05)));
    assert_eq!(r.outcome.exit_code(), 3);
    let tries = writes(&world).iter().filter(|c| *c == "rollback").count();
    assert!(tries >= 3, "{tries}");
    let requested = r
        .events
        .iter()
        .find(|e| {
            matches!(
                e.kind,
                mlcanary::core::machine::EventKind::RollbackRequested { .. }
            )
        })
        .unwrap()
        .at;
    assert!(
        r.finished_at - requested <= mlcanary::rollout::driver::SIGNAL_GRACE_MS,
        "{}",
        r.finished_at - requested
    );
}

#[test]
fn a_first_apply_that_wrote_nothing_is_not_rolled_back() {
    let world = World {
        prepare_refused: true,
        ..World::default()
    };
    let (r, world, sent) = run_in(world, Cancel::new(), |_| Ok(Observation::Scalar(0.001)));
    assert_eq!(
        writes(&world),
        ["prepare 5"],
        "no rollback of an untouched stable"
    );
    assert!(sent.is_empty());
    assert_eq!(r.outcome.exit_code(), 3);
    assert!(!r.changed);
    let why = r.outcome.reason().unwrap();
    assert!(why.contains("nothing was changed"), "{why}");
    let s = mlcanary::report::summary::render(&r);
    assert!(
        s.contains("**Traffic now:** unchanged: this run changed nothing"),
        "{s}"
    );
}
