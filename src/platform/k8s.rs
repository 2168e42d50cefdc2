//! What every Kubernetes platform shares: resource paths, the three patch types, and the small
//! [`KubeApi`] seam. The live client (`clients::kube`) and the dry-run recorder both implement it,
//! so `run --dry-run` prints exactly the requests a live run sends.

use super::{ApiRequest, PlatformError};
pub use crate::clients::kube::PatchKind;
use crate::clients::kube::{patch_path, resource_path};
use serde_json::Value;

/// The Kubernetes calls a platform makes.
pub trait KubeApi {
    /// GET; `None` when the object does not exist.
    fn get(&mut self, path: &str) -> Result<Option<Value>, PlatformError>;
    /// PATCH (with `dryRun=All&fieldValidation=Strict` when `dry_run`).
    fn patch(
        &mut self,
        path: &str,
        kind: &PatchKind,
        body: &Value,
        dry_run: bool,
    ) -> Result<Value, PlatformError>;
    /// DELETE; a missing object is not an error.
    fn delete(&mut self, path: &str) -> Result<(), PlatformError>;
    /// The field manager our patches name, for request listings.
    fn field_manager(&self) -> &str;
}

/// Group, version and plural of a custom resource.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gvr {
    pub group: &'static str,
    pub version: &'static str,
    pub plural: &'static str,
}

pub const INFERENCE_SERVICE: Gvr = Gvr {
    group: "serving.kserve.io",
    version: "v1beta1",
    plural: "inferenceservices",
};
pub const SELDON_DEPLOYMENT: Gvr = Gvr {
    group: "machinelearning.seldon.io",
    version: "v1",
    plural: "seldondeployments",
};
pub const SELDON_EXPERIMENT: Gvr = Gvr {
    group: "mlops.seldon.io",
    version: "v1alpha1",
    plural: "experiments",
};
pub const SELDON_MODEL: Gvr = Gvr {
    group: "mlops.seldon.io",
    version: "v1alpha1",
    plural: "models",
};
pub const ROLLOUT: Gvr = Gvr {
    group: "argoproj.io",
    version: "v1alpha1",
    plural: "rollouts",
};
pub const ANALYSIS_TEMPLATE: Gvr = Gvr {
    group: "argoproj.io",
    version: "v1alpha1",
    plural: "analysistemplates",
};
/// What the Seldon Core v1 operator routes predictors with (read only: readiness evidence).
pub const ISTIO_VIRTUAL_SERVICE: Gvr = Gvr {
    group: "networking.istio.io",
    version: "v1alpha3",
    plural: "virtualservices",
};
/// A core Service (the `/api/v1` group): Seldon v1 predictor Services carry Ambassador v1 routes.
pub const SERVICE: Gvr = Gvr {
    group: "",
    version: "v1",
    plural: "services",
};
pub const AMBASSADOR_MAPPING: Gvr = Gvr {
    group: "getambassador.io",
    version: "v2",
    plural: "mappings",
};

impl Gvr {
    pub fn path(&self, namespace: &str, name: &str) -> String {
        resource_path(self.group, self.version, namespace, self.plural, name, None)
    }
    pub fn for_kind(kind: &str) -> Option<Gvr> {
        Some(match kind {
            "InferenceService" => INFERENCE_SERVICE,
            "SeldonDeployment" => SELDON_DEPLOYMENT,
            "Experiment" => SELDON_EXPERIMENT,
            "Model" => SELDON_MODEL,
            "Rollout" => ROLLOUT,
            "AnalysisTemplate" => ANALYSIS_TEMPLATE,
            _ => return None,
        })
    }
}

/// The path of a rendered object (by its apiVersion/kind/metadata).
pub fn object_path(obj: &Value, default_ns: &str) -> Result<String, PlatformError> {
    let kind = obj["kind"].as_str().unwrap_or_default();
    let gvr = Gvr::for_kind(kind)
        .ok_or_else(|| PlatformError::Other(format!("no API path known for kind {kind:?}")))?;
    let name = obj["metadata"]["name"]
        .as_str()
        .ok_or_else(|| PlatformError::Other(format!("{kind} without metadata.name")))?;
    let ns = obj["metadata"]["namespace"].as_str().unwrap_or(default_ns);
    Ok(gvr.path(ns, name))
}

