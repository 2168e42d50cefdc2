//! Seldon Core v1 SeldonDeployment: a stable and a canary predictor with `traffic` summing to 100.
//! Changes are JSON patches that `test` the predictor names first, so a concurrent edit that
//! reorders predictors fails instead of moving the wrong traffic. Promote moves the canary's graph
//! into the stable predictor and drops the canary; rollback sets 0 then drops it.

use super::k8s::{Intent, PatchKind, WriteTo, SELDON_DEPLOYMENT};
use super::kube_platform::KubeTarget;
use super::{Platform, PlatformError, Readiness, Revisions, Traffic};
use serde_json::{json, Value};

pub struct Seldon {
    t: KubeTarget,
    stable: String,
    canary: String,
}

impl Seldon {
    /// The graph this run rolls out: the stable predictor's graph in the run's final render
    /// (the promoted object).
    fn our_graph(&self) -> Option<Value> {
        let planned = self.t.planned("SeldonDeployment").ok()?;
        planned["spec"]["predictors"]
            .as_array()?
            .iter()
            .find(|p| p["name"] == self.stable.as_str())
            .map(|p| p["graph"].clone())
    }

    pub fn new(t: KubeTarget, stable: String, canary: String) -> Seldon {
        Seldon { t, stable, canary }
    }
    fn path(&self) -> String {
        SELDON_DEPLOYMENT.path(&self.t.namespace, &self.t.name)
    }
    /// What shows the spec is not served yet: its Deployments (`spec_not_served`), then its
    /// routes (`seldon_routes`; a canary predictor this run removed must have none left).
    fn not_served(&mut self, obj: &Value) -> Result<Option<String>, PlatformError> {
        if let Some(why) = spec_not_served(obj) {
            return Ok(Some(why));
        }
        let gone: Vec<&str> = match index_of(obj, &self.canary) {
            None => vec![self.canary.as_str()],
            Some(_) => vec![],
        };
        super::seldon_routes::not_routed(self.t.api.as_mut(), &self.t.namespace, obj, &gone)
    }
    fn current(&mut self) -> Result<Value, PlatformError> {
        let p = self.path();
        self.t.must_get(&p, "SeldonDeployment")
    }
    /// A guarded JSON patch computed from the live SeldonDeployment.
    fn patch_from(
        &mut self,
        validate: bool,
        mut compute: impl FnMut(&Value) -> Result<Option<Vec<Value>>, PlatformError>,
    ) -> Result<(), PlatformError> {
        let p = self.path();
        let to = WriteTo::object(&p, "SeldonDeployment");
        let to = if validate { to.validated() } else { to };
        self.t.patch_from(&to, |obj| {
            Ok(match compute(obj)? {
                None => Intent::Done,
                Some(ops) => Intent::Patch(PatchKind::Json, Value::Array(ops)),
            })
        })
    }
}

/// Whether the Deployment `dep` (a `status.deploymentStatus` key) belongs to predictor `p`: the
/// operator names it `{sdep}-{predictor}-{podSpecIndex}-{containers}` unless a componentSpec
/// names it (`metadata.name`).
fn deployment_of(sdep: &str, p: &Value, dep: &str) -> bool {
    let named = p["componentSpecs"]
        .as_array()
        .is_some_and(|cs| cs.iter().any(|c| c["metadata"]["name"] == dep));
    let prefix = format!("{sdep}-{}-", p["name"].as_str().unwrap_or(""));
    named
        || dep
            .strip_prefix(&prefix)
            .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
}

