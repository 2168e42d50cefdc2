//! Assembling a rollout from a config: the renderer closure platforms call, and the platform
//! driver over a given Kubernetes API (the live client or the dry-run recorder).

use super::context::{self, Moment};
use super::recorder::{RecordingKube, RequestLog};
use crate::config::{Config, PlatformKind};
use crate::core::plan::Plan;
use crate::platform::k8s::{object_path, KubeApi, SELDON_MODEL};
use crate::platform::kube_platform::{KubeTarget, RenderFn};
use crate::platform::{Platform, PlatformError, Revisions};
use crate::render::Renderer;
use serde_json::{json, Map, Value};
use std::rc::Rc;

/// The context for rendering manifests at a canary weight / mirror percent.
pub fn manifest_context(
    c: &Config,
    plan: &Plan,
    weight: u32,
    mirror: u32,
    rev: &Revisions,
    env: &Map<String, Value>,
) -> Value {
    let phase = plan
        .stages
        .iter()
        .position(|s| s.weight() == weight)
        .unwrap_or(0);
    let mut ctx = context::build(
        c,
        plan,
        &Moment {
            phase,
            ..Moment::default()
        },
        rev,
        env,
    );
    ctx["stage"]["weight"] = json!(weight);
    ctx["stage"]["mirror"] = json!(mirror);
    ctx
}

/// Render the platform's manifests at (weight, mirror). Guardrail queries inside the context are
/// rendered first: an Argo AnalysisTemplate names revisions through Argo's own args, filled by the
/// Rollout's analysis step with the canary's and stable's pod-template hashes.
pub fn manifests(
    c: &Config,
    plan: &Plan,
    renderer: &Renderer,
    weight: u32,
    mirror: u32,
    rev: &Revisions,
    env: &Map<String, Value>,
) -> Result<Vec<crate::render::Manifest>, crate::render::RenderError> {
    let mut ctx = manifest_context(c, plan, weight, mirror, rev, env);
    let mut qctx = ctx.clone();
    if c.target.platform == PlatformKind::ArgoRollouts {
        qctx["canary"]["revision"] = json!("{{args.canary-hash}}");
        qctx["stable"]["revision"] = json!("{{args.stable-hash}}");
    }
    let n = ctx["guardrails"].as_array().map_or(0, Vec::len);
    for i in 0..n {
        for ptr in ["/query", "/baseline", "/psi/query", "/psi/baseline"] {
            let g = &ctx["guardrails"][i];
            if let Some(src) = g.pointer(ptr).and_then(Value::as_str) {
                let what = format!(
                    "guardrail {} {}",
                    g["name"].as_str().unwrap_or("?"),
                    &ptr[1..]
                );
                let out = renderer.render_str(&what, src, &qctx)?;
                *ctx["guardrails"][i].pointer_mut(ptr).expect("present") = json!(out);
            }
        }
    }
    renderer.manifests(&ctx)
}

fn rendering(e: crate::render::RenderError) -> PlatformError {
    PlatformError::Other(format!("rendering: {e}"))
}

/// Renders the platform's manifests for (weight, mirror).
pub fn render_fn(
    c: &Config,
    plan: &Plan,
    renderer: Rc<Renderer>,
    env: Map<String, Value>,
) -> RenderFn {
    // Manifests carry every configured stage even when the loop walks fewer: in Argo watch mode
    // the loop has one phase (follow the Rollout to Healthy) while the Rollout holds all the steps.
    let plan = if c.target.mode == Some(crate::config::ArgoMode::Watch) {
        Plan::from_config(c)
    } else {
        plan.clone()
    };
    let c = c.clone();
    let rev = context::default_revisions(&c);
    Box::new(move |weight, mirror| {
        let ms = manifests(&c, &plan, &renderer, weight, mirror, &rev, &env).map_err(rendering)?;
        Ok(ms.into_iter().map(|m| m.value).collect())
    })
}

