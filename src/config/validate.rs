//! Cross-field rules of the contract. Collects every problem in one pass; each is (key path,
//! message) and the loader attaches the line and column.

use super::error::did_you_mean;
use super::types::*;
use std::collections::BTreeSet;
use std::path::Path;

type Diags = Vec<(String, String)>;

/// List lengths no real rollout comes near; past them the config is refused before any
/// per-item work (bounded work for any input).
pub const LIMITS: [(&str, usize); 4] = [
    ("stages", 100),
    ("guardrails", 100),
    ("providers", 50),
    ("notify", 20),
];

/// The lists over their [`LIMITS`].
fn too_long(c: &Config) -> Diags {
    let len = |key: &str| match key {
        "stages" => c.stages.len(),
        "guardrails" => c.guardrails.len(),
        "providers" => c.providers.len(),
        _ => c.notify.len(),
    };
    LIMITS
        .iter()
        .filter(|(key, max)| len(key) > *max)
        .map(|(key, max)| {
            (
                key.to_string(),
                format!("{} entries; at most {max} are accepted", len(key)),
            )
        })
        .collect()
}

pub fn validate(c: &Config, base_dir: Option<&Path>) -> Diags {
    let d = too_long(c);
    if !d.is_empty() {
        return d;
    }
    let mut d = Diags::new();
    if c.api_version != "mlcanary/v1" {
        d.push((
            "apiVersion".into(),
            format!(
                "unsupported apiVersion {:?}: this mlcanary reads mlcanary/v1",
                c.api_version
            ),
        ));
    }
    if let Err(e) = dns1123_subdomain(&c.name) {
        d.push((
            "name".into(),
            format!("{e} (the name is the default resource name)"),
        ));
    }
    if c.model.uri.trim().is_empty() {
        d.push(("model.uri".into(), "the model uri is empty".into()));
    }
    target(c, &mut d);
    stages(c, &mut d);
    analysis(c, &mut d);
    shadow(c, &mut d);
    azure(c, &mut d);
    providers(c, &mut d);
    guardrails(c, &mut d);
    d.extend(super::compare::validate(c));
    notify(c, &mut d);
    if let Some(t) = &c.templates {
        let dir = base_dir.map(|b| b.join(t)).unwrap_or_else(|| t.into());
        if !dir.is_dir() {
            d.push((
                "templates".into(),
                format!("templates folder {} does not exist", dir.display()),
            ));
        }
    }
    d
}

/// RFC 1123 label: lowercase alphanumerics and '-', at most 63, starting and ending alphanumeric.
pub fn dns1123_label(s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > 63 {
        return Err(format!(
            "{s:?} is not a valid Kubernetes name: 1 to 63 characters"
        ));
    }
    let ok = s
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    let ends = s.as_bytes()[0].is_ascii_alphanumeric()
        && s.as_bytes()[s.len() - 1].is_ascii_alphanumeric();
    if !ok || !ends {
        return Err(format!(
            "{s:?} is not a valid Kubernetes name (DNS-1123): lowercase letters, digits and '-', starting and ending with a letter or digit"
        ));
    }
    Ok(())
}

/// RFC 1123 subdomain: dot-separated labels, at most 253.
pub fn dns1123_subdomain(s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > 253 {
        return Err(format!(
            "{s:?} is not a valid Kubernetes name: 1 to 253 characters"
        ));
    }
    for label in s.split('.') {
        dns1123_label(label).map_err(|_| {
            format!("{s:?} is not a valid Kubernetes name (DNS-1123): lowercase letters, digits, '-' and '.'")
        })?;
    }
    Ok(())
}

fn need(d: &mut Diags, path: &str, v: &Option<String>, why: &str) {
    if v.as_deref().is_none_or(|s| s.trim().is_empty()) {
        d.push((
            path.into(),
            format!(
                "`{}` is required {why}",
                path.rsplit('.').next().unwrap_or(path)
            ),
        ));
    }
}

