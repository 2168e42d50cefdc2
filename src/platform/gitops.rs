//! GitOps owners of a Kubernetes object: Argo CD and Flux mark what they manage (tracking
//! annotations and labels) and write it under their own field managers (`managedFields`). When
//! such a controller self-heals, it reverts the weights mlcanary sets: the run warns, and
//! docs/kubernetes.md has the `ignoreDifferences` / suspend recipe.

use serde_json::Value;

/// Argo CD's tracking annotation (annotation and annotation+label tracking methods).
const ARGOCD_TRACKING: &str = "argocd.argoproj.io/tracking-id";
/// Flux kustomize-controller / helm-controller ownership labels.
const FLUX_LABELS: &[&str] = &[
    "kustomize.toolkit.fluxcd.io/name",
    "helm.toolkit.fluxcd.io/name",
];
/// Field managers of the GitOps controllers (Argo CD's application controller applies as
/// `argocd-controller`; Flux as `kustomize-controller` / `helm-controller`).
const MANAGERS: &[(&str, &str)] = &[
    ("argocd-controller", "Argo CD"),
    ("argocd-application-controller", "Argo CD"),
    ("kustomize-controller", "Flux"),
    ("helm-controller", "Flux"),
];

/// One sentence per GitOps owner found on `obj` (empty: none).
pub fn owners(obj: &Value) -> Vec<String> {
    let meta = &obj["metadata"];
    let kind = obj["kind"].as_str().unwrap_or("object");
    let name = meta["name"].as_str().unwrap_or("?");
    let mut found: Vec<(String, String)> = Vec::new();
    if let Some(id) = meta["annotations"][ARGOCD_TRACKING].as_str() {
        found.push((
            "Argo CD".into(),
            format!("annotation {ARGOCD_TRACKING}={id}"),
        ));
    }
    for l in FLUX_LABELS {
        if let Some(v) = meta["labels"][*l].as_str() {
            found.push(("Flux".into(), format!("label {l}={v}")));
        }
    }
    for e in meta["managedFields"].as_array().into_iter().flatten() {
        let m = e["manager"].as_str().unwrap_or("");
        if let Some((_, who)) = MANAGERS.iter().find(|(name, _)| *name == m) {
            found.push(((*who).into(), format!("field manager {m}")));
        }
    }
    let mut out: Vec<String> = Vec::new();
    for who in ["Argo CD", "Flux"] {
        let why: Vec<&str> = found
            .iter()
            .filter(|(w, _)| w == who)
            .map(|(_, s)| s.as_str())
            .collect();
        if !why.is_empty() {
            out.push(format!(
                "{kind} {name} is managed by {who} ({}): its self-heal can revert the traffic mlcanary sets; exclude mlcanary's fields from the diff or suspend it during the rollout (docs/kubernetes.md)",
                why.join(", ")
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_argo_cd_and_flux_by_marks_and_field_managers() {
        let plain = json!({"kind": "Rollout", "metadata": {"name": "r", "labels": {"app.kubernetes.io/instance": "r"},
            "managedFields": [{"manager": "kubectl-client-side-apply"}, {"manager": "mlcanary"}]}});
        assert!(owners(&plain).is_empty());
        let argo = json!({"kind": "Rollout", "metadata": {"name": "r",
            "annotations": {"argocd.argoproj.io/tracking-id": "app:argoproj.io/Rollout:ml/r"}}});
        let w = owners(&argo);
        assert_eq!(w.len(), 1);
        assert!(
            w[0].starts_with(
                "Rollout r is managed by Argo CD (annotation argocd.argoproj.io/tracking-id=app:"
            ),
            "{w:?}"
        );
        let by_manager = json!({"kind": "InferenceService", "metadata": {"name": "m",
            "managedFields": [{"manager": "argocd-controller", "operation": "Apply"}]}});
        assert!(owners(&by_manager)[0].contains("Argo CD (field manager argocd-controller)"));
        let flux = json!({"kind": "SeldonDeployment", "metadata": {"name": "s",
            "labels": {"kustomize.toolkit.fluxcd.io/name": "apps"},
            "managedFields": [{"manager": "kustomize-controller"}]}});
        let w = owners(&flux);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("Flux (label kustomize.toolkit.fluxcd.io/name=apps, field manager kustomize-controller)"), "{w:?}");
    }
}
