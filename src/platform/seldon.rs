//! Seldon Core v1 SeldonDeployment: a stable and a canary predictor with `traffic` summing to 100.
//! Changes are JSON patches that `test` the predictor names first, so a concurrent edit that
//! reorders predictors fails instead of moving the wrong traffic. Promote moves the canary's graph
//! into the stable predictor and drops the canary; rollback sets 0 then drops it.

use super::k8s::{PatchKind, SELDON_DEPLOYMENT};
use super::kube_platform::KubeTarget;
use super::{Platform, PlatformError, Readiness, Revisions, Traffic};
use serde_json::{json, Value};

pub struct Seldon {
    t: KubeTarget,
    stable: String,
    canary: String,
}

impl Seldon {
    pub fn new(t: KubeTarget, stable: String, canary: String) -> Seldon {
        Seldon { t, stable, canary }
    }
    fn path(&self) -> String {
        SELDON_DEPLOYMENT.path(&self.t.namespace, &self.t.name)
    }
    fn current(&mut self) -> Result<Value, PlatformError> {
        let p = self.path();
        self.t.must_get(&p, "SeldonDeployment")
    }
    fn patch(&mut self, ops: Value) -> Result<(), PlatformError> {
        let p = self.path();
        self.t
            .api
            .patch(&p, &PatchKind::Json, &ops, false)
            .map(|_| ())
    }
}

fn index_of(obj: &Value, name: &str) -> Option<usize> {
    obj["spec"]["predictors"]
        .as_array()?
        .iter()
        .position(|p| p["name"] == name)
}

fn test_name(i: usize, name: &str) -> Value {
    json!({"op": "test", "path": format!("/spec/predictors/{i}/name"), "value": name})
}

impl Platform for Seldon {
    fn prepare(&mut self, weight: u32, mirror: u32) -> Result<(), PlatformError> {
        self.prepare_with(weight, mirror)
    }

    fn poll_ready(&mut self) -> Result<Readiness, PlatformError> {
        let obj = self.current()?;
        let state = obj["status"]["state"].as_str().unwrap_or("");
        Ok(match state {
            "Available" => Readiness::Ready,
            "Failed" => Readiness::Failed(format!(
                "SeldonDeployment state Failed: {}",
                obj["status"]["description"]
                    .as_str()
                    .unwrap_or("no description")
            )),
            s => Readiness::Pending(format!(
                "SeldonDeployment state {}",
                if s.is_empty() { "unknown" } else { s }
            )),
        })
    }

    fn set_weight(&mut self, weight: u32) -> Result<(), PlatformError> {
        let obj = self.current()?;
        let (si, ci) = match (index_of(&obj, &self.stable), index_of(&obj, &self.canary)) {
            (Some(s), Some(c)) => (s, c),
            _ => {
                return Err(PlatformError::Other(format!(
                    "predictors {} and {} must both exist",
                    self.stable, self.canary
                )))
            }
        };
        let mut ops = vec![
            test_name(si, &self.stable),
            test_name(ci, &self.canary),
            json!({"op": "add", "path": format!("/spec/predictors/{si}/traffic"), "value": 100 - weight}),
            json!({"op": "add", "path": format!("/spec/predictors/{ci}/traffic"), "value": weight}),
        ];
        if obj["spec"]["predictors"][ci]["shadow"] == true {
            ops.push(json!({"op": "add", "path": format!("/spec/predictors/{ci}/shadow"), "value": false}));
        }
        self.patch(Value::Array(ops))
    }

    fn set_shadow(&mut self, percent: u32) -> Result<(), PlatformError> {
        if percent == 0 {
            return Ok(()); // set_weight turns the shadow flag off when traffic moves
        }
        Err(PlatformError::Unsupported(
            "a shadow predictor is added by prepare; it mirrors every request".into(),
        ))
    }