/// The request line for a patch, exactly as the client sends it ([`patch_path`]).
pub fn patch_request(
    path: &str,
    kind: &PatchKind,
    body: &Value,
    dry_run: bool,
    field_manager: &str,
) -> ApiRequest {
    ApiRequest {
        method: "PATCH".into(),
        path: patch_path(path, kind, dry_run, field_manager),
        content_type: Some(kind.content_type().into()),
        body: Some(body.clone()),
    }
}

/// Apply every object: a server-side dry run of all of them first (nothing changes if any is
/// refused), then the real apply.
pub fn apply_all(
    api: &mut dyn KubeApi,
    objects: &[Value],
    namespace: &str,
) -> Result<(), PlatformError> {
    let kind = PatchKind::Apply { force: true };
    let paths = objects
        .iter()
        .map(|o| object_path(o, namespace))
        .collect::<Result<Vec<_>, _>>()?;
    for (o, p) in objects.iter().zip(&paths) {
        api.patch(p, &kind, o, true)?;
    }
    for (o, p) in objects.iter().zip(&paths) {
        api.patch(p, &kind, o, false)?;
    }
    Ok(())
}

/// What a write computed from the live object wants.
#[derive(Debug, Clone, PartialEq)]
pub enum Intent {
    /// The object already has the intended state: nothing to send (a retry after our own late
    /// write, or someone else made the same change).
    Done,
    /// Send this patch; [`patch_from`] adds the resourceVersion precondition.
    Patch(PatchKind, Value),
}

/// Where a guarded write reads its object and where it sends the patch.
#[derive(Debug, Clone, Copy)]
pub struct WriteTo<'a> {
    /// The object the change is computed from (and whose resourceVersion guards it).
    pub read: &'a str,
    /// Where the PATCH goes: the object itself or its `/status`.
    pub write: &'a str,
    /// Names the object in "does not exist" errors.
    pub what: &'a str,
    /// Server-side dry run of each attempt before the real write.
    pub validate: bool,
}

impl<'a> WriteTo<'a> {
    pub fn object(path: &'a str, what: &'a str) -> WriteTo<'a> {
        WriteTo {
            read: path,
            write: path,
            what,
            validate: false,
        }
    }
    /// Send the patch to `write` (e.g. the `/status` subresource) instead.
    pub fn at(self, write: &'a str) -> WriteTo<'a> {
        WriteTo { write, ..self }
    }
    /// Dry-run every attempt on the server first.
    pub fn validated(self) -> WriteTo<'a> {
        WriteTo {
            validate: true,
            ..self
        }
    }
}

/// Attempts of one guarded write (first included) before a conflict is final.
pub const WRITE_ATTEMPTS: u32 = 5;

pub fn resource_version(obj: &Value) -> Option<&str> {
    obj["metadata"]["resourceVersion"].as_str()
}

/// `body` made conditional on the object still being at `rv`: a JSON patch gets a leading
/// `test` of `/metadata/resourceVersion` (the server answers 422 when it fails), a merge patch
/// carries `metadata.resourceVersion` (409 Conflict when stale). Server-side apply is
/// declarative and stays unconditional; without a known `rv` nothing is added.
pub fn with_precondition(kind: &PatchKind, body: &Value, rv: Option<&str>) -> Value {
    let Some(rv) = rv else {
        return body.clone();
    };
    match (kind, body) {
        (PatchKind::Json, Value::Array(ops)) => {
            let mut guarded = Vec::with_capacity(ops.len() + 1);
            guarded.push(
                serde_json::json!({"op": "test", "path": "/metadata/resourceVersion", "value": rv}),
            );
            guarded.extend(ops.iter().cloned());
            Value::Array(guarded)
        }
        (PatchKind::Merge, Value::Object(_)) => {
            let mut b = body.clone();
            if !b["metadata"].is_object() {
                b["metadata"] = serde_json::json!({});
            }
            b["metadata"]["resourceVersion"] = Value::String(rv.to_string());
            b
        }
        _ => body.clone(),
    }
}

