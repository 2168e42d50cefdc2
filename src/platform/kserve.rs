//! KServe InferenceService (Knative mode): the new `storageUri` with `canaryTrafficPercent`.
//! Promote removes the field (100% to the latest revision); rollback sets it to 0 (100% back to
//! the previous revision, the new one stays deployed at 0%).

use super::k8s::{condition_true, observed_current, Intent, PatchKind, WriteTo, INFERENCE_SERVICE};
use super::kube_platform::KubeTarget;
use super::{Platform, PlatformError, Readiness, Revisions, Traffic};
use serde_json::{json, Value};

pub struct Kserve {
    t: KubeTarget,
    /// What the latest revision should carry once converged.
    expect: u32,
    stable_revision: Option<String>,
}

impl Kserve {
    pub fn new(t: KubeTarget) -> Kserve {
        Kserve {
            t,
            expect: 0,
            stable_revision: None,
        }
    }
    fn path(&self) -> String {
        INFERENCE_SERVICE.path(&self.t.namespace, &self.t.name)
    }
    fn set_percent(&mut self, weight: u32) -> Result<(), PlatformError> {
        let p = self.path();
        self.t
            .patch_from(&WriteTo::object(&p, "InferenceService"), |obj| {
                Ok(if canary_percent(obj) == Some(weight as u64) {
                    Intent::Done
                } else {
                    Intent::Patch(
                        PatchKind::Json,
                        json!([{"op": "add", "path": "/spec/predictor/canaryTrafficPercent", "value": weight}]),
                    )
                })
            })?;
        self.expect = weight;
        Ok(())
    }
}

/// The predictor's `storageUri` (`model.storageUri`, or a framework key's).
fn storage_uri(obj: &Value) -> Option<&str> {
    let p = &obj["spec"]["predictor"];
    p["model"]["storageUri"].as_str().or_else(|| {
        p.as_object()?
            .values()
            .find_map(|v| v.get("storageUri")?.as_str())
    })
}

fn canary_percent(obj: &Value) -> Option<u64> {
    obj["spec"]["predictor"]["canaryTrafficPercent"].as_u64()
}

fn predictor(obj: &Value) -> &Value {
    &obj["status"]["components"]["predictor"]
}

/// Percent the latest revision carries per `status.components.predictor.traffic`.
fn latest_percent(obj: &Value) -> Option<u32> {
    let traffic = predictor(obj)["traffic"].as_array()?;
    let latest = traffic.iter().find(|t| t["latestRevision"] == true)?;
    Some(latest["percent"].as_u64().unwrap_or(0) as u32)
}

/// A condition saying the new revision failed (Knative surfaces RevisionFailed & co).
fn failure(obj: &Value) -> Option<String> {
    obj["status"]["conditions"]
        .as_array()?
        .iter()
        .find_map(|c| {
            let reason = c["reason"].as_str().unwrap_or("");
            (c["status"] == "False" && reason.contains("Fail")).then(|| {
                format!(
                    "{} {}: {}",
                    c["type"].as_str().unwrap_or("?"),
                    reason,
                    c["message"].as_str().unwrap_or("")
                )
            })
        })
}

impl Platform for Kserve {
    fn prepare(
        &mut self,
        weight: u32,
        mirror: u32,
        manifests: &[Value],
    ) -> Result<(), PlatformError> {
        self.set_shadow(mirror)?;
        let p = self.path();
        let current = self.t.must_get(&p, "InferenceService")?;
        self.stable_revision = predictor(&current)["latestRolledoutRevision"]
            .as_str()
            .map(String::from);
        let obj = super::kube_platform::rendered(manifests, "InferenceService")?;
        super::k8s::apply_all(self.t.api.as_mut(), &[obj], &self.t.namespace.clone())?;
        self.expect = weight;
        Ok(())
    }

    fn poll_ready(&mut self) -> Result<Readiness, PlatformError> {
        let p = self.path();
        let obj = self.t.must_get(&p, "InferenceService")?;
        if let Some(f) = failure(&obj) {
            return Ok(Readiness::Failed(f));
        }
        if !observed_current(&obj) {
            return Ok(Readiness::Pending(
                "the controller has not observed the change yet".into(),
            ));
        }
        let pr = predictor(&obj);
        let (created, ready) = (
            pr["latestCreatedRevision"].as_str(),
            pr["latestReadyRevision"].as_str(),
        );
        if created != ready {
            return Ok(Readiness::Pending(format!(
                "revision {} is not ready (latest ready: {})",
                created.unwrap_or("?"),
                ready.unwrap_or("none")
            )));
        }
        if !condition_true(&obj, "Ready") {
            return Ok(Readiness::Pending("InferenceService is not Ready".into()));
        }
        match latest_percent(&obj) {
            Some(p) if p == self.expect => Ok(Readiness::Ready),
            other => Ok(Readiness::Pending(format!(
                "the latest revision carries {}% of traffic, expected {}%",
                other.map_or("no".into(), |p| p.to_string()),
                self.expect
            ))),
        }
    }