/// A Kubernetes platform driver over `api`.
pub fn kube_platform(c: &Config, api: Box<dyn KubeApi>, render: RenderFn) -> Box<dyn Platform> {
    let rev = context::default_revisions(c);
    let t = KubeTarget {
        api,
        namespace: context::namespace(c),
        name: context::resource(c),
        render,
    };
    match c.target.platform {
        PlatformKind::Kserve => Box::new(crate::platform::kserve::Kserve::new(t)),
        PlatformKind::Seldon => Box::new(crate::platform::seldon::Seldon::new(
            t,
            rev.stable_name,
            rev.canary_name,
        )),
        PlatformKind::SeldonV2 => Box::new(crate::platform::seldon_v2::SeldonV2::new(
            t,
            rev.stable_name,
            rev.canary_name,
            c.model.uri.clone(),
        )),
        PlatformKind::ArgoRollouts if c.target.mode == Some(crate::config::ArgoMode::Watch) => {
            Box::new(crate::platform::argo::Argo::watch(t))
        }
        PlatformKind::ArgoRollouts => Box::new(crate::platform::argo::Argo::new(t)),
        PlatformKind::Azureml => unreachable!("azureml is not a Kubernetes platform"),
    }
}

/// A recorder pre-seeded with the stable version a canary needs, as if the cluster had it.
pub fn seeded_recorder(
    c: &Config,
    plan: &Plan,
    renderer: &Renderer,
    log: RequestLog,
) -> Result<RecordingKube, PlatformError> {
    let fm = c
        .kubernetes
        .as_ref()
        .map_or("mlcanary", |k| k.field_manager.as_str());
    let mut rec = RecordingKube::new(fm, log);
    let ns = context::namespace(c);
    let rev = context::default_revisions(c);
    let objects: Vec<Value> = manifests(c, plan, renderer, 100, 0, &rev, &Map::new())
        .map_err(rendering)?
        .into_iter()
        .map(|m| m.value)
        .collect();
    for mut o in objects {
        match o["kind"].as_str() {
            Some("SeldonDeployment") => {
                if let Some(ps) = o["spec"]["predictors"].as_array_mut() {
                    ps.retain(|p| p["name"] == rev.stable_name.as_str());
                    for p in ps.iter_mut() {
                        p["traffic"] = json!(100);
                    }
                }
            }
            Some("Experiment") | Some("Model") | Some("AnalysisTemplate") => continue,
            _ => {}
        }
        rec.seed(object_path(&o, &ns)?, o);
    }
    if c.target.platform == PlatformKind::SeldonV2 {
        let stable = json!({"apiVersion": "mlops.seldon.io/v1alpha1", "kind": "Model",
            "metadata": {"name": rev.stable_name, "namespace": ns}, "spec": {"storageUri": "(the stable model)"}});
        rec.seed(SELDON_MODEL.path(&ns, &rev.stable_name), stable);
    }
    Ok(rec)
}

/// The rendered canary ManagedOnlineDeployment body, when the config asks mlcanary to create it.
pub fn azure_deployment_body(
    c: &Config,
    plan: &Plan,
    renderer: &Renderer,
) -> Result<Option<Value>, PlatformError> {
    if c.target.deployment.is_none() {
        return Ok(None);
    }
    let ms = manifests(
        c,
        plan,
        renderer,
        0,
        0,
        &context::default_revisions(c),
        &Map::new(),
    )
    .map_err(rendering)?;
    Ok(ms
        .into_iter()
        .find(|m| m.kind == "AzureMLDeployment")
        .map(|m| m.value))
}

/// Every provider of the config. Azure ones share `tokens` (a dry run passes a source that never
/// issues one: nothing is sent).
pub fn providers(
    c: &Config,
    tokens: std::sync::Arc<dyn crate::clients::azure::credential::TokenSource>,
) -> anyhow::Result<
    std::collections::BTreeMap<String, Box<dyn crate::metrics::Provider + Send + Sync>>,
> {
    let mut all = crate::metrics::build::providers(c, false)?;
    let needs_azure = c.providers.values().any(|p| {
        matches!(
            p,
            crate::config::ProviderSpec::AzureMonitor(_)
                | crate::config::ProviderSpec::LogAnalytics(_)
        )
    });
    if needs_azure {
        let s = super::azure::settings(c);
        let (arm, la) = super::azure::clients(
            &s,
            &crate::clients::azure::settings::ProcessEnv,
            tokens,
            Default::default(),
        );
        all.extend(super::azure::providers(c, &arm, &la));
    }
    Ok(all)
}