/// Read-compute-write with a resourceVersion precondition, so a write can never land on a newer
/// state than the one it was computed from. This is what keeps a late write (one the client gave
/// up on, or its own retry, that the server applies after our next change) from undoing that
/// change: by then the resourceVersion moved and the server refuses it.
///
/// When the write fails and a fresh read shows the object moved (a 409/422 precondition failure,
/// or a timeout whose write landed late), the change is recomputed from the new object, up to
/// [`WRITE_ATTEMPTS`] times; `compute` answering [`Intent::Done`] ends it. A failure while the
/// object did not move is returned as is.
pub fn patch_from(
    api: &mut dyn KubeApi,
    to: &WriteTo<'_>,
    mut compute: impl FnMut(&Value) -> Result<Intent, PlatformError>,
) -> Result<(), PlatformError> {
    let mut current = api.get(to.read)?.ok_or_else(|| missing(to.what, to.read))?;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let (kind, body) = match compute(&current)? {
            Intent::Done => return Ok(()),
            Intent::Patch(kind, body) => (kind, body),
        };
        let rv = resource_version(&current).map(String::from);
        let body = with_precondition(&kind, &body, rv.as_deref());
        let sent = if to.validate {
            api.patch(to.write, &kind, &body, true)
                .and_then(|_| api.patch(to.write, &kind, &body, false))
        } else {
            api.patch(to.write, &kind, &body, false)
        };
        let err = match sent {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        // A 409 says the object changed under us even when the version we read back is the
        // same one (a proxy or another writer in between): re-read and recompute in any case.
        let conflict = err.is_conflict();
        if attempt >= WRITE_ATTEMPTS || (rv.is_none() && !conflict) {
            return Err(err);
        }
        match api.get(to.read) {
            Ok(Some(now)) if conflict || resource_version(&now) != rv.as_deref() => {
                log::info!(
                    "{} changed while we wrote it ({err}); recomputing the change (attempt {})",
                    to.read,
                    attempt + 1
                );
                current = now;
            }
            _ => return Err(err),
        }
    }
}

/// `status.conditions[type=T].status == "True"`.
pub fn condition_true(obj: &Value, t: &str) -> bool {
    condition(obj, t).is_some_and(|c| c["status"] == "True")
}

pub fn condition<'a>(obj: &'a Value, t: &str) -> Option<&'a Value> {
    obj["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == t)
}

/// metadata.generation == status.observedGeneration (a number, or a string as Argo writes it).
pub fn observed_current(obj: &Value) -> bool {
    let gen = obj["metadata"]["generation"].as_i64();
    let seen = match &obj["status"]["observedGeneration"] {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    };
    gen.is_some() && gen == seen
}

