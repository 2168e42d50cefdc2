//! The state every Kubernetes platform driver carries: the API seam and where the resource is.
//! Kept once so platform files hold only their resource's rules. Manifests are rendered before
//! the run sends anything and handed to `Platform::prepare`.

use super::k8s::{patch_from, Intent, KubeApi, PatchKind, WriteTo};
use super::PlatformError;
use crate::core::progress::ANNOTATION;
use serde_json::Value;

/// A live object and the rollout record it carries.
pub type LiveRecord = (Value, String);

/// Where a Kubernetes platform's resource is, with the config's defaults applied (the
/// Kubernetes part of `platform::target::Target`).
#[derive(Debug, Clone, PartialEq)]
pub struct KubeSettings {
    /// `target.namespace`, default `default`.
    pub namespace: String,
    /// `target.resource`, default the rollout's `name`.
    pub resource: String,
    /// `kubernetes.fieldManager`, default `mlcanary`.
    pub field_manager: String,
}

impl KubeSettings {
    pub fn from_config(c: &crate::config::Config) -> KubeSettings {
        KubeSettings {
            namespace: c
                .target
                .namespace
                .clone()
                .unwrap_or_else(|| "default".into()),
            resource: c.target.resource.clone().unwrap_or_else(|| c.name.clone()),
            field_manager: c
                .kubernetes
                .as_ref()
                .map_or("mlcanary".into(), |k| k.field_manager.clone()),
        }
    }
}

pub struct KubeTarget {
    pub api: Box<dyn KubeApi>,
    pub namespace: String,
    /// The main resource's name (InferenceService, SeldonDeployment, Experiment, Rollout).
    pub name: String,
    /// The objects the run's last phase renders: what a finished rollout of this version leaves
    /// live (a resumed run compares the live object with it to tell "promoted by us").
    pub planned: Vec<Value>,
    /// GitOps owners found on the live object at load (`platform::gitops`), until the run
    /// takes them ([`KubeTarget::take_gitops`]).
    pub gitops: Vec<String>,
}

impl KubeTarget {
    /// The state of a driver over `api` for the resource `k` names.
    pub fn new(api: Box<dyn KubeApi>, k: &KubeSettings, planned: Vec<Value>) -> KubeTarget {
        KubeTarget {
            api,
            namespace: k.namespace.clone(),
            name: k.resource.clone(),
            planned,
            gitops: Vec::new(),
        }
    }

    /// The rollout record stored on the object at `path`, believed against the live object
    /// ([`promoted_if_live`], `promoted` says whether the live object already serves this run's
    /// version to everyone), with the live object; keeps the GitOps owners found on it. Every
    /// Kubernetes platform's `load_progress`.
    pub fn load_progress(
        &mut self,
        path: &str,
        promoted: impl FnOnce(&mut KubeTarget, &Value) -> Result<bool, PlatformError>,
    ) -> Result<Option<LiveRecord>, PlatformError> {
        let (owners, found) = self.live_record(path)?;
        self.gitops = owners;
        let Some((live, record)) = found else {
            return Ok(None);
        };
        let promoted = promoted(self, &live)?;
        Ok(Some((live, promoted_if_live(record, promoted))))
    }

    /// The GitOps owners `load_progress` found (no extra request; once).
    pub fn take_gitops(&mut self) -> Vec<String> {
        std::mem::take(&mut self.gitops)
    }
    /// GET an object that must exist.
    pub fn must_get(&mut self, path: &str, what: &str) -> Result<Value, PlatformError> {
        self.api
            .get(path)?
            .ok_or_else(|| super::k8s::missing(what, path))
    }

    /// A traffic-moving write, computed from the live object and guarded by its resourceVersion
    /// (see [`patch_from`]): every platform moves traffic through this.
    pub fn patch_from(
        &mut self,
        to: &WriteTo<'_>,
        compute: impl FnMut(&Value) -> Result<Intent, PlatformError>,
    ) -> Result<(), PlatformError> {
        patch_from(self.api.as_mut(), to, compute)
    }

    /// The planned object of `kind` (see [`KubeTarget::planned`]).
    pub fn planned(&self, kind: &str) -> Result<Value, PlatformError> {
        rendered(&self.planned, kind)
    }

    /// The GitOps owners of the object at `path` and, when it carries one, the object with its
    /// rollout record: what every platform's `load_progress` starts from.
    pub fn live_record(
        &mut self,
        path: &str,
    ) -> Result<(Vec<String>, Option<LiveRecord>), PlatformError> {
        let Some(live) = self.api.get(path)? else {
            return Ok((Vec::new(), None));
        };
        let owners = super::gitops::owners(&live);
        Ok((owners, record_of(&live).map(|r| (live, r))))
    }

    /// Store the rollout record as an annotation (a merge patch: nothing else changes).
    pub fn save_annotation(&mut self, path: &str, record: &str) -> Result<(), PlatformError> {
        let body = serde_json::json!({"metadata": {"annotations": {ANNOTATION: record}}});
        self.api
            .patch(path, &PatchKind::Merge, &body, false)
            .map(|_| ())
    }
}

/// The answer of a platform that cannot mirror traffic to a `percent` > 0 request (0, turning
/// mirroring off, has nothing to do).
pub fn no_mirror(percent: u32, why: &str) -> Result<(), PlatformError> {
    if percent == 0 {
        return Ok(());
    }
    Err(PlatformError::Unsupported(why.into()))
}

/// The rendered object of `kind` among a phase's manifests.
pub fn rendered(manifests: &[Value], kind: &str) -> Result<Value, PlatformError> {
    manifests
        .iter()
        .find(|o| o["kind"] == kind)
        .cloned()
        .ok_or_else(|| PlatformError::Other(format!("the templates rendered no {kind}")))
}

/// The rollout record (`mlcanary.io/rollout` annotation) of an object.
pub fn record_of(obj: &Value) -> Option<String> {
    obj["metadata"]["annotations"][ANNOTATION]
        .as_str()
        .map(String::from)
}

/// Revisions of platforms whose canary and stable are named objects (Seldon predictors and Models).
pub fn named_revisions(stable: &str, canary: &str) -> super::Revisions {
    super::Revisions {
        canary_name: canary.to_string(),
        canary_revision: Some(canary.to_string()),
        stable_name: stable.to_string(),
        stable_revision: Some(stable.to_string()),
    }
}

/// Believe the live object over the stored record: when the live object already serves the new
/// version to everyone (a run killed between its promote write and storing the final record),
/// an in-progress record becomes "promoted", so the re-run reports it instead of moving traffic
/// back to an earlier stage.
pub fn promoted_if_live(record: String, live_promoted: bool) -> String {
    use crate::core::progress::{Progress, State};
    match Progress::decode(&record) {
        Some(mut p) if live_promoted && p.state == State::InProgress => {
            p.state = State::Promoted;
            p.weight = 100;
            p.encode()
        }
        _ => record,
    }
}
