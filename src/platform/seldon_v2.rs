//! Seldon Core v2: the canary Model plus an Experiment whose `default` is the stable Model, so the
//! stable endpoint carries the split. Weights are candidate weights (share = weight / sum).
//! Promote never drops the new version's share: it first gives the canary Model every request
//! (candidate weights 0 / 100), then points the stable Model at the new URI, and removes the
//! Experiment and canary Model only once the stable Model's new version is Ready (in
//! `settled`, before the final traffic read); until then the scheduler keeps serving the stable
//! Model's OLD version. Rollback removes them (all traffic back on the default).

use super::k8s::{
    apply_all, condition_true, Intent, PatchKind, WriteTo, SELDON_EXPERIMENT, SELDON_MODEL,
};
use super::kube_platform::KubeTarget;
use super::{Platform, PlatformError, Readiness, Revisions, Traffic};
use serde_json::{json, Value};

pub struct SeldonV2 {
    t: KubeTarget,
    stable: String,
    canary: String,
    model_uri: String,
    promoted: bool,
    /// After promote: the stable Model's generation our URI write made (`None`: the Model
    /// already had the URI, no write), and whether its `ModelReady` has been seen not True
    /// since (the operator writes no `observedGeneration`; the new generation's first status is
    /// the scheduler's ModelProgressing, so a True after it is the new version's).
    stable_gen: Option<i64>,
    seen_loading: bool,
    /// Consecutive `settled` checks that found the stable Model Ready.
    ready_checks: u32,
}

/// Without a write of ours to watch (a re-run finishing an earlier run's promotion), a Ready
/// condition may still be the old generation's: the operator has not seen the new one yet.
/// Believe it only after this many consecutive checks (the caller polls every 250 ms: 5 s, far
/// longer than the operator takes to pick up a generation).
const READY_CHECKS_WITHOUT_WRITE: u32 = 20;

impl SeldonV2 {
    pub fn new(t: KubeTarget, stable: String, canary: String, model_uri: String) -> SeldonV2 {
        SeldonV2 {
            t,
            stable,
            canary,
            model_uri,
            promoted: false,
            stable_gen: None,
            seen_loading: false,
            ready_checks: 0,
        }
    }
    fn experiment(&self) -> String {
        SELDON_EXPERIMENT.path(&self.t.namespace, &self.t.name)
    }
    fn model(&self, name: &str) -> String {
        SELDON_MODEL.path(&self.t.namespace, name)
    }
    fn split(&mut self, weight: u32, mirror: u32) -> Result<(), PlatformError> {
        let mirror_v = if mirror > 0 {
            json!({"name": self.canary, "percent": mirror})
        } else {
            Value::Null
        };
        let spec = json!({
            "candidates": [{"name": self.stable, "weight": 100 - weight}, {"name": self.canary, "weight": weight}],
            "mirror": mirror_v
        });
        let p = self.experiment();
        self.t
            .patch_from(&WriteTo::object(&p, "Experiment"), |exp| {
                let same = exp["spec"]["candidates"] == spec["candidates"]
                    && exp["spec"]["mirror"] == spec["mirror"];
                Ok(if same {
                    Intent::Done
                } else {
                    Intent::Patch(PatchKind::Merge, json!({ "spec": spec }))
                })
            })
    }
}

impl Platform for SeldonV2 {
    fn prepare(
        &mut self,
        _weight: u32,
        _mirror: u32,
        manifests: &[Value],
    ) -> Result<(), PlatformError> {
        let sp = self.model(&self.stable);
        self.t.must_get(&sp, "stable Model")?;
        let ns = self.t.namespace.clone();
        apply_all(self.t.api.as_mut(), manifests, &ns)
    }

