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
}

struct FakePlatform(Rc<RefCell<World>>);

impl Platform for FakePlatform {
    fn prepare(&mut self, weight: u32, _mirror: u32) -> Result<(), PlatformError> {
        let mut w = self.0.borrow_mut();
        w.weight = weight;
        w.calls.push(format!("prepare {weight}"));
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
        w.weight = 0;
        w.calls.push("rollback".into());
        Ok(())
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
    let c = load_str("c.yaml", CONFIG, None).unwrap();
    let world = Rc::new(RefCell::new(World::default()));
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
        cancel: Cancel::new(),
        env: Default::default(),
        dry_run: false,
    };
    let r = d.run(&mut Quiet);
    let sent = sent.lock().unwrap().clone();
    (r, world, sent)
}

#[test]
fn a_healthy_canary_is_promoted_through_every_stage() {
    let (r, world, sent) = run(|_| Ok(Observation::Scalar(0.001)));
    assert_eq!(r.outcome.result(), "promoted");
    assert_eq!(world.borrow().calls, ["prepare 5", "weight 50", "promote"]);
    // 2 stages x 3 checks, each with the revision the platform reported rendered into the query.
    assert_eq!(sent.len(), 6);
    assert!(
        sent.iter().all(|q| q == "errors{rev=\"fraud-00002\"}"),
        "{sent:?}"
    );
    assert_eq!(r.final_weight, 100);
    assert_eq!(r.traffic.as_ref().unwrap().split["fraud-00002"], 100);
    // 2 stages of 2m, plus readiness polls 5s apart (one wait per change).
    assert_eq!(r.duration_seconds(), 250);
}

#[test]
fn a_canary_with_5_percent_errors_is_rolled_back_at_the_first_check() {
    let (r, world, sent) = run(|_| Ok(Observation::Scalar(0.05)));
    assert_eq!(r.outcome.exit_code(), 1);
    assert_eq!(world.borrow().calls, ["prepare 5", "rollback"]);
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
