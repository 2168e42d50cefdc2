//! The in-memory [`Platform`] every in-process rollout test drives (the loop, cancellation during
//! a write, reports, notifications): it keeps the canary's weight, logs every call, and fails or
//! raises a signal where a test asks. The test keeps a handle on its [`World`] to script it before
//! the run and read it after.
//!
//! What it cannot know: how long a real controller takes to converge (`converge_every` polls per
//! change stands in) and how a real API words its refusals (the tests pick the error). Tests of
//! real platform behaviour run against the Kubernetes and Azure test servers (tests/support/kube,
//! tests/support/azure), not this.
#![allow(dead_code)]

use mlcanary::config::Config;
use mlcanary::core::plan::Plan;
use mlcanary::platform::{Platform, PlatformError, Readiness, Revisions, Traffic};
use mlcanary::render::Renderer;
use mlcanary::rollout::clock::{Cancel, VirtualClock};
use mlcanary::rollout::driver::{Driver, SharedProvider};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

/// What the fake platform holds and what it saw.
#[derive(Default)]
pub struct World {
    /// The canary's share of live traffic, in percent.
    pub weight: u32,
    /// Every call in order: `prepare W`, `weight W`, `revisions`, `promote`, `rollback`.
    pub calls: Vec<String>,
    /// What `revisions` answers.
    pub revisions: Revisions,
    /// The names `traffic` reports the canary's and the stable's shares under.
    pub split: (String, String),
    /// A change converges on every `converge_every`-th poll (0 or 1: at once).
    pub converge_every: u32,
    pub polls: u32,
    /// Reads of the revision names that fail (`server_error`), then answer.
    pub revision_failures: u32,
    /// Rollbacks that fail with `rollback_error` (default `server_error`), then succeed.
    pub rollback_failures: u32,
    pub rollback_error: Option<fn() -> PlatformError>,
    /// The first apply fails before writing anything (a refused server-side dry run).
    pub prepare_refused: bool,
    /// A weight change to this weight is refused with this error (nothing written).
    pub refuse_weight: Option<(u32, fn() -> PlatformError)>,
    /// Whether any write went out (`has_written`).
    pub wrote: bool,
    /// A signal raised while the call named here (`weight 50`, `promote`, `rollback`) runs; the
    /// call itself completes.
    pub cancel_during: Option<(String, Cancel)>,
}

impl World {
    /// A model whose canary and stable revisions are `canary` and `stable` of resource `name`,
    /// traffic reported per revision (as KServe does).
    pub fn named(name: &str, canary: &str, stable: &str) -> World {
        World {
            revisions: Revisions {
                canary_name: name.into(),
                canary_revision: Some(canary.into()),
                stable_name: name.into(),
                stable_revision: Some(stable.into()),
            },
            split: (canary.into(), stable.into()),
            ..World::default()
        }
    }

    /// The calls without the reads of revision names.
    pub fn writes(&self) -> Vec<String> {
        self.calls
            .iter()
            .filter(|c| *c != "revisions")
            .cloned()
            .collect()
    }

    fn call(&mut self, name: String) {
        if let Some((during, cancel)) = &self.cancel_during {
            if *during == name {
                cancel.cancel();
            }
        }
        self.calls.push(name);
    }
}

/// A 500 from the API server after the client's retries.
pub fn server_error() -> PlatformError {
    PlatformError::Kube {
        request: "PATCH /x".into(),
        error: Box::new(mlcanary::clients::kube::KubeError::Api {
            code: 500,
            reason: "InternalError".into(),
            message: "etcd timeout".into(),
        }),
    }
}

/// The loop as `run` builds it for a live run, in-process: `config` on `platform` with
/// `providers`, on `clock`, stopped by `cancel`; no variables and no rendered manifests (the fake
/// ignores them). Set `env` on the result where a test needs variables.
pub fn driver<'a>(
    config: &'a Config,
    platform: Box<dyn Platform + 'a>,
    providers: BTreeMap<String, SharedProvider>,
    renderer: &'a Renderer,
    clock: &'a VirtualClock,
    cancel: Cancel,
) -> Driver<'a> {
    Driver {
        config,
        plan: Plan::for_run(config),
        platform,
        providers,
        renderer,
        clock,
        cancel,
        env: Default::default(),
        rendered: Default::default(),
    }
}

/// The platform; clones of its [`World`] handle see what it did.
pub struct Fake(pub Rc<RefCell<World>>);

impl Fake {
    pub fn new(world: World) -> (Box<Fake>, Rc<RefCell<World>>) {
        let world = Rc::new(RefCell::new(world));
        (Box::new(Fake(world.clone())), world)
    }
}

impl Platform for Fake {
    fn prepare(
        &mut self,
        weight: u32,
        _mirror: u32,
        _: &[serde_json::Value],
    ) -> Result<(), PlatformError> {
        let mut w = self.0.borrow_mut();
        w.call(format!("prepare {weight}"));
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
        Ok(
            if w.converge_every <= 1 || w.polls.is_multiple_of(w.converge_every) {
                Readiness::Ready
            } else {
                Readiness::Pending("converging".into())
            },
        )
    }
    fn set_weight(&mut self, weight: u32) -> Result<(), PlatformError> {
        let mut w = self.0.borrow_mut();
        if let Some((at, error)) = w.refuse_weight {
            if at == weight {
                return Err(error());
            }
        }
        w.weight = weight;
        w.wrote = true;
        w.call(format!("weight {weight}"));
        Ok(())
    }
    fn set_shadow(&mut self, _percent: u32) -> Result<(), PlatformError> {
        Ok(())
    }
    fn traffic(&mut self) -> Result<Traffic, PlatformError> {
        let w = self.0.borrow();
        Ok(Traffic {
            split: BTreeMap::from([
                (w.split.0.clone(), w.weight),
                (w.split.1.clone(), 100 - w.weight),
            ]),
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
        Ok(w.revisions.clone())
    }
    fn promote(&mut self) -> Result<(), PlatformError> {
        let mut w = self.0.borrow_mut();
        w.weight = 100;
        w.wrote = true;
        w.call("promote".into());
        Ok(())
    }
    fn rollback(&mut self) -> Result<(), PlatformError> {
        let mut w = self.0.borrow_mut();
        w.call("rollback".into());
        w.wrote = true;
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
