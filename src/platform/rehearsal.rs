//! The dry run's platform: the real driver over a recorder (`rollout::recorder::RecordingKube`
//! or `azureml_dry`), which has no controller. Every write goes to the driver and so into the
//! request log, exactly as a live run sends it; what only a controller could answer is answered
//! here instead: the canary is ready at once, its revisions are the placeholders the templates
//! were checked with, the platform has settled, and no live traffic is read.

use super::{Platform, PlatformError, Readiness, Revisions, Traffic};
use serde_json::Value;

pub struct Rehearsal<'a> {
    inner: Box<dyn Platform + 'a>,
    revisions: Revisions,
}

/// `inner` (a driver over a recorder) rehearsing a rollout; `revisions` are what the templates
/// see (placeholders for names a controller would create).
pub fn rehearsal<'a>(inner: Box<dyn Platform + 'a>, revisions: Revisions) -> Rehearsal<'a> {
    Rehearsal { inner, revisions }
}

impl Platform for Rehearsal<'_> {
    fn prepare(
        &mut self,
        weight: u32,
        mirror: u32,
        manifests: &[Value],
    ) -> Result<(), PlatformError> {
        self.inner.prepare(weight, mirror, manifests)
    }
    /// A recorder has no controller to become ready: readiness is assumed.
    fn poll_ready(&mut self) -> Result<Readiness, PlatformError> {
        Ok(Readiness::Ready)
    }
    fn set_weight(&mut self, weight: u32) -> Result<(), PlatformError> {
        self.inner.set_weight(weight)
    }
    fn set_shadow(&mut self, percent: u32) -> Result<(), PlatformError> {
        self.inner.set_shadow(percent)
    }
    /// Nothing live to read (the run record of a dry run has no final traffic).
    fn traffic(&mut self) -> Result<Traffic, PlatformError> {
        Ok(Traffic::default())
    }
    fn revisions(&mut self) -> Result<Revisions, PlatformError> {
        Ok(self.revisions.clone())
    }
    fn promote(&mut self) -> Result<(), PlatformError> {
        self.inner.promote()
    }
    fn rollback(&mut self) -> Result<(), PlatformError> {
        self.inner.rollback()
    }
    /// No controller acts on a recorder: there is nothing to wait for.
    fn settled(&mut self) -> Result<Option<String>, PlatformError> {
        Ok(None)
    }
    fn describe_prepare(&mut self, weight: u32) -> Option<String> {
        self.inner.describe_prepare(weight)
    }
    fn gitops_owners(&mut self) -> Vec<String> {
        self.inner.gitops_owners()
    }
    /// A dry run neither continues nor leaves a rollout record.
    fn load_progress(&mut self) -> Result<Option<String>, PlatformError> {
        Ok(None)
    }
    fn save_progress(&mut self, _record: &str) -> Result<(), PlatformError> {
        Ok(())
    }
    fn has_written(&self) -> bool {
        self.inner.has_written()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::rc::Rc;

    /// Logs what reaches the inner driver; its controller-side answers would fail the walk.
    struct Inner(Rc<RefCell<Vec<String>>>);
    impl Platform for Inner {
        fn prepare(&mut self, w: u32, m: u32, _: &[Value]) -> Result<(), PlatformError> {
            self.0.borrow_mut().push(format!("prepare {w} {m}"));
            Ok(())
        }
        fn poll_ready(&mut self) -> Result<Readiness, PlatformError> {
            Ok(Readiness::Pending("no controller".into()))
        }
        fn set_weight(&mut self, w: u32) -> Result<(), PlatformError> {
            self.0.borrow_mut().push(format!("weight {w}"));
            Ok(())
        }
        fn set_shadow(&mut self, p: u32) -> Result<(), PlatformError> {
            self.0.borrow_mut().push(format!("shadow {p}"));
            Ok(())
        }
        fn traffic(&mut self) -> Result<Traffic, PlatformError> {
            Err(PlatformError::Other("read".into()))
        }
        fn revisions(&mut self) -> Result<Revisions, PlatformError> {
            Err(PlatformError::Other("read".into()))
        }
        fn promote(&mut self) -> Result<(), PlatformError> {
            self.0.borrow_mut().push("promote".into());
            Ok(())
        }
        fn rollback(&mut self) -> Result<(), PlatformError> {
            self.0.borrow_mut().push("rollback".into());
            Ok(())
        }
        fn settled(&mut self) -> Result<Option<String>, PlatformError> {
            Ok(Some("no controller".into()))
        }
        fn save_progress(&mut self, _: &str) -> Result<(), PlatformError> {
            self.0.borrow_mut().push("save".into());
            Ok(())
        }
    }

    #[test]
    fn writes_reach_the_driver_and_controller_answers_are_assumed() {
        let log = Rc::new(RefCell::new(Vec::new()));
        let rev = Revisions {
            canary_name: "fd".into(),
            canary_revision: Some("<canary-revision>".into()),
            stable_name: "fd".into(),
            stable_revision: Some("<stable-revision>".into()),
        };
        let mut p = rehearsal(Box::new(Inner(log.clone())), rev.clone());
        p.prepare(5, 0, &[]).unwrap();
        p.set_weight(25).unwrap();
        p.set_shadow(0).unwrap();
        p.promote().unwrap();
        p.rollback().unwrap();
        p.save_progress("k=v").unwrap();
        assert_eq!(
            *log.borrow(),
            [
                "prepare 5 0",
                "weight 25",
                "shadow 0",
                "promote",
                "rollback"
            ]
        );
        assert_eq!(p.poll_ready().unwrap(), Readiness::Ready);
        assert_eq!(p.revisions().unwrap(), rev);
        assert_eq!(p.settled().unwrap(), None);
        assert_eq!(p.traffic().unwrap(), Traffic::default());
        assert_eq!(p.load_progress().unwrap(), None);
    }
}
