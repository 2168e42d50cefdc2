//! Whether a run changed anything. A rollback must never write to a resource the run did not
//! change (a template error or a refused server-side dry run at the first stage would otherwise
//! "roll back" a stable service nobody touched). [`Tracked`] wraps a Kubernetes driver and answers
//! [`Platform::has_written`] from the writes its [`KubeApi`] actually sent: a PATCH that is not a
//! server-side dry run, or a DELETE, whether or not it succeeded (a failed write may have landed).

use super::k8s::{KubeApi, PatchKind};
use super::{Platform, PlatformError, Readiness, Revisions, Traffic};
use serde_json::Value;
use std::cell::Cell;
use std::rc::Rc;

/// A [`KubeApi`] that counts the writes it passes on.
struct Counting {
    inner: Box<dyn KubeApi>,
    sent: Rc<Cell<u64>>,
}

impl KubeApi for Counting {
    fn get(&mut self, path: &str) -> Result<Option<Value>, PlatformError> {
        self.inner.get(path)
    }
    fn patch(
        &mut self,
        path: &str,
        kind: &PatchKind,
        body: &Value,
        dry_run: bool,
    ) -> Result<Value, PlatformError> {
        if !dry_run {
            self.sent.set(self.sent.get() + 1);
        }
        self.inner.patch(path, kind, body, dry_run)
    }
    fn delete(&mut self, path: &str) -> Result<(), PlatformError> {
        self.sent.set(self.sent.get() + 1);
        self.inner.delete(path)
    }
    fn field_manager(&self) -> &str {
        self.inner.field_manager()
    }
}

/// A platform driver that knows whether it has written.
pub struct Tracked {
    inner: Box<dyn Platform>,
    sent: Rc<Cell<u64>>,
}

/// Build a driver over `api` (through `make`) that tracks the writes it sends.
pub fn tracked(
    api: Box<dyn KubeApi>,
    make: impl FnOnce(Box<dyn KubeApi>) -> Box<dyn Platform>,
) -> Tracked {
    let sent = Rc::new(Cell::new(0));
    let api = Counting {
        inner: api,
        sent: Rc::clone(&sent),
    };
    Tracked {
        inner: make(Box::new(api)),
        sent,
    }
}

impl Platform for Tracked {
    fn prepare(
        &mut self,
        weight: u32,
        mirror: u32,
        manifests: &[Value],
    ) -> Result<(), PlatformError> {
        self.inner.prepare(weight, mirror, manifests)
    }
    fn poll_ready(&mut self) -> Result<Readiness, PlatformError> {
        self.inner.poll_ready()
    }
    fn set_weight(&mut self, weight: u32) -> Result<(), PlatformError> {
        self.inner.set_weight(weight)
    }
    fn set_shadow(&mut self, percent: u32) -> Result<(), PlatformError> {
        self.inner.set_shadow(percent)
    }
    fn traffic(&mut self) -> Result<Traffic, PlatformError> {
        self.inner.traffic()
    }
    fn revisions(&mut self) -> Result<Revisions, PlatformError> {
        self.inner.revisions()
    }
    fn promote(&mut self) -> Result<(), PlatformError> {
        self.inner.promote()
    }
    fn rollback(&mut self) -> Result<(), PlatformError> {
        self.inner.rollback()
    }
    fn load_progress(&mut self) -> Result<Option<String>, PlatformError> {
        self.inner.load_progress()
    }
    fn settled(&mut self) -> Result<Option<String>, PlatformError> {
        self.inner.settled()
    }
    fn describe_prepare(&mut self, weight: u32) -> Option<String> {
        self.inner.describe_prepare(weight)
    }
    fn gitops_owners(&mut self) -> Vec<String> {
        self.inner.gitops_owners()
    }
    /// The progress record is bookkeeping, not a change of the service: storing it (which the
    /// driver does before each traffic move) does not count as a write to undo.
    fn save_progress(&mut self, record: &str) -> Result<(), PlatformError> {
        let before = self.sent.get();
        let r = self.inner.save_progress(record);
        self.sent.set(before);
        r
    }
    fn has_written(&self) -> bool {
        self.sent.get() > 0
    }
}