/// The deployment's model and environment references must be ones Azure ML resolves.
fn azure_assets(c: &Config, dep: &crate::config::types::AzureDeployment, d: &mut Diags) {
    use crate::platform::azureml_assets::{parse, AssetKind};
    let ws = crate::platform::azureml::AzureMlTarget::from_config(c).workspace_path();
    let (model_key, model) = match &dep.model {
        Some(m) => ("target.deployment.model", m.as_str()),
        None => ("model.uri", c.model.uri.as_str()),
    };
    if !model.trim().is_empty() {
        if let Err(e) = parse(AssetKind::Model, model, &ws) {
            let why = if dep.model.is_none() {
                " (model.uri is the deployment's model unless target.deployment.model is set)"
            } else {
                ""
            };
            d.push((model_key.into(), format!("{e}{why}")));
        }
    } else if dep.model.is_some() {
        d.push((model_key.into(), "the deployment's model is empty".into()));
    }
    if let Some(env) = &dep.environment {
        if let Err(e) = parse(AssetKind::Environment, env, &ws) {
            d.push((
                "target.deployment.environment".into(),
                format!("{e}; leave `environment` out for an MLflow model (no-code deployment)"),
            ));
        }
    }
}

fn target(c: &Config, d: &mut Diags) {
    let t = &c.target;
    let p = t.platform;
    target_keys(t, d);
    if p.is_kubernetes() {
        kubernetes_target(t, d);
    }
    let names: [(&str, &Option<String>); 4] = [
        ("stablePredictor", &t.stable_predictor),
        ("canaryPredictor", &t.canary_predictor),
        ("stableModel", &t.stable_model),
        ("canaryModel", &t.canary_model),
    ];
    for (key, v) in names {
        if let Some(v) = v {
            if let Err(e) = dns1123_label(v) {
                d.push((format!("target.{key}"), e));
            }
        }
    }
    match p {
        PlatformKind::Kserve if c.model.format.is_none() => {
            d.push(("model.format".into(), "`format` is required for kserve (the InferenceService's modelFormat.name, e.g. sklearn)".into()));
        }
        PlatformKind::Seldon => {
            if !t.values.contains_key("stableModelUri") {
                d.push((
                    "target.stableModelUri".into(),
                    "`stableModelUri` is required for seldon (the stable predictor's model URI: `render` and dry runs build the stable predictor from it; live runs read it from the cluster)".into(),
                ));
            }
            let s = t.stable_predictor.as_deref().unwrap_or("main");
            let k = t.canary_predictor.as_deref().unwrap_or("canary");
            if s == k {
                d.push((
                    "target.canaryPredictor".into(),
                    "the canary predictor must differ from the stable predictor".into(),
                ));
            }
        }
        PlatformKind::SeldonV2 => {
            need(
                d,
                "target.stableModel",
                &t.stable_model,
                "for seldon-v2 (the Experiment's default Model)",
            );
            if t.stable_model.is_some() && t.stable_model == t.canary_model {
                d.push((
                    "target.canaryModel".into(),
                    "the canary Model must differ from the stable Model".into(),
                ));
            }
        }
        PlatformKind::Azureml => azureml_target(c, d),
        _ => {}
    }
    if p != PlatformKind::ArgoRollouts && t.mode.is_some() {
        d.push((
            "target.mode".into(),
            "`mode` is for platform argo-rollouts".into(),
        ));
    }
}

/// Azure ML names its workspace, endpoint and both deployments; a deployment body's assets must
/// resolve.
fn azureml_target(c: &Config, d: &mut Diags) {
    let t = &c.target;
    let why = "for platform azureml";
    need(d, "target.subscriptionId", &t.subscription_id, why);
    need(d, "target.resourceGroup", &t.resource_group, why);
    need(d, "target.workspace", &t.workspace, why);
    need(d, "target.endpoint", &t.endpoint, why);
    need(d, "target.stableDeployment", &t.stable_deployment, why);
    need(d, "target.canaryDeployment", &t.canary_deployment, why);
    if t.stable_deployment.is_some() && t.stable_deployment == t.canary_deployment {
        d.push((
            "target.canaryDeployment".into(),
            "the canary deployment must differ from the stable deployment".into(),
        ));
    }
    if t.location.as_deref().is_some_and(|l| l.trim().is_empty()) {
        d.push((
            "target.location".into(),
            "`location` is empty; leave it out to use the endpoint's".into(),
        ));
    }
    if let Some(dep) = &t.deployment {
        azure_assets(c, dep, d);
        if dep.code_id.is_none() && dep.scoring_script.is_some() {
            d.push((
                "target.deployment.scoringScript".into(),
                "`scoringScript` goes with `codeId` (the code asset holding it)".into(),
            ));
        }
    }
}