    fn traffic(&mut self) -> Result<Traffic, PlatformError> {
        let obj = self.current()?;
        let mut t = Traffic::default();
        for p in obj["spec"]["predictors"].as_array().into_iter().flatten() {
            let name = p["name"].as_str().unwrap_or("?").to_string();
            if p["shadow"] == true {
                t.mirror.insert(name, 100);
            } else {
                let n = obj["spec"]["predictors"]
                    .as_array()
                    .map_or(1, |a| a.iter().filter(|p| p["shadow"] != true).count());
                let default = if n == 1 { 100 } else { 0 };
                t.split
                    .insert(name, p["traffic"].as_u64().map_or(default, |v| v as u32));
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
        let obj = self.current()?;
        let (Some(si), Some(ci)) = (index_of(&obj, &self.stable), index_of(&obj, &self.canary))
        else {
            return Err(PlatformError::Other(
                "cannot promote: the canary predictor is gone".into(),
            ));
        };
        let canary = &obj["spec"]["predictors"][ci];
        let mut ops = vec![
            test_name(si, &self.stable),
            test_name(ci, &self.canary),
            json!({"op": "replace", "path": format!("/spec/predictors/{si}/graph"), "value": canary["graph"]}),
            json!({"op": "add", "path": format!("/spec/predictors/{si}/traffic"), "value": 100}),
        ];
        if !canary["componentSpecs"].is_null() {
            ops.push(json!({"op": "add", "path": format!("/spec/predictors/{si}/componentSpecs"), "value": canary["componentSpecs"]}));
        }
        ops.push(json!({"op": "remove", "path": format!("/spec/predictors/{ci}")}));
        self.patch(Value::Array(ops))
    }

    fn rollback(&mut self) -> Result<(), PlatformError> {
        let obj = self.current()?;
        let Some(ci) = index_of(&obj, &self.canary) else {
            return Ok(());
        };
        let si = index_of(&obj, &self.stable).ok_or_else(|| {
            PlatformError::Other(format!("the stable predictor {} is gone", self.stable))
        })?;
        // 0 first, so traffic is safe even if the removal fails.
        if obj["spec"]["predictors"][ci]["shadow"] != true {
            self.patch(json!([
                test_name(si, &self.stable),
                test_name(ci, &self.canary),
                {"op": "add", "path": format!("/spec/predictors/{si}/traffic"), "value": 100},
                {"op": "add", "path": format!("/spec/predictors/{ci}/traffic"), "value": 0}
            ]))?;
        }
        self.patch(json!([test_name(ci, &self.canary), {"op": "remove", "path": format!("/spec/predictors/{ci}")}]))
    }

    fn load_progress(&mut self) -> Result<Option<String>, PlatformError> {
        let p = self.path();
        self.t.load_annotation(&p)
    }

    fn save_progress(&mut self, record: &str) -> Result<(), PlatformError> {
        let p = self.path();
        self.t.save_annotation(&p, record)
    }
}

impl Seldon {
    /// Add (or replace) the canary predictor from the rendered manifest; with `mirror` > 0 it is a
    /// shadow predictor taking no live traffic.
    fn prepare_with(&mut self, weight: u32, mirror: u32) -> Result<(), PlatformError> {
        let obj = self.current()?;
        let si = index_of(&obj, &self.stable).ok_or_else(|| {
            PlatformError::Other(format!(
                "the SeldonDeployment has no stable predictor named {}",
                self.stable
            ))
        })?;
        let rendered = self.t.rendered(weight, mirror, "SeldonDeployment")?;
        let canary = rendered["spec"]["predictors"]
            .as_array()
            .and_then(|a| a.iter().find(|p| p["name"] == self.canary.as_str()))
            .cloned()
            .ok_or_else(|| {
                PlatformError::Other(format!(
                    "the template rendered no predictor named {}",
                    self.canary
                ))
            })?;
        let mut ops = vec![test_name(si, &self.stable)];
        if mirror == 0 {
            ops.push(json!({"op": "add", "path": format!("/spec/predictors/{si}/traffic"), "value": 100 - weight}));
        }
        match index_of(&obj, &self.canary) {
            Some(ci) => {
                ops.push(test_name(ci, &self.canary));
                ops.push(json!({"op": "replace", "path": format!("/spec/predictors/{ci}"), "value": canary}));
            }
            None => ops.push(json!({"op": "add", "path": "/spec/predictors/-", "value": canary})),
        }
        let p = self.path();
        let body = Value::Array(ops);
        self.t.api.patch(&p, &PatchKind::Json, &body, true)?;
        self.t
            .api
            .patch(&p, &PatchKind::Json, &body, false)
            .map(|_| ())
    }
}