    fn poll_ready(&mut self) -> Result<Readiness, PlatformError> {
        let model = if self.promoted {
            self.model(&self.stable)
        } else {
            self.model(&self.canary)
        };
        let m = self.t.must_get(&model, "Model")?;
        if let Some(c) = super::k8s::condition(&m, "ModelReady")
            .filter(|c| c["reason"].as_str().is_some_and(|r| r.contains("Fail")))
        {
            return Ok(Readiness::Failed(format!(
                "Model {}: {}",
                m["metadata"]["name"],
                c["message"].as_str().unwrap_or("")
            )));
        }
        if !condition_true(&m, "Ready") {
            return Ok(Readiness::Pending(format!(
                "Model {} is not Ready",
                m["metadata"]["name"].as_str().unwrap_or("?")
            )));
        }
        if self.promoted {
            return Ok(Readiness::Ready);
        }
        let e = self.experiment();
        let exp = self.t.must_get(&e, "Experiment")?;
        if condition_true(&exp, "Ready") {
            Ok(Readiness::Ready)
        } else {
            Ok(Readiness::Pending("Experiment is not Ready".into()))
        }
    }

    fn set_weight(&mut self, weight: u32) -> Result<(), PlatformError> {
        self.split(weight, 0)
    }

    fn set_shadow(&mut self, percent: u32) -> Result<(), PlatformError> {
        self.split(0, percent)
    }