/// A key of `target` that is not one is a template value, unless it is a near-miss of a key.
fn target_keys(t: &Target, d: &mut Diags) {
    for (key, v) in &t.values {
        if TEMPLATE_KEYS.contains(&key.as_str()) {
            continue; // documented template values are not near-misses of config keys
        }
        if let Some(s) = did_you_mean(key, TARGET_KEYS.iter().copied()) {
            d.push((
                format!("target.{key}"),
                format!(
                    "unknown key `{key}` (did you mean `{s}`?); other keys are template values"
                ),
            ));
        }
        let _ = v;
    }
}

/// Kubernetes names are DNS names, and the Azure ML keys do not belong.
fn kubernetes_target(t: &Target, d: &mut Diags) {
    let p = t.platform;
    if let Some(ns) = &t.namespace {
        if let Err(e) = dns1123_label(ns) {
            d.push(("target.namespace".into(), e));
        }
    }
    if let Some(r) = &t.resource {
        if let Err(e) = dns1123_subdomain(r) {
            d.push(("target.resource".into(), e));
        }
    }
    for key in [
        "subscriptionId",
        "resourceGroup",
        "workspace",
        "endpoint",
        "stableDeployment",
        "canaryDeployment",
        "deployment",
    ] {
        if azure_key_set(t, key) {
            d.push((
                format!("target.{key}"),
                format!("`{key}` is for platform azureml, not {}", p.as_str()),
            ));
        }
    }
}

fn azure_key_set(t: &Target, key: &str) -> bool {
    match key {
        "subscriptionId" => t.subscription_id.is_some(),
        "resourceGroup" => t.resource_group.is_some(),
        "workspace" => t.workspace.is_some(),
        "endpoint" => t.endpoint.is_some(),
        "stableDeployment" => t.stable_deployment.is_some(),
        "canaryDeployment" => t.canary_deployment.is_some(),
        "deployment" => t.deployment.is_some(),
        _ => false,
    }
}

fn stages(c: &Config, d: &mut Diags) {
    if c.stages.is_empty() {
        d.push(("stages".into(), "at least one stage is needed".into()));
    }
    let mut prev = 0;
    for (i, s) in c.stages.iter().enumerate() {
        if !(1..=100).contains(&s.weight) {
            d.push((
                format!("stages[{i}]"),
                format!("weight {} is outside 1..100", s.weight),
            ));
        } else if s.weight <= prev {
            d.push((
                format!("stages[{i}]"),
                format!("weights must strictly increase: {} after {prev}", s.weight),
            ));
        }
        prev = prev.max(s.weight);
    }
}

fn analysis(c: &Config, d: &mut Diags) {
    let a = &c.analysis;
    if a.interval.is_zero() {
        d.push((
            "analysis.interval".into(),
            "the check interval must be greater than 0".into(),
        ));
    }
    if a.deadline.is_zero() {
        d.push((
            "analysis.deadline".into(),
            "the deadline must be greater than 0".into(),
        ));
    }
    if c.target.ready_poll.is_some_and(|p| p.is_zero()) {
        d.push((
            "target.readyPoll".into(),
            "the longest wait between readiness polls must be greater than 0 (e.g. 5s)".into(),
        ));
    }
    if a.advance_early
        && !c
            .guardrails
            .iter()
            .any(|g| g.sequential.is_some() && !g.dry_run)
    {
        d.push(("analysis.advanceEarly".into(), "advanceEarly needs at least one sequential guardrail (only they can prove a canary safe)".into()));
    }
}

