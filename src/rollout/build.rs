//! Assembling a rollout from a config: everything the run renders, rendered before the first
//! request ([`render_run`]), and the platform driver over a given Kubernetes API (the live client
//! or the dry-run recorder).

use super::context::{self, Moment};
use super::recorder::{RecordingKube, RequestLog};
use crate::config::{Config, Guardrail, PlatformKind};
use crate::core::guardrail::{queries, QuerySpec};
use crate::core::plan::Plan;
use crate::platform::k8s::{object_path, KubeApi, SELDON_MODEL};
use crate::platform::kube_platform::KubeTarget;
use crate::platform::{Platform, PlatformError, Revisions};
use crate::render::{RenderError, Renderer};
use serde_json::{json, Map, Value};

/// Everything a run renders, rendered before anything is sent: a template error then stops the
/// run with nothing changed (exit 2) instead of failing a stage half way.
#[derive(Debug, Clone, Default)]
pub struct Rendered {
    /// The platform's manifests for each phase of the run's plan, in apply order.
    pub phases: Vec<Vec<Value>>,
    /// The rendered canary ManagedOnlineDeployment body (Azure ML creates it when configured).
    pub azure_deployment: Option<Value>,
}

impl Rendered {
    /// Phase `i`'s manifests (none for a phase the plan does not have).
    pub fn phase(&self, i: usize) -> &[Value] {
        self.phases.get(i).map_or(&[], Vec::as_slice)
    }
    /// The last phase's objects (the canary at 100%).
    pub fn last(&self) -> &[Value] {
        self.phases.last().map_or(&[], Vec::as_slice)
    }
}

/// Render every phase's manifests and every guardrail query of every phase, as the run will.
/// Values known only at runtime (the stage's start and elapsed time, revision names the platform
/// reports after readiness) are stubbed with placeholders of the same type, so a template that
/// uses an undefined variable fails here, naming the template and its line.
pub fn render_run(
    c: &Config,
    plan: &Plan,
    renderer: &Renderer,
    env: &Map<String, Value>,
) -> Result<Rendered, RenderError> {
    // In Argo watch mode the loop has one phase (follow the Rollout to Healthy) while the Rollout
    // holds every configured stage: its manifests are the full plan's, at the final stage.
    let watch = c.target.mode == Some(crate::config::ArgoMode::Watch);
    let full = Plan::from_config(c);
    let rev = context::placeholder_revisions(c);
    let mut phases = Vec::with_capacity(plan.stages.len());
    let mut azure_deployment = None;
    for i in 0..plan.stages.len() {
        let (p, at) = if watch {
            (&full, full.stages.len() - 1)
        } else {
            (plan, i)
        };
        let ms = manifests(c, p, renderer, at, &rev, &Map::new())?;
        if i == 0 {
            azure_deployment = ms
                .iter()
                .find(|m| m.kind == "AzureMLDeployment")
                .map(|m| m.value.clone());
        }
        phases.push(ms.into_iter().map(|m| m.value).collect());
    }
    check_queries(c, plan, renderer, env)?;
    Ok(Rendered {
        phases,
        azure_deployment,
    })
}

/// Every guardrail query of every phase, rendered with runtime values stubbed.
fn check_queries(
    c: &Config,
    plan: &Plan,
    renderer: &Renderer,
    env: &Map<String, Value>,
) -> Result<(), RenderError> {
    let rev = context::placeholder_revisions(c);
    for (phase, stage) in plan.stages.iter().enumerate() {
        let at = Moment {
            phase,
            start: 0,
            elapsed: 0,
        };
        let ctx = context::build(c, plan, &at, &rev, env);
        for &gi in &stage.guardrails {
            let g = &c.guardrails[gi];
            for spec in queries(g) {
                query(c, renderer, g, &spec, &ctx)?;
            }
        }
    }
    Ok(())
}

/// One guardrail query as its provider receives it: the text and, for Azure Monitor, the filter.
pub fn query(
    c: &Config,
    renderer: &Renderer,
    g: &Guardrail,
    spec: &QuerySpec,
    ctx: &Value,
) -> Result<(String, Option<String>), RenderError> {
    let text = renderer.render_str(&format!("guardrail {} query", g.name), &spec.template, ctx)?;
    crate::metrics::build::request(c, renderer, g, spec.role, text, ctx)
}

/// Render the platform's manifests for phase `phase` of `plan`. Guardrail queries inside the
/// context are rendered first: an Argo AnalysisTemplate names revisions through Argo's own args,
/// filled by the Rollout's analysis step with the canary's and stable's pod-template hashes.
pub fn manifests(
    c: &Config,
    plan: &Plan,
    renderer: &Renderer,
    phase: usize,
    rev: &Revisions,
    env: &Map<String, Value>,
) -> Result<Vec<crate::render::Manifest>, RenderError> {
    let at = Moment {
        phase,
        ..Moment::default()
    };
    let mut ctx = context::build(c, plan, &at, rev, env);
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

/// A Kubernetes platform driver over `api`, knowing whether it has written
/// ([`Platform::has_written`]).
pub fn kube_platform(c: &Config, api: Box<dyn KubeApi>, rendered: &Rendered) -> Box<dyn Platform> {
    let planned = rendered.last().to_vec();
    Box::new(crate::platform::written::tracked(api, |api| {
        driver(c, api, planned)
    }))
}

/// The platform file's driver for the config's target.
fn driver(c: &Config, api: Box<dyn KubeApi>, planned: Vec<Value>) -> Box<dyn Platform> {
    let rev = context::default_revisions(c);
    let t = KubeTarget {
        api,
        namespace: context::namespace(c),
        name: context::resource(c),
        planned,
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
    rendered: &Rendered,
    log: RequestLog,
) -> Result<RecordingKube, PlatformError> {
    let fm = c
        .kubernetes
        .as_ref()
        .map_or("mlcanary", |k| k.field_manager.as_str());
    let mut rec = RecordingKube::new(fm, log);
    let ns = context::namespace(c);
    let rev = context::default_revisions(c);
    for mut o in rendered.last().iter().cloned() {
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

/// Every provider of the config. Azure ones share `tokens` (a dry run passes a source that never
/// issues one: nothing is sent).
pub fn providers(
    c: &Config,
    tokens: std::sync::Arc<dyn crate::clients::azure::credential::TokenSource>,
) -> anyhow::Result<
    std::collections::BTreeMap<String, Box<dyn crate::metrics::Provider + Send + Sync>>,
> {
    let needs_azure = c.providers.values().any(|p| {
        matches!(
            p,
            crate::config::ProviderSpec::AzureMonitor(_)
                | crate::config::ProviderSpec::LogAnalytics(_)
        )
    });
    let azure = needs_azure.then(|| {
        let s = super::azure::settings(c);
        let (arm, logs) = super::azure::clients(
            &s,
            &crate::clients::azure::settings::ProcessEnv,
            tokens,
            Default::default(),
        );
        crate::metrics::build::Azure {
            arm,
            logs,
            default_resource: super::azure::target(c).endpoint_path(),
        }
    });
    crate::metrics::build::providers(c, azure.as_ref())
}