    fn traffic(&mut self) -> Result<Traffic, PlatformError> {
        let e = self.experiment();
        let mut t = Traffic::default();
        match self.t.api.get(&e)? {
            None => {
                t.split.insert(self.stable.clone(), 100);
            }
            Some(exp) => {
                let c = exp["spec"]["candidates"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                let sum: u64 = c.iter().map(|x| x["weight"].as_u64().unwrap_or(0)).sum();
                for x in &c {
                    let share = (x["weight"].as_u64().unwrap_or(0) * 100)
                        .checked_div(sum)
                        .unwrap_or(0);
                    t.split
                        .insert(x["name"].as_str().unwrap_or("?").into(), share as u32);
                }
                if let Some(m) = exp["spec"]["mirror"].as_object() {
                    t.mirror.insert(
                        m["name"].as_str().unwrap_or("?").into(),
                        m["percent"].as_u64().unwrap_or(0) as u32,
                    );
                }
            }
        }
        Ok(t)
    }

    fn revisions(&mut self) -> Result<Revisions, PlatformError> {
        Ok(super::kube_platform::named_revisions(
            &self.stable,
            &self.canary,
        ))
    }

    fn promote(&mut self) -> Result<(), PlatformError> {
        // 1. Every request to the canary Model (already serving the new version).
        let (stable, canary) = (self.stable.clone(), self.canary.clone());
        let e = self.experiment();
        if self.t.api.get(&e)?.is_some() {
            let all = json!([{"name": stable, "weight": 0}, {"name": canary, "weight": 100}]);
            self.t
                .patch_from(&WriteTo::object(&e, "Experiment"), |exp| {
                    Ok(
                        if exp["spec"]["candidates"] == all && exp["spec"]["mirror"].is_null() {
                            Intent::Done
                        } else {
                            Intent::Patch(
                                PatchKind::Merge,
                                json!({"spec": {"candidates": all, "mirror": null}}),
                            )
                        },
                    )
                })?;
        }
        // 2. The stable Model loads the new version (the scheduler keeps the old one serving
        //    until the new one is available).
        let uri = self.model_uri.clone();
        let sp = self.model(&self.stable);
        let before = self.t.must_get(&sp, "stable Model")?;
        self.t
            .patch_from(&WriteTo::object(&sp, "stable Model"), |m| {
                Ok(if m["spec"]["storageUri"] == uri.as_str() {
                    Intent::Done
                } else {
                    Intent::Patch(PatchKind::Merge, json!({"spec": {"storageUri": uri}}))
                })
            })?;
        let after = self.t.must_get(&sp, "stable Model")?;
        let gen = |m: &Value| m["metadata"]["generation"].as_i64();
        self.stable_gen = (gen(&after) != gen(&before)).then(|| gen(&after)).flatten();
        self.seen_loading = false;
        self.ready_checks = 0;
        self.promoted = true;
        // 3. The Experiment and canary Model go once the new version is Ready: at once if it
        //    already is (a scheduler that reports the generation it serves), else in `settled`.
        self.finish_promotion().map(|_| ())
    }

    fn rollback(&mut self) -> Result<(), PlatformError> {
        let e = self.experiment();
        self.t.api.delete(&e)?;
        let cp = self.model(&self.canary);
        self.t.api.delete(&cp)
    }

    fn settled(&mut self) -> Result<Option<String>, PlatformError> {
        let e = self.experiment();
        if !self.promoted {
            return Ok(match self.t.api.get(&e)? {
                Some(exp) if !condition_true(&exp, "Ready") => {
                    Some("the Experiment is not Ready".into())
                }
                _ => None,
            });
        }
        self.finish_promotion()
    }

    /// Found on the object `load_progress` read (no extra request).
    fn gitops_owners(&mut self) -> Vec<String> {
        self.t.take_gitops()
    }

    fn load_progress(&mut self) -> Result<Option<String>, PlatformError> {
        let p = self.model(&self.stable);
        let e = self.experiment();
        let (uri, canary) = (&self.model_uri, &self.canary);
        // Promoted, or promoting: the Experiment gone with the stable Model on the new URI, or
        // every request already on the canary (promote's first step). Either way the new
        // version's share must not go back down: the re-run finishes the promotion.
        let found = self.t.load_progress(&p, |t, live| {
            Ok(match t.api.get(&e)? {
                None => live["spec"]["storageUri"] == uri.as_str(),
                Some(exp) => exp["spec"]["candidates"].as_array().is_some_and(|cs| {
                    cs.iter().all(|c| {
                        (c["name"] == canary.as_str()) == (c["weight"].as_u64().unwrap_or(0) > 0)
                    })
                }),
            })
        })?;
        Ok(found.map(|(_, record)| record))
    }

    fn save_progress(&mut self, record: &str) -> Result<(), PlatformError> {
        let p = self.model(&self.stable);
        self.t.save_annotation(&p, record)
    }
}

impl SeldonV2 {
    /// After promote: remove the Experiment and the canary Model once the stable Model's new
    /// version is Ready; until then what is awaited.
    fn finish_promotion(&mut self) -> Result<Option<String>, PlatformError> {
        let e = self.experiment();
        let sp = self.model(&self.stable);
        let m = self.t.must_get(&sp, "stable Model")?;
        if condition_true(&m, "ModelReady") {
            self.ready_checks += 1;
        } else {
            self.seen_loading = true;
            self.ready_checks = 0;
        }
        let gen = m["metadata"]["generation"].as_i64();
        let observed = m["status"]["observedGeneration"].as_i64();
        let new_version_ready = condition_true(&m, "ModelReady")
            && match (self.stable_gen, observed) {
                (_, Some(o)) => Some(o) == gen,
                (None, None) => {
                    self.seen_loading || self.ready_checks >= READY_CHECKS_WITHOUT_WRITE
                }
                (Some(_), None) => self.seen_loading,
            };
        if !new_version_ready {
            return Ok(Some(format!(
                "the stable Model {} is loading the new version; the Experiment keeps every request on {}",
                self.stable, self.canary
            )));
        }
        self.t.api.delete(&e)?;
        let cp = self.model(&self.canary);
        self.t.api.delete(&cp)?;
        Ok(None)
    }
}

/// The Model names of `target:` and the new model's URI (config-facing; the stable Model
/// defaults to the resource name, the canary to `<stable>-canary`).
#[derive(Debug, Clone, PartialEq)]
pub struct Models {
    pub stable: String,
    pub canary: String,
    pub model_uri: String,
}

impl Models {
    pub fn from_config(
        c: &crate::config::Config,
        k: &super::kube_platform::KubeSettings,
    ) -> Models {
        let t = &c.target;
        let stable = t.stable_model.clone().unwrap_or_else(|| k.resource.clone());
        let canary = t
            .canary_model
            .clone()
            .unwrap_or_else(|| format!("{stable}-canary"));
        Models {
            stable,
            canary,
            model_uri: c.model.uri.clone(),
        }
    }

    /// The cluster before a rollout (a dry run's seed): the stable Model alone, on its old
    /// version; the Experiment and the canary Model are what the run creates.
    pub fn stable_objects(&self, planned: &[Value], namespace: &str) -> Vec<Value> {
        let mut out: Vec<Value> = planned
            .iter()
            .filter(|o| o["kind"] != "Experiment" && o["kind"] != "Model")
            .cloned()
            .collect();
        out.push(
            json!({"apiVersion": "mlops.seldon.io/v1alpha1", "kind": "Model",
            "metadata": {"name": self.stable, "namespace": namespace},
            "spec": {"storageUri": "(the stable model)"}}),
        );
        out
    }
}