fn shadow(c: &Config, d: &mut Diags) {
    let Some(s) = &c.shadow else { return };
    let p = c.target.platform;
    if !p.can_shadow() {
        d.push(("shadow".into(), format!("platform {} cannot mirror traffic; remove `shadow` (it works on seldon, seldon-v2 and azureml)", p.as_str())));
    }
    let max = if p == PlatformKind::Azureml { 50 } else { 100 };
    if !(1..=max).contains(&s.percent) {
        d.push((
            "shadow.percent".into(),
            format!("shadow percent {} is outside 1..{max}", s.percent),
        ));
    }
    if s.duration.is_zero() {
        d.push((
            "shadow.duration".into(),
            "the shadow duration must be greater than 0".into(),
        ));
    }
    let names: Vec<&str> = c.guardrails.iter().map(|g| g.name.as_str()).collect();
    for (i, n) in s.guardrails.iter().flatten().enumerate() {
        if !names.contains(&n.as_str()) {
            let hint = did_you_mean(n, names.iter().copied())
                .map(|s| format!(" (did you mean `{s}`?)"))
                .unwrap_or_default();
            d.push((
                format!("shadow.guardrails[{i}]"),
                format!("no guardrail named `{n}`{hint}"),
            ));
        }
    }
}

fn azure(c: &Config, d: &mut Diags) {
    let Some(a) = &c.azure else { return };
    match (a.cloud, &a.endpoints) {
        (Cloud::Custom, None) => d.push((
            "azure.endpoints".into(),
            "`endpoints` (arm, authority) is required with cloud: custom".into(),
        )),
        (Cloud::Custom, Some(e)) => {
            for (k, v) in [
                ("arm", Some(&e.arm)),
                ("authority", Some(&e.authority)),
                ("logAnalytics", e.log_analytics.as_ref()),
            ] {
                if let Some(v) = v {
                    if !v.starts_with("https://") {
                        d.push((
                            format!("azure.endpoints.{k}"),
                            format!("{v:?} must be an https:// URL"),
                        ));
                    }
                }
            }
        }
        (_, Some(_)) => d.push((
            "azure.endpoints".into(),
            "`endpoints` is only used with cloud: custom".into(),
        )),
        _ => {}
    }
    if let Some(v) = &a.id_token_variable {
        if !is_env_name(v) {
            d.push((
                "azure.idTokenVariable".into(),
                format!("{v:?} is not an environment variable name"),
            ));
        }
    }
}

