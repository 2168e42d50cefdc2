//! A signal that arrives while a write is in flight, in-process on a virtual clock: the write
//! finishes (abandoning it would leave traffic unknown) and the machine learns about it before the
//! cancellation, so a completed promotion stands and a completed weight change is what gets
//! undone (or, with `onCancel: leave`, what the record says was left).

use mlcanary::config::load_str;
use mlcanary::core::machine::Outcome;
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
use std::sync::Arc;

const CONFIG: &str = r#"
apiVersion: mlcanary/v1
name: fd
model: {uri: "s3://m/v2", format: sklearn, version: v2}
target: {platform: kserve, namespace: ml}
stages: [{weight: 10, pause: 2m}, {weight: 50, pause: 2m}]
analysis: {interval: 1m, warmup: 0s, ON_CANCEL}
providers: {prom: {type: prometheus, address: "http://unused"}}
guardrails:
  - {name: error-rate, provider: prom, query: "errors", promote: "< 0.01", rollback: "> 0.02"}
"#;

/// Which write raises the signal while it runs.
#[derive(Clone, Copy, PartialEq)]
enum SignalDuring {
    Weight50,
    Promote,
}

struct World {
    weight: u32,
    calls: Vec<String>,
    during: SignalDuring,
    cancel: Cancel,
}

struct Fake(Rc<RefCell<World>>);

impl Platform for Fake {
    fn prepare(
        &mut self,
        weight: u32,
        _: u32,
        _: &[serde_json::Value],
    ) -> Result<(), PlatformError> {
        let mut w = self.0.borrow_mut();
        w.weight = weight;
        w.calls.push(format!("prepare {weight}"));
        Ok(())
    }
    fn poll_ready(&mut self) -> Result<Readiness, PlatformError> {
        Ok(Readiness::Ready)
    }
    fn set_weight(&mut self, weight: u32) -> Result<(), PlatformError> {
        let mut w = self.0.borrow_mut();
        w.weight = weight;
        w.calls.push(format!("weight {weight}"));
        if w.during == SignalDuring::Weight50 && weight == 50 {
            w.cancel.cancel();
        }
        Ok(())
    }
    fn set_shadow(&mut self, _: u32) -> Result<(), PlatformError> {
        Ok(())
    }
    fn traffic(&mut self) -> Result<Traffic, PlatformError> {
        let w = self.0.borrow().weight;
        Ok(Traffic {
            split: BTreeMap::from([("v2".into(), w), ("v1".into(), 100 - w)]),
            mirror: BTreeMap::new(),
        })
    }
    fn revisions(&mut self) -> Result<Revisions, PlatformError> {
        Ok(Revisions::default())
    }
    fn promote(&mut self) -> Result<(), PlatformError> {
        let mut w = self.0.borrow_mut();
        w.weight = 100;
        w.calls.push("promote".into());
        if w.during == SignalDuring::Promote {
            w.cancel.cancel();
        }
        Ok(())
    }
    fn rollback(&mut self) -> Result<(), PlatformError> {
        let mut w = self.0.borrow_mut();
        w.weight = 0;
        w.calls.push("rollback".into());
        Ok(())
    }
}

struct Healthy;

impl Provider for Healthy {
    fn fetch(&self, _: &Query) -> Result<Observation, ProviderError> {
        Ok(Observation::Scalar(0.001))
    }
    fn describe(&self, _: &Query) -> String {
        "healthy".into()
    }
}

fn run(during: SignalDuring, on_cancel: &str) -> (RunRecord, Vec<String>) {
    let c = load_str(
        "c.yaml",
        &CONFIG.replace("ON_CANCEL", &format!("onCancel: {on_cancel}")),
        None,
    )
    .unwrap();
    let cancel = Cancel::new();
    let world = Rc::new(RefCell::new(World {
        weight: 0,
        calls: Vec::new(),
        during,
        cancel: cancel.clone(),
    }));
    let renderer = Renderer::new(None).unwrap();
    let clock = VirtualClock::new(1_767_225_600_000);
    let provider: SharedProvider = Arc::new(Healthy);
    let d = Driver {
        config: &c,
        plan: Plan::for_run(&c),
        platform: Box::new(Fake(world.clone())),
        providers: BTreeMap::from([("prom".to_string(), provider)]),
        renderer: &renderer,
        clock: &clock,
        cancel,
        env: Default::default(),
        rendered: Default::default(),
    };
    let r = d.run(&mut Quiet);
    let calls = world.borrow().calls.clone();
    (r, calls)
}

#[test]
fn a_promotion_that_completed_before_the_signal_stands() {
    let (r, calls) = run(SignalDuring::Promote, "rollback");
    assert_eq!(r.outcome, Outcome::Promoted);
    assert_eq!(
        calls.last().map(String::as_str),
        Some("promote"),
        "{calls:?}"
    );
    assert_eq!(r.final_weight, 100);
}

#[test]
fn a_signal_during_a_weight_change_rolls_that_change_back() {
    let (r, calls) = run(SignalDuring::Weight50, "rollback");
    assert_eq!(r.outcome, Outcome::Interrupted { rolled_back: true });
    assert_eq!(calls, ["prepare 10", "weight 50", "rollback"]);
    assert_eq!(r.final_weight, 0);
    assert_eq!(r.traffic.unwrap().split["v1"], 100);
}

#[test]
fn with_on_cancel_leave_the_record_knows_the_completed_change() {
    let (r, calls) = run(SignalDuring::Weight50, "leave");
    assert_eq!(r.outcome, Outcome::Interrupted { rolled_back: false });
    assert_eq!(calls, ["prepare 10", "weight 50"]);
    // The weight change completed: the record says 50%, not the 10% before it.
    assert_eq!(r.final_weight, 50);
}