    fn set_weight(&mut self, weight: u32) -> Result<(), PlatformError> {
        self.set_percent(weight)
    }

    fn set_shadow(&mut self, percent: u32) -> Result<(), PlatformError> {
        super::kube_platform::no_mirror(
            percent,
            "KServe canaryTrafficPercent cannot mirror traffic",
        )
    }

    fn traffic(&mut self) -> Result<Traffic, PlatformError> {
        let p = self.path();
        let obj = self.t.must_get(&p, "InferenceService")?;
        let mut t = Traffic::default();
        for e in predictor(&obj)["traffic"].as_array().into_iter().flatten() {
            let name = e["revisionName"]
                .as_str()
                .or(e["tag"].as_str())
                .unwrap_or("?")
                .to_string();
            // One revision can hold two entries (`prev` and `latest` when no new revision was
            // created, e.g. a rollback before the new model applied): their shares add up.
            *t.split.entry(name).or_insert(0) += e["percent"].as_u64().unwrap_or(0) as u32;
        }
        Ok(t)
    }

    fn revisions(&mut self) -> Result<Revisions, PlatformError> {
        let p = self.path();
        let obj = self.t.api.get(&p)?.unwrap_or(Value::Null);
        let pr = predictor(&obj);
        let canary = pr["latestCreatedRevision"].as_str().map(String::from);
        // Mid-canary (e.g. a manual gate in a later job) the stable revision is the one the
        // traffic block serves that is not the latest.
        let serving_old = pr["traffic"].as_array().and_then(|ts| {
            ts.iter()
                .find(|t| t["latestRevision"] == false)
                .and_then(|t| t["revisionName"].as_str().map(String::from))
        });
        let stable = self
            .stable_revision
            .clone()
            .or(serving_old)
            .or_else(|| pr["previousRolledoutRevision"].as_str().map(String::from));
        Ok(Revisions {
            canary_name: self.t.name.clone(),
            canary_revision: canary,
            stable_name: self.t.name.clone(),
            stable_revision: stable,
        })
    }

    fn promote(&mut self) -> Result<(), PlatformError> {
        let p = self.path();
        self.t
            .patch_from(&WriteTo::object(&p, "InferenceService"), |obj| {
                Ok(
                    if obj["spec"]["predictor"]["canaryTrafficPercent"].is_null() {
                        Intent::Done
                    } else {
                        Intent::Patch(
                            PatchKind::Json,
                            json!([{"op": "remove", "path": "/spec/predictor/canaryTrafficPercent"}]),
                        )
                    },
                )
            })?;
        self.expect = 100;
        Ok(())
    }

    fn rollback(&mut self) -> Result<(), PlatformError> {
        self.set_percent(0)
    }

    /// The controller has observed the spec and the latest revision carries what the spec asks
    /// (`canaryTrafficPercent`, or 100 without it).
    fn settled(&mut self) -> Result<Option<String>, PlatformError> {
        let p = self.path();
        let obj = self.t.must_get(&p, "InferenceService")?;
        if !observed_current(&obj) {
            return Ok(Some(
                "the controller has not observed the last change".into(),
            ));
        }
        let want = canary_percent(&obj).map_or(100, |v| v.min(100) as u32);
        Ok(match latest_percent(&obj) {
            Some(p) if p == want => None,
            // A rollback before the new revision was ever ready leaves no latest entry at 0%.
            None if want == 0 => None,
            got => Some(format!(
                "the latest revision carries {}% of traffic, the spec asks {want}%",
                got.map_or("no".into(), |p| p.to_string())
            )),
        })
    }

    /// Found on the object `load_progress` read (no extra request).
    fn gitops_owners(&mut self) -> Vec<String> {
        self.t.take_gitops()
    }

    fn load_progress(&mut self) -> Result<Option<String>, PlatformError> {
        let p = self.path();
        let found = self.t.load_progress(&p, |t, live| {
            let ours = t.planned("InferenceService")?;
            Ok(canary_percent(live).is_none()
                && storage_uri(live).is_some()
                && storage_uri(live) == storage_uri(&ours))
        })?;
        Ok(found.map(|(_, record)| record))
    }

    fn save_progress(&mut self, record: &str) -> Result<(), PlatformError> {
        let p = self.path();
        self.t.save_annotation(&p, record)
    }
}