pub fn missing(what: &str, path: &str) -> PlatformError {
    PlatformError::Other(format!(
        "{what} {path} does not exist: a canary needs a stable version already serving (create it first)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_and_request_lines() {
        assert_eq!(
            INFERENCE_SERVICE.path("ml", "fraud"),
            "/apis/serving.kserve.io/v1beta1/namespaces/ml/inferenceservices/fraud"
        );
        let r = patch_request(
            "/x",
            &PatchKind::Apply { force: true },
            &json!({}),
            true,
            "mlcanary",
        );
        assert_eq!(
            r.path,
            "/x?fieldManager=mlcanary&force=true&dryRun=All&fieldValidation=Strict"
        );
        assert_eq!(
            r.content_type.as_deref(),
            Some("application/apply-patch+yaml")
        );
        let r = patch_request("/x", &PatchKind::Json, &json!([]), false, "mlcanary");
        assert_eq!(r.path, "/x?fieldManager=mlcanary");
    }

    #[test]
    fn preconditions_by_patch_kind() {
        let ops = json!([{"op": "remove", "path": "/spec/x"}]);
        assert_eq!(
            with_precondition(&PatchKind::Json, &ops, Some("7")),
            json!([{"op": "test", "path": "/metadata/resourceVersion", "value": "7"},
                {"op": "remove", "path": "/spec/x"}])
        );
        assert_eq!(
            with_precondition(&PatchKind::Merge, &json!({"spec": {"x": 1}}), Some("7")),
            json!({"metadata": {"resourceVersion": "7"}, "spec": {"x": 1}})
        );
        let apply = json!({"kind": "Rollout"});
        assert_eq!(
            with_precondition(&PatchKind::Apply { force: true }, &apply, Some("7")),
            apply
        );
        assert_eq!(with_precondition(&PatchKind::Json, &ops, None), ops);
    }

    /// An API that applies patches (JSON-patch `test` included) to one object, bumping its
    /// resourceVersion; `moves` are outside writes made just before each of our writes.
    struct OneObject {
        obj: Value,
        rv: u64,
        moves: Vec<u64>,
        writes: usize,
        /// Writes answered 409 Conflict without any change (a proxy, a webhook, a stale cache).
        conflicts: u32,
    }

    impl KubeApi for OneObject {
        fn get(&mut self, _: &str) -> Result<Option<Value>, PlatformError> {
            Ok(Some(self.obj.clone()))
        }
        fn patch(
            &mut self,
            p: &str,
            k: &PatchKind,
            b: &Value,
            _: bool,
        ) -> Result<Value, PlatformError> {
            self.writes += 1;
            if self.conflicts > 0 {
                self.conflicts -= 1;
                return Err(PlatformError::Kube {
                    request: format!("PATCH {p}"),
                    error: Box::new(crate::clients::kube::KubeError::Conflict {
                        what: "x".into(),
                        message: "the object has been modified".into(),
                    }),
                });
            }
            if let Some(n) = self.moves.pop() {
                self.obj["spec"]["n"] = json!(n);
                self.bump();
            }
            let refused = |m: &str| PlatformError::Api {
                request: format!("PATCH {p}"),
                message: m.into(),
            };
            assert_eq!(*k, PatchKind::Json);
            let ops: json_patch::Patch = serde_json::from_value(b.clone()).unwrap();
            json_patch::patch(&mut self.obj, &ops).map_err(|e| refused(&e.to_string()))?;
            self.bump();
            Ok(self.obj.clone())
        }
        fn delete(&mut self, _: &str) -> Result<(), PlatformError> {
            Ok(())
        }
        fn field_manager(&self) -> &str {
            "t"
        }
    }

    impl OneObject {
        fn new(moves: Vec<u64>) -> OneObject {
            OneObject {
                obj: json!({"metadata": {"resourceVersion": "1"}, "spec": {"n": 0}}),
                rv: 1,
                moves,
                writes: 0,
                conflicts: 0,
            }
        }
        fn bump(&mut self) {
            self.rv += 1;
            self.obj["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        }
    }

    /// Adds 1 to spec.n, computed from what it reads; done once n reached `goal`.
    fn increment_to(goal: u64) -> impl FnMut(&Value) -> Result<Intent, PlatformError> {
        move |o| {
            let n = o["spec"]["n"].as_u64().unwrap();
            Ok(if n >= goal {
                Intent::Done
            } else {
                Intent::Patch(
                    PatchKind::Json,
                    json!([{"op": "replace", "path": "/spec/n", "value": n + 1}]),
                )
            })
        }
    }

    #[test]
    fn a_write_refused_because_the_object_moved_is_recomputed() {
        let mut api = OneObject::new(vec![5]);
        patch_from(&mut api, &WriteTo::object("/x", "X"), increment_to(100)).unwrap();
        // Computed from 0, refused (n moved to 5), recomputed from 5.
        assert_eq!(api.obj["spec"]["n"], 6);
        assert_eq!(api.writes, 2);
    }

    #[test]
    fn a_409_on_an_unchanged_object_is_recomputed_not_final() {
        let mut api = OneObject::new(vec![]);
        api.conflicts = 1;
        patch_from(&mut api, &WriteTo::object("/x", "X"), increment_to(100)).unwrap();
        assert_eq!(api.obj["spec"]["n"], 1);
        assert_eq!(api.writes, 2);
    }

    #[test]
    fn the_intended_state_found_after_a_refusal_ends_the_write() {
        let mut api = OneObject::new(vec![1]);
        patch_from(&mut api, &WriteTo::object("/x", "X"), increment_to(1)).unwrap();
        assert_eq!(api.obj["spec"]["n"], 1);
        assert_eq!(api.writes, 1);
    }

    #[test]
    fn an_object_that_keeps_moving_fails_after_the_bounded_attempts() {
        let mut api = OneObject::new(vec![9; 10]);
        let e = patch_from(&mut api, &WriteTo::object("/x", "X"), increment_to(100)).unwrap_err();
        assert!(e.to_string().contains("/metadata/resourceVersion"), "{e}");
        assert_eq!(api.writes, WRITE_ATTEMPTS as usize);
    }

    #[test]
    fn observed_generation_number_or_string() {
        assert!(observed_current(
            &json!({"metadata": {"generation": 3}, "status": {"observedGeneration": 3}})
        ));
        assert!(observed_current(
            &json!({"metadata": {"generation": 3}, "status": {"observedGeneration": "3"}})
        ));
        assert!(!observed_current(
            &json!({"metadata": {"generation": 4}, "status": {"observedGeneration": "3"}})
        ));
        assert!(!observed_current(&json!({"metadata": {"generation": 4}})));
    }
}
