//! What every Kubernetes platform shares: resource paths, the three patch types, and the small
//! [`KubeApi`] seam. The live client (`clients::kube`) and the dry-run recorder both implement it,
//! so `run --dry-run` prints exactly the requests a live run sends.

use super::{ApiRequest, PlatformError};
use serde_json::Value;

/// PATCH flavours that work on custom resources (strategic merge does not).
#[derive(Debug, Clone, PartialEq)]
pub enum PatchKind {
    /// RFC 6902.
    Json,
    /// RFC 7396.
    Merge,
    /// Server-side apply with our field manager.
    Apply { force: bool },
}

impl PatchKind {
    pub fn content_type(&self) -> &'static str {
        match self {
            PatchKind::Json => "application/json-patch+json",
            PatchKind::Merge => "application/merge-patch+json",
            PatchKind::Apply { .. } => "application/apply-patch+yaml",
        }
    }
}

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
    /// The query string our patches carry (field manager, force, dry run), for request listings.
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

impl Gvr {
    pub fn path(&self, namespace: &str, name: &str) -> String {
        format!(
            "/apis/{}/{}/namespaces/{namespace}/{}/{name}",
            self.group, self.version, self.plural
        )
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

/// The request line for a patch, as the client sends it.
pub fn patch_request(
    path: &str,
    kind: &PatchKind,
    body: &Value,
    dry_run: bool,
    field_manager: &str,
) -> ApiRequest {
    let mut q = Vec::new();
    if let PatchKind::Apply { force } = kind {
        q.push(format!("fieldManager={field_manager}"));
        if *force {
            q.push("force=true".into());
        }
    }
    if dry_run {
        q.push("dryRun=All".into());
        q.push("fieldValidation=Strict".into());
    }
    let path = if q.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{}", q.join("&"))
    };
    ApiRequest {
        method: "PATCH".into(),
        path,
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
        assert_eq!(r.path, "/x");
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
