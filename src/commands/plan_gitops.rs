//! `plan`'s GitOps check (see docs/kubernetes.md): Argo CD / Flux marks (`platform::gitops`) on
//! the objects the run will edit, found offline in the rendered manifests and, when a cluster is
//! configured and answers, on the live objects (read only: one GET each, never a write). A
//! cluster that cannot be read is one line saying why, never an error.

use crate::clients::kube::{Client, ClientOptions, KubeError, RetryPolicy};
use crate::config::{Config, PlatformKind};
use crate::core::plan::Plan;
use crate::platform::{gitops, k8s::object_path};
use crate::render::Renderer;
use crate::rollout::{build, kube_live};

#[derive(Debug, Default, serde::Serialize)]
pub struct GitOps {
    /// One sentence per owner found (where: the rendered manifests or the live object).
    pub warnings: Vec<String>,
    /// Why the live objects were not read (no kubeconfig, cluster unreachable, forbidden).
    #[serde(rename = "notChecked", skip_serializing_if = "Option::is_none")]
    pub not_checked: Option<String>,
}

/// `None` for Azure ML (no Kubernetes object).
pub fn check(c: &Config, renderer: &Renderer) -> Option<GitOps> {
    if c.target.platform == PlatformKind::Azureml {
        return None;
    }
    // The kubeconfig context's namespace when the config names none, as `run` resolves it.
    let c = &crate::rollout::kube_live::with_context_namespace(c.clone());
    let mut out = GitOps::default();
    let rendered = match build::render_run(c, &Plan::for_run(c), renderer, &Default::default()) {
        Ok(r) => r,
        Err(e) => {
            out.not_checked = Some(format!("the templates do not render: {e}"));
            return Some(out);
        }
    };
    let ns = crate::platform::kube_platform::KubeSettings::from_config(c).namespace;
    let mut paths: Vec<String> = Vec::new();
    for obj in rendered.phases.iter().flatten() {
        for w in gitops::owners(obj) {
            let w = format!("in the rendered manifests: {w}");
            if !out.warnings.contains(&w) {
                out.warnings.push(w);
            }
        }
        if let Ok(p) = object_path(obj, &ns) {
            if !paths.contains(&p) {
                paths.push(p);
            }
        }
    }
    match live(c, &paths) {
        Ok(found) => out.warnings.extend(found),
        Err(why) => out.not_checked = Some(why),
    }
    Some(out)
}

/// The owners marked on the live objects at `paths` (one short GET each; absent ones skipped).
fn live(c: &Config, paths: &[String]) -> Result<Vec<String>, String> {
    let opts = ClientOptions {
        timeout: std::time::Duration::from_secs(10),
        retry: RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        },
        ..kube_live::options(c)
    };
    let client = Client::new(&opts).map_err(|e| e.to_string())?;
    let mut found = Vec::new();
    for p in paths {
        match client.get(p) {
            Ok(obj) => found.extend(
                gitops::owners(&obj)
                    .into_iter()
                    .map(|w| format!("live: {w}")),
            ),
            Err(KubeError::NotFound { .. }) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(found)
}

impl GitOps {
    /// The lines `plan` prints (text and step summary).
    pub fn lines(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .warnings
            .iter()
            .map(|w| format!("warning: {w}"))
            .collect();
        if let Some(why) = &self.not_checked {
            out.push(format!("GitOps owners not checked: {why}"));
        }
        out
    }
}
