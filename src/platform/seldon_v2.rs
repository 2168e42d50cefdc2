//! Seldon Core v2: the canary Model plus an Experiment whose `default` is the stable Model, so the
//! stable endpoint carries the split. Weights are candidate weights (share = weight / sum).
//! Promote points the stable Model at the new URI and removes the Experiment and canary Model;
//! rollback removes them (all traffic back on the default).

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
}

impl SeldonV2 {
    pub fn new(t: KubeTarget, stable: String, canary: String, model_uri: String) -> SeldonV2 {
        SeldonV2 {
            t,
            stable,
            canary,
            model_uri,
            promoted: false,
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
        let uri = self.model_uri.clone();
        let sp = self.model(&self.stable);
        self.t
            .patch_from(&WriteTo::object(&sp, "stable Model"), |m| {
                Ok(if m["spec"]["storageUri"] == uri.as_str() {
                    Intent::Done
                } else {
                    Intent::Patch(PatchKind::Merge, json!({"spec": {"storageUri": uri}}))
                })
            })?;
        let e = self.experiment();
        self.t.api.delete(&e)?;
        let cp = self.model(&self.canary);
        self.t.api.delete(&cp)?;
        self.promoted = true;
        Ok(())
    }

    fn rollback(&mut self) -> Result<(), PlatformError> {
        let e = self.experiment();
        self.t.api.delete(&e)?;
        let cp = self.model(&self.canary);
        self.t.api.delete(&cp)
    }

    fn load_progress(&mut self) -> Result<Option<String>, PlatformError> {
        let p = self.model(&self.stable);
        self.t.load_annotation(&p)
    }

    fn save_progress(&mut self, record: &str) -> Result<(), PlatformError> {
        let p = self.model(&self.stable);
        self.t.save_annotation(&p, record)
    }
}