/// What in `status.deploymentStatus` shows the spec is not (yet) what is served: a predictor
/// without an available Deployment, or a Deployment of a predictor no longer in the spec.
fn spec_not_served(obj: &Value) -> Option<String> {
    let sdep = obj["metadata"]["name"].as_str().unwrap_or("");
    let preds = obj["spec"]["predictors"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let deps = obj["status"]["deploymentStatus"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    for p in &preds {
        let want = p["replicas"].as_u64().unwrap_or(1).max(1);
        let available = deps
            .iter()
            .filter(|(k, _)| deployment_of(sdep, p, k))
            .map(|(_, d)| d["availableReplicas"].as_u64().unwrap_or(0))
            .min();
        match available {
            Some(a) if a >= want => {}
            Some(a) => {
                return Some(format!(
                    "predictor {}: {a} of {want} replicas available",
                    p["name"].as_str().unwrap_or("?")
                ))
            }
            None => {
                return Some(format!(
                    "predictor {}: its Deployment is not reported yet",
                    p["name"].as_str().unwrap_or("?")
                ))
            }
        }
    }
    deps.keys()
        .find(|k| !preds.iter().any(|p| deployment_of(sdep, p, k)))
        .map(|k| format!("Deployment {k} of a removed predictor is still reported"))
}

/// Both predictors' indices, or an error naming them.
fn both(obj: &Value, stable: &str, canary: &str) -> Result<(usize, usize), PlatformError> {
    match (index_of(obj, stable), index_of(obj, canary)) {
        (Some(s), Some(c)) => Ok((s, c)),
        _ => Err(PlatformError::Other(format!(
            "predictors {stable} and {canary} must both exist"
        ))),
    }
}

fn traffic_of(obj: &Value, i: usize) -> Option<u64> {
    obj["spec"]["predictors"][i]["traffic"].as_u64()
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
    fn prepare(
        &mut self,
        weight: u32,
        mirror: u32,
        manifests: &[Value],
    ) -> Result<(), PlatformError> {
        self.prepare_with(weight, mirror, manifests)
    }

    /// Ready on evidence that belongs to the spec as it is now: SeldonDeployment 1.x writes no
    /// `observedGeneration`, so `state: Available` read right after a write may describe the old
    /// spec. Besides Available, every predictor's Deployment must be listed in
    /// `status.deploymentStatus` with its replicas available (the operator adds a new
    /// Deployment's entry only once it found it created and unchanged), and no removed
    /// predictor's Deployment may still be listed (`completeServiceCreation` drops those once
    /// the new ones are ready), and the routes the operator writes (Istio VirtualService,
    /// Ambassador Mappings) must carry the spec's traffic split (`seldon_routes`).
    fn poll_ready(&mut self) -> Result<Readiness, PlatformError> {
        let obj = self.current()?;
        let state = obj["status"]["state"].as_str().unwrap_or("");
        if state == "Available" {
            if let Some(why) = self.not_served(&obj)? {
                return Ok(Readiness::Pending(why));
            }
        }
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
        let (stable, canary) = (self.stable.clone(), self.canary.clone());
        self.patch_from(false, |obj| {
            let (si, ci) = both(obj, &stable, &canary)?;
            let shadow = obj["spec"]["predictors"][ci]["shadow"] == true;
            if !shadow
                && traffic_of(obj, si) == Some(u64::from(100 - weight))
                && traffic_of(obj, ci) == Some(u64::from(weight))
            {
                return Ok(None);
            }
            let mut ops = vec![
                test_name(si, &stable),
                test_name(ci, &canary),
                json!({"op": "add", "path": format!("/spec/predictors/{si}/traffic"), "value": 100 - weight}),
                json!({"op": "add", "path": format!("/spec/predictors/{ci}/traffic"), "value": weight}),
            ];
            if shadow {
                ops.push(json!({"op": "add", "path": format!("/spec/predictors/{ci}/shadow"), "value": false}));
            }
            Ok(Some(ops))
        })
    }

    fn set_shadow(&mut self, percent: u32) -> Result<(), PlatformError> {
        // 0: set_weight turns the shadow flag off when traffic moves
        super::kube_platform::no_mirror(
            percent,
            "a shadow predictor is added by prepare; it mirrors every request",
        )
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
        let (stable, canary) = (self.stable.clone(), self.canary.clone());
        // The graph we moved into the stable predictor: finding it there with the canary gone
        // means our promotion already landed (e.g. a write that answered late).
        let mut promoted: Option<Value> = None;
        let ours = self.our_graph();
        self.patch_from(false, |obj| {
            let preds = &obj["spec"]["predictors"];
            let (Some(si), Some(ci)) = (index_of(obj, &stable), index_of(obj, &canary)) else {
                return match (&promoted, index_of(obj, &stable)) {
                    (Some(g), Some(si)) if preds[si]["graph"] == *g => Ok(None),
                    // Promoted earlier (a re-run finishing a promotion): the new graph is live.
                    (None, Some(si)) if Some(&preds[si]["graph"]) == ours.as_ref() => Ok(None),
                    _ => Err(PlatformError::Other(
                        "cannot promote: the canary predictor is gone".into(),
                    )),
                };
            };
            let c = &preds[ci];
            promoted = Some(c["graph"].clone());
            let mut ops = vec![
                test_name(si, &stable),
                test_name(ci, &canary),
                json!({"op": "replace", "path": format!("/spec/predictors/{si}/graph"), "value": c["graph"]}),
                json!({"op": "add", "path": format!("/spec/predictors/{si}/traffic"), "value": 100}),
            ];
            if !c["componentSpecs"].is_null() {
                ops.push(json!({"op": "add", "path": format!("/spec/predictors/{si}/componentSpecs"), "value": c["componentSpecs"]}));
            }
            ops.push(json!({"op": "remove", "path": format!("/spec/predictors/{ci}")}));
            Ok(Some(ops))
        })
    }

    fn rollback(&mut self) -> Result<(), PlatformError> {
        let (stable, canary) = (self.stable.clone(), self.canary.clone());
        // 0 first, so traffic is safe even if the removal fails.
        self.patch_from(false, |obj| {
            let Some(ci) = index_of(obj, &canary) else {
                return Ok(None);
            };
            let si = index_of(obj, &stable).ok_or_else(|| {
                PlatformError::Other(format!("the stable predictor {stable} is gone"))
            })?;
            if obj["spec"]["predictors"][ci]["shadow"] == true
                || (traffic_of(obj, si) == Some(100) && traffic_of(obj, ci) == Some(0))
            {
                return Ok(None);
            }
            Ok(Some(vec![
                test_name(si, &stable),
                test_name(ci, &canary),
                json!({"op": "add", "path": format!("/spec/predictors/{si}/traffic"), "value": 100}),
                json!({"op": "add", "path": format!("/spec/predictors/{ci}/traffic"), "value": 0}),
            ]))
        })?;
        self.patch_from(false, |obj| {
            Ok(index_of(obj, &canary).map(|ci| {
                vec![
                    test_name(ci, &canary),
                    json!({"op": "remove", "path": format!("/spec/predictors/{ci}")}),
                ]
            }))
        })
    }

    fn settled(&mut self) -> Result<Option<String>, PlatformError> {
        let obj = self.current()?;
        Ok(match obj["status"]["state"].as_str().unwrap_or("") {
            "Available" => self.not_served(&obj)?,
            s => Some(format!(
                "SeldonDeployment state {}",
                if s.is_empty() { "unknown" } else { s }
            )),
        })
    }

    /// Found on the object `load_progress` read (no extra request).
    fn gitops_owners(&mut self) -> Vec<String> {
        self.t.take_gitops()
    }

    fn load_progress(&mut self) -> Result<Option<String>, PlatformError> {
        let p = self.path();
        let (ours, stable, canary) = (self.our_graph(), &self.stable, &self.canary);
        let found = self.t.load_progress(&p, |_, live| {
            Ok(index_of(live, canary).is_none()
                && match (index_of(live, stable), ours) {
                    (Some(si), Some(g)) => live["spec"]["predictors"][si]["graph"] == g,
                    _ => false,
                })
        })?;
        Ok(found.map(|(_, record)| record))
    }

    fn save_progress(&mut self, record: &str) -> Result<(), PlatformError> {
        let p = self.path();
        self.t.save_annotation(&p, record)
    }
}

impl Seldon {
    /// Add (or replace) the canary predictor from the rendered manifest; with `mirror` > 0 it is a
    /// shadow predictor taking no live traffic.
    /// The canary predictor as the templates render it in `manifests`. At 100% the templates
    /// render the promoted object (the stable predictor running the new graph, alone), so the
    /// canary predictor is that predictor under the canary's name, taking every request.
    fn rendered_canary(
        &self,
        manifests: &[Value],
        weight: u32,
        mirror: u32,
    ) -> Result<Value, PlatformError> {
        let rendered = super::kube_platform::rendered(manifests, "SeldonDeployment")?;
        let preds = rendered["spec"]["predictors"].as_array();
        let named = |n: &str| {
            preds
                .and_then(|a| a.iter().find(|p| p["name"] == n))
                .cloned()
        };
        named(self.canary.as_str())
            .or_else(|| {
                (weight >= 100)
                    .then(|| named(self.stable.as_str()))
                    .flatten()
                    .map(|mut c| {
                        c["name"] = json!(self.canary);
                        c
                    })
            })
            .map(|mut c| {
                if weight >= 100 && mirror == 0 {
                    c["traffic"] = json!(weight);
                }
                c
            })
            .ok_or_else(|| {
                PlatformError::Other(format!(
                    "the template rendered no predictor named {}",
                    self.canary
                ))
            })
    }

    fn prepare_with(
        &mut self,
        weight: u32,
        mirror: u32,
        manifests: &[Value],
    ) -> Result<(), PlatformError> {
        let canary = self.rendered_canary(manifests, weight, mirror)?;
        let (stable, canary_name) = (self.stable.clone(), self.canary.clone());
        self.patch_from(true, |obj| {
            let si = index_of(obj, &stable).ok_or_else(|| {
                PlatformError::Other(format!(
                    "the SeldonDeployment has no stable predictor named {stable}"
                ))
            })?;
            let mut ops = vec![test_name(si, &stable)];
            if mirror == 0 {
                ops.push(json!({"op": "add", "path": format!("/spec/predictors/{si}/traffic"), "value": 100 - weight}));
            }
            match index_of(obj, &canary_name) {
                Some(ci) => {
                    ops.push(test_name(ci, &canary_name));
                    ops.push(json!({"op": "replace", "path": format!("/spec/predictors/{ci}"), "value": canary}));
                }
                None => ops.push(json!({"op": "add", "path": "/spec/predictors/-", "value": canary})),
            }
            Ok(Some(ops))
        })
    }
}

/// The predictor names of `target:` (config-facing; defaults `main` and `canary`).
#[derive(Debug, Clone, PartialEq)]
pub struct Predictors {
    pub stable: String,
    pub canary: String,
}

impl Predictors {
    pub fn from_config(c: &crate::config::Config) -> Predictors {
        let t = &c.target;
        Predictors {
            stable: t.stable_predictor.clone().unwrap_or_else(|| "main".into()),
            canary: t
                .canary_predictor
                .clone()
                .unwrap_or_else(|| "canary".into()),
        }
    }

    /// The cluster before a rollout (a dry run's seed): the SeldonDeployment with only the
    /// stable predictor, taking every request.
    pub fn stable_objects(&self, planned: &[Value]) -> Vec<Value> {
        let mut out = planned.to_vec();
        for o in out.iter_mut().filter(|o| o["kind"] == "SeldonDeployment") {
            if let Some(ps) = o["spec"]["predictors"].as_array_mut() {
                ps.retain(|p| p["name"] == self.stable.as_str());
                for p in ps.iter_mut() {
                    p["traffic"] = json!(100);
                }
            }
        }
        out
    }
}