pub fn is_env_name(s: &str) -> bool {
    !s.is_empty()
        && !s.as_bytes()[0].is_ascii_digit()
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn providers(c: &Config, d: &mut Diags) {
    for (name, p) in &c.providers {
        let base = format!("providers.{name}");
        let (url, token_env) = match p {
            ProviderSpec::Prometheus(p) => (Some(("address", &p.address)), &p.bearer_token_env),
            ProviderSpec::Http(h) => (Some(("url", &h.url)), &h.bearer_token_env),
            _ => (None, &None),
        };
        if let Some((key, u)) = url {
            if !(u.starts_with("http://") || u.starts_with("https://")) {
                d.push((
                    format!("{base}.{key}"),
                    format!("{u:?} must be an http:// or https:// URL"),
                ));
            }
        }
        if let Some(v) = token_env {
            if !is_env_name(v) {
                d.push((format!("{base}.bearerTokenEnv"), "bearerTokenEnv is the NAME of an environment variable holding the token, never the token itself".into()));
            }
        }
        if let ProviderSpec::Http(h) = p {
            if !h.value_path.is_empty() && !h.value_path.starts_with('/') {
                d.push((
                    format!("{base}.valuePath"),
                    format!(
                        "{:?} is not a JSON pointer: start it with '/', e.g. /data/value",
                        h.value_path
                    ),
                ));
            }
        }
        if matches!(p, ProviderSpec::AzureMonitor(_)) && c.target.platform != PlatformKind::Azureml
        {
            if let ProviderSpec::AzureMonitor(a) = p {
                if a.resource_id.is_none() {
                    d.push((
                        base.clone(),
                        "an azure-monitor provider needs `resourceId` unless the target is azureml"
                            .into(),
                    ));
                }
            }
        }
    }
}

fn guardrails(c: &Config, d: &mut Diags) {
    let mut seen = BTreeSet::new();
    let provider_names: Vec<&str> = c.providers.keys().map(String::as_str).collect();
    for (i, g) in c.guardrails.iter().enumerate() {
        let base = format!("guardrails[{i}]");
        if !seen.insert(g.name.as_str()) {
            d.push((
                format!("{base}.name"),
                format!("duplicate guardrail name `{}`", g.name),
            ));
        }
        if g.name.trim().is_empty() {
            d.push((format!("{base}.name"), "a guardrail needs a name".into()));
        }
        let provider = c.providers.get(&g.provider);
        let compare = c.compare.is_some() && g.provider == super::compare::COMPARE_PROVIDER;
        if provider.is_none() && !compare {
            let hint = did_you_mean(&g.provider, provider_names.iter().copied())
                .map(|s| format!(" (did you mean `{s}`?)"))
                .unwrap_or_default();
            let known = if provider_names.is_empty() {
                "none are defined".to_string()
            } else {
                format!("defined: {}", provider_names.join(", "))
            };
            d.push((
                format!("{base}.provider"),
                format!("unknown provider `{}`{hint}; {known}", g.provider),
            ));
        }
        let kinds = [g.query.is_some(), g.psi.is_some(), g.sequential.is_some()]
            .iter()
            .filter(|b| **b)
            .count();
        if kinds != 1 {
            d.push((
                base.clone(),
                "a guardrail needs exactly one of `query`, `psi` or `sequential`".into(),
            ));
            continue;
        }
        if g.baseline.is_some() && g.query.is_none() {
            d.push((
                format!("{base}.baseline"),
                "`baseline` goes with `query`".into(),
            ));
        }
        let kind = g.kind();
        if kind == GuardrailKind::Sequential {
            sequential(g, &base, d);
            let distribution = g
                .sequential
                .as_ref()
                .is_some_and(|s| s.test == SequentialTest::Distribution);
            if distribution {
                // PSI zones: what "does it matter?" means for a real difference.
                if let (Some(p), Some(r)) = (&g.promote, &g.rollback) {
                    if p.overlaps(r) {
                        d.push((
                            format!("{base}.promote"),
                            format!("the promote zone `{p}` overlaps the rollback zone `{r}`"),
                        ));
                    }
                }
            } else {
                for (k, v) in [("promote", &g.promote), ("rollback", &g.rollback)] {
                    if v.is_some() {
                        d.push((format!("{base}.{k}"), "a sequential rate or latency guardrail decides by its test; remove promote/rollback".into()));
                    }
                }
            }
        } else {
            zones(g, kind, &base, d);
        }
        if let Some(p) = provider {
            provider_fits(p, g, kind, &base, d);
        }
    }
}

fn zones(g: &Guardrail, kind: GuardrailKind, base: &str, d: &mut Diags) {
    if g.promote.is_none() && g.rollback.is_none() {
        d.push((
            base.to_string(),
            "a guardrail needs `promote`, `rollback` or both".into(),
        ));
        return;
    }
    if let (Some(p), Some(r)) = (&g.promote, &g.rollback) {
        if p.overlaps(r) {
            d.push((format!("{base}.promote"), format!("the promote zone `{p}` overlaps the rollback zone `{r}`: some value would be both")));
        }
    }
    for (k, v) in [("promote", &g.promote), ("rollback", &g.rollback)] {
        let Some(cond) = v else { continue };
        match (kind, cond.relative) {
            (GuardrailKind::Baseline, false) => d.push((format!("{base}.{k}"), format!("with `baseline`, write the condition as a ratio to the baseline, e.g. \"{} 1.2x\"", cond.op.symbol()))),
            (GuardrailKind::Threshold | GuardrailKind::Psi, true) => d.push((format!("{base}.{k}"), format!("`{cond}` is relative (x) but the guardrail has no `baseline` query"))),
            _ => {}
        }
    }
}

fn sequential(g: &Guardrail, base: &str, d: &mut Diags) {
    let s = g.sequential.as_ref().expect("checked by caller");
    let b = format!("{base}.sequential");
    if !(s.alpha.0 > 0.0 && s.alpha.0 < 0.5) {
        d.push((
            format!("{b}.alpha"),
            format!("alpha {} must be between 0 and 0.5", s.alpha.0),
        ));
    }
    if !(s.prior_strength > 0.0 && s.prior_strength <= 10_000.0) {
        d.push((
            format!("{b}.priorStrength"),
            format!(
                "priorStrength {} must be between 0 and 10000",
                s.prior_strength
            ),
        ));
    }
    if let Some(p) = s.prove_within {
        if p.0 < 1.0 {
            d.push((
                format!("{b}.proveWithin"),
                format!("proveWithin {}x must be at least 1x", p.0),
            ));
        }
    }
    if !(s.tolerance.0 >= 1.0 && s.tolerance.0 <= 10.0) {
        d.push((
            format!("{b}.tolerance"),
            format!("tolerance {}x must be between 1x and 10x", s.tolerance.0),
        ));
    }
    for (arm, a) in [("canary", &s.canary), ("baseline", &s.baseline)] {
        let p = format!("{b}.{arm}");
        let counts = a.events.is_some() && a.total.is_some();
        let partial = a.events.is_some() != a.total.is_some();
        match s.test {
            SequentialTest::Rate => {
                if !counts {
                    d.push((
                        p.clone(),
                        "test: rate needs `events` and `total` count queries".into(),
                    ));
                }
                if a.histogram.is_some() {
                    d.push((
                        format!("{p}.histogram"),
                        "test: rate takes `events` and `total`, not `histogram`".into(),
                    ));
                }
            }
            SequentialTest::Latency => {
                if partial || (counts == a.histogram.is_some()) {
                    d.push((p.clone(), "test: latency needs either `events` (slow requests) and `total`, or `histogram`".into()));
                }
            }
            SequentialTest::Distribution => {
                if a.histogram.is_none() || a.events.is_some() || a.total.is_some() {
                    d.push((
                        p.clone(),
                        "test: distribution needs `histogram` only".into(),
                    ));
                }
            }
        }
    }
}

fn provider_fits(p: &ProviderSpec, g: &Guardrail, kind: GuardrailKind, base: &str, d: &mut Diags) {
    let histogram = kind == GuardrailKind::Psi
        || g.sequential
            .as_ref()
            .is_some_and(|s| s.canary.histogram.is_some());
    if histogram && matches!(p, ProviderSpec::AzureMonitor(_) | ProviderSpec::Http(_)) {
        d.push((base.to_string(), format!("provider `{}` ({}) returns single numbers; histograms need prometheus or log-analytics", g.provider, p.type_name())));
    }
    if (g.aggregation.is_some() || g.filter.is_some())
        && !matches!(p, ProviderSpec::AzureMonitor(_))
    {
        d.push((
            base.to_string(),
            "`aggregation` and `filter` are for azure-monitor providers".into(),
        ));
    }
}

fn notify(c: &Config, d: &mut Diags) {
    for (i, n) in c.notify.iter().enumerate() {
        let p = format!("notify[{i}].url");
        if let Err(e) = check_env_refs(&n.url) {
            d.push((p.clone(), e));
        }
        if !(n.url.starts_with("${")
            || n.url.starts_with("https://")
            || n.url.starts_with("http://"))
        {
            d.push((
                p,
                "the webhook URL must be http(s):// or come from the environment as ${VAR}".into(),
            ));
        }
        if n.on.is_empty() {
            d.push((
                format!("notify[{i}].on"),
                "list at least one event: started, stage, promoted, rollback, failed".into(),
            ));
        }
    }
}

/// `${VAR}` references must be well formed.
pub fn check_env_refs(s: &str) -> Result<(), String> {
    let mut rest = s;
    while let Some(i) = rest.find("${") {
        let after = &rest[i + 2..];
        let Some(end) = after.find('}') else {
            return Err("unclosed ${ in the URL".into());
        };
        if !is_env_name(&after[..end]) {
            return Err(format!(
                "${{{}}} is not an environment variable name",
                &after[..end]
            ));
        }
        rest = &after[end + 1..];
    }
    Ok(())
}
