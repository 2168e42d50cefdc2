//! Assembling a rollout from a config: everything the run renders, rendered before the first
//! request ([`render_run`]), and the platform driver over a given Kubernetes API (the live client
//! or the dry-run recorder).

use super::context::{self, Moment};
use super::recorder::{RecordingKube, RequestLog};
use crate::config::{Config, Guardrail};
use crate::core::guardrail::{queries, QuerySpec};
use crate::core::plan::{Plan, Walk};
use crate::platform::k8s::{object_path, KubeApi};
use crate::platform::target::Target;
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
    let full = Plan::from_config(c);
    let rev = context::placeholder_revisions(c);
    let mut phases = Vec::with_capacity(plan.stages.len());
    let mut azure_deployment = None;
    for i in 0..plan.stages.len() {
        let (p, at) = match plan.walk {
            Walk::ArgoWatch => (&full, full.stages.len() - 1),
            Walk::Stages => (plan, i),
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
    if let Some((canary, stable)) = Target::from_config(c).manifest_revisions() {
        qctx["canary"]["revision"] = json!(canary);
        qctx["stable"]["revision"] = json!(stable);
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
    let target = Target::from_config(c);
    let planned = rendered.last().to_vec();
    Box::new(crate::platform::written::tracked(api, |api| {
        target
            .kube_driver(api, planned)
            .expect("a Kubernetes platform")
    }))
}

/// The platform driver of a dry run: the live driver over a recorder (`RecordingKube` seeded
/// with the stable version a canary needs, or Azure ML's `azureml_dry`), logging into `log`.
pub fn recording_platform(
    c: &Config,
    rendered: &Rendered,
    log: RequestLog,
) -> Result<Box<dyn Platform>, PlatformError> {
    Ok(match Target::from_config(c) {
        Target::AzureMl(t) => Box::new(crate::platform::azureml_dry::platform(
            t,
            rendered.azure_deployment.clone(),
            log,
        )),
        _ => {
            let rec = seeded_recorder(c, rendered, log)?;
            kube_platform(c, Box::new(rec), rendered)
        }
    })
}

/// A recorder pre-seeded with the stable version a canary needs, as if the cluster had it
/// (`Target::stable_objects`).
fn seeded_recorder(
    c: &Config,
    rendered: &Rendered,
    log: RequestLog,
) -> Result<RecordingKube, PlatformError> {
    let target = Target::from_config(c);
    let k = target.kube().expect("a Kubernetes platform");
    let mut rec = RecordingKube::new(&k.field_manager, log);
    for o in target.stable_objects(rendered.last()) {
        rec.seed(object_path(&o, &k.namespace)?, o);
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
            default_resource: crate::platform::azureml::AzureMlTarget::from_config(c)
                .endpoint_path(),
        }
    });
    crate::metrics::build::providers(c, azure.as_ref())
}
