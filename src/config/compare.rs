//! `compare:` (docs/compare.md): a prediction comparison phase before any user sees the canary.
//! mlcanary sends the same recorded requests to the stable and the canary version and compares
//! the answers; guardrails with `provider: compare` judge the comparison's values. Plain data and
//! its cross-field rules; the requests file itself is checked by `core::compare::requests`.

use super::condition::Fraction;
use super::duration::Duration;
use super::types::{Config, PlatformKind};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The implicit provider name guardrails use to judge the comparison.
pub const COMPARE_PROVIDER: &str = "compare";

/// The values a `provider: compare` guardrail may ask for (`query:`), and the histograms
/// (`psi: {query: canary, baseline: stable}`).
pub const COMPARE_VALUES: &[&str] = &[
    "disagreement",
    "agreement",
    "scoreDiffMean",
    "scoreDiffP99",
    "scoreDiffMax",
    "latencyP50Ratio",
    "latencyP99Ratio",
    "stableErrorRate",
    "canaryErrorRate",
    "requests",
];
pub const COMPARE_HISTOGRAMS: &[&str] = &["canary", "stable"];

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Compare {
    /// A JSONL file (relative to the config file): one request body per line.
    pub requests: String,
    /// Send a random sample of this many lines (default: every line).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample: Option<u32>,
    /// Seed of the sample, so a re-run sends the same requests.
    #[serde(default = "d_seed")]
    pub seed: u64,
    /// Requests per second sent to EACH version.
    #[serde(default = "d_rate")]
    pub rate: f64,
    /// Requests in flight per version at most.
    #[serde(default = "d_concurrency")]
    pub concurrency: u32,
    /// Per-request timeout.
    #[serde(default = "d_timeout")]
    pub timeout: Duration,
    /// The wire protocol of both versions.
    pub protocol: Protocol,
    /// How a prediction is read from an answer.
    #[serde(default)]
    pub prediction: Prediction,
    /// The model name in v1/v2 paths (default: the platform's model or resource name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_name: Option<String>,
    /// The base URL requests go to when the platform's own addressing is used: the ingress or
    /// gateway (kserve, seldon-v2), e.g. http://istio-ingressgateway.istio-system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// kserve: the cluster's ingress domain of tag routing hosts (latest-/prev-NAME-predictor.NS.DOMAIN).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// The Services' port when the platform's own addressing is used: argo-rollouts, the
    /// `stableService` / `canaryService` (default 80); seldon, the predictor Services (default
    /// 8000, the operator's `ENGINE_SERVER_PORT` when it changes it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// azureml: `key` (ARM listKeys, default) or `token` (Entra ID, audience ml.azure.com).
    #[serde(default)]
    pub auth: CompareAuth,
    /// Explicit addressing of the stable version (overrides the platform's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stable: Option<Endpoint>,
    /// Explicit addressing of the canary version (overrides the platform's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<Endpoint>,
    /// A sequential test on the disagreement rate: a clear excess over `tolerance` stops the phase early.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_early: Option<StopEarly>,
}

fn d_seed() -> u64 {
    1
}
fn d_rate() -> f64 {
    20.0
}
fn d_concurrency() -> u32 {
    4
}
fn d_timeout() -> Duration {
    Duration::from_secs(10)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// Open Inference Protocol v2 (KServe v2, MLServer, Triton, Seldon v2): `{"inputs": [...]}`.
    V2,
    /// KServe v1 / TF-Serving: `{"instances": [...]}` -> `{"predictions": [...]}`.
    V1,
    /// Seldon Core v1: `{"data": {"ndarray": ...}}` -> `{"data": {"ndarray": ...}}`.
    Seldon,
    /// Azure ML scoring script JSON (whatever `run()` returns; default: the answer is the list).
    Azureml,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::V2 => "v2",
            Protocol::V1 => "v1",
            Protocol::Seldon => "seldon",
            Protocol::Azureml => "azureml",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PredictionKind {
    /// A class label (string or integer): compared for equality.
    #[default]
    Label,
    /// A number: compared by absolute difference, PSI, and equality within `labelTolerance`.
    Score,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Prediction {
    /// label (default) or score.
    #[serde(default)]
    pub kind: PredictionKind,
    /// v2: the output tensor's name (default: the first output).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// A JSON pointer to the predictions in the answer (overrides the protocol's place).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// score: two scores closer than this count as agreeing (default 1e-6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agree_within: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CompareAuth {
    /// The endpoint key from ARM `listKeys`.
    #[default]
    Key,
    /// An Entra ID token for https://ml.azure.com.
    Token,
}

/// One version's address. `${VAR}` in a header value is read from the environment at run time
/// and never printed.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Endpoint {
    /// The full inference URL (POST).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Extra headers (e.g. Host, seldon-model, Authorization: "Bearer ${TOKEN}").
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct StopEarly {
    /// The disagreement rate still acceptable, e.g. "2%".
    pub tolerance: Fraction,
    /// Probability of stopping although the true rate is within tolerance.
    #[serde(default = "d_alpha")]
    pub alpha: Fraction,
}

fn d_alpha() -> Fraction {
    Fraction(0.05)
}

/// `stopEarly`'s tolerance and alpha, and the explicit URLs.
fn stop_early_and_urls(k: &Compare, d: &mut Vec<(String, String)>) {
    if let Some(s) = &k.stop_early {
        if !(s.tolerance.0 > 0.0 && s.tolerance.0 < 1.0) {
            d.push((
                "compare.stopEarly.tolerance".into(),
                "tolerance must be a rate between 0 and 100%".into(),
            ));
        }
        if !(s.alpha.0 > 0.0 && s.alpha.0 < 0.5) {
            d.push((
                "compare.stopEarly.alpha".into(),
                format!("alpha {} must be between 0 and 0.5", s.alpha.0),
            ));
        }
    }
    for (side, e) in [("stable", &k.stable), ("canary", &k.canary)] {
        if let Some(u) = e.as_ref().and_then(|e| e.url.as_ref()) {
            if !(u.starts_with("http://") || u.starts_with("https://")) {
                d.push((
                    format!("compare.{side}.url"),
                    format!("{u:?} must be an http:// or https:// URL"),
                ));
            }
        }
    }
    for (key, a) in [("address", &k.address)] {
        if let Some(u) = a {
            if !(u.starts_with("http://") || u.starts_with("https://")) {
                d.push((
                    format!("compare.{key}"),
                    format!("{u:?} must be an http:// or https:// URL"),
                ));
            }
        }
    }
}

/// What a `provider: compare` guardrail may ask: a comparison value, or PSI over the score
/// histograms.
fn guardrail_rules(c: &Config, k: &Compare, uses: &[usize], d: &mut Vec<(String, String)>) {
    for &gi in uses {
        let g = &c.guardrails[gi];
        let base = format!("guardrails[{gi}]");
        if let Some(q) = &g.query {
            if !COMPARE_VALUES.contains(&q.trim()) {
                d.push((
                    format!("{base}.query"),
                    format!(
                        "{q:?} is not a comparison value; one of: {}",
                        COMPARE_VALUES.join(", ")
                    ),
                ));
            }
        }
        if g.baseline.is_some() || g.sequential.is_some() {
            d.push((
                base.clone(),
                "a `provider: compare` guardrail takes `query` (a comparison value) or `psi: {query: canary, baseline: stable}`".into(),
            ));
        }
        if let Some(p) = &g.psi {
            for (key, v) in [("query", &p.query), ("baseline", &p.baseline)] {
                if !COMPARE_HISTOGRAMS.contains(&v.trim()) {
                    d.push((
                        format!("{base}.psi.{key}"),
                        format!(
                            "{v:?}: the comparison's score histograms are `canary` and `stable`"
                        ),
                    ));
                }
            }
            if k.prediction.kind != PredictionKind::Score {
                d.push((
                    format!("{base}.psi"),
                    "PSI compares scores: set compare.prediction.kind: score".into(),
                ));
            }
        }
    }
}

/// Cross-field rules of `compare` and of guardrails that use it: (key path, message).
pub fn validate(c: &Config) -> Vec<(String, String)> {
    let mut d = Vec::new();
    let uses: Vec<usize> = c
        .guardrails
        .iter()
        .enumerate()
        .filter(|(_, g)| g.provider == COMPARE_PROVIDER)
        .map(|(i, _)| i)
        .collect();
    let Some(k) = &c.compare else {
        return d;
    };
    if c.providers.contains_key(COMPARE_PROVIDER) {
        d.push((
            format!("providers.{COMPARE_PROVIDER}"),
            "`compare` is the comparison's provider name while `compare:` is set; rename this provider".into(),
        ));
    }
    if uses.is_empty() {
        d.push((
            "compare".into(),
            "no guardrail judges the comparison: add one with `provider: compare`, e.g. `query: disagreement` and `rollback: \"> 2%\"`".into(),
        ));
    }
    if k.requests.trim().is_empty() {
        d.push((
            "compare.requests".into(),
            "the requests file is empty".into(),
        ));
    }
    if k.sample == Some(0) {
        d.push(("compare.sample".into(), "sample must be at least 1".into()));
    }
    if !(k.rate > 0.0 && k.rate <= 10_000.0) {
        d.push((
            "compare.rate".into(),
            format!(
                "rate {} must be between 0 and 10000 requests per second",
                k.rate
            ),
        ));
    }
    if !(1..=256).contains(&k.concurrency) {
        d.push((
            "compare.concurrency".into(),
            format!("concurrency {} must be between 1 and 256", k.concurrency),
        ));
    }
    if k.timeout.is_zero() {
        d.push((
            "compare.timeout".into(),
            "the timeout must be greater than 0".into(),
        ));
    }
    if let Some(p) = &k.prediction.path {
        if !p.is_empty() && !p.starts_with('/') {
            d.push((
                "compare.prediction.path".into(),
                format!("{p:?} is not a JSON pointer: start it with '/', e.g. /predictions"),
            ));
        }
    }
    if k.prediction.output.is_some() && k.protocol != Protocol::V2 {
        d.push((
            "compare.prediction.output".into(),
            "`output` names a v2 output tensor; with this protocol use `path` (a JSON pointer)"
                .into(),
        ));
    }
    stop_early_and_urls(k, &mut d);
    let explicit = |e: &Option<Endpoint>| e.as_ref().is_some_and(|e| e.url.is_some());
    let both = explicit(&k.stable) && explicit(&k.canary);
    if c.target.platform == PlatformKind::ArgoRollouts {
        d.extend(argo_rules(c, both));
    }
    if !both {
        match c.target.platform {
            PlatformKind::Kserve if k.domain.is_none() && k.address.is_none() => d.push((
                "compare.domain".into(),
                "kserve tag routing needs the ingress `domain` (hosts latest-/prev-NAME-predictor.NS.DOMAIN), or set compare.stable.url and compare.canary.url".into(),
            )),
            _ => {}
        }
    }
    guardrail_rules(c, k, &uses, &mut d);
    d
}

/// Argo Rollouts: the comparison runs while the Rollout is paused at `setCanaryScale` +
/// `setWeight: 0` + `pause: {}` (the built-in template). Upstream holds canary pods at weight 0
/// only with a traffic router: `UseSetCanaryScale` (utils/replicaset/canary.go) ignores
/// `setCanaryScale` without `trafficRouting`, and the Rollout validation rejects the step then
/// (pkg/apis/rollouts/validation/validation.go, "SetCanaryScale requires TrafficRouting to be
/// set"); a basic canary at weight 0 has no pods at all.
fn argo_rules(c: &Config, explicit_urls: bool) -> Vec<(String, String)> {
    let mut d = Vec::new();
    if c.target.mode == Some(crate::config::ArgoMode::Watch) {
        d.push((
            "compare".into(),
            "the comparison phase needs target.mode: drive on argo-rollouts: mlcanary judges it while the Rollout is paused at weight 0, and in watch mode Argo judges alone (its AnalysisTemplate cannot send the requests)".into(),
        ));
    }
    let has = |k: &str| c.target.values.get(k).is_some_and(|v| !v.is_null());
    if !has("trafficRouting") {
        d.push((
            "compare".into(),
            "the comparison phase on argo-rollouts needs target.trafficRouting: Argo holds canary pods at 0% of traffic (setCanaryScale) only with a traffic router; without one a canary at 0% has no pods to ask".into(),
        ));
    }
    let services = has("canaryService") && has("stableService");
    if !(explicit_urls || services) {
        d.push((
            "compare".into(),
            "set target.canaryService and target.stableService (Argo points each at its version's pods; mlcanary calls http://SERVICE.NAMESPACE), or explicit compare.stable.url and compare.canary.url".into(),
        ));
    }
    d
}

#[cfg(test)]
mod tests {
    const BASE: &str = "apiVersion: mlcanary/v1\nname: m\nmodel: {uri: s3://m}\n";

    /// (yaml after BASE, expected "LINE:COL: key: message" prefix of the first diagnostic)
    #[test]
    fn compare_rules_name_line_and_key() {
        let g = "guardrails:\n  - {name: d, provider: compare, query: disagreement, rollback: \"> 2%\"}\n";
        let cases: Vec<(String, &str)> = vec![
            (format!("target: {{platform: seldon-v2, stableModel: a}}\ncompare:\n  requests: r.jsonl\n  protocol: v2\n  rate: 0\n{g}"),
             "8:3: compare.rate: rate 0 must be between"),
            (format!("target: {{platform: seldon-v2, stableModel: a}}\ncompare:\n  requests: r.jsonl\n  protocol: v3\n{g}"),
             "7:13: compare.protocol: unknown value `v3` (did you mean `v2`?)"),
            (format!("target: {{platform: argo-rollouts, canaryService: c, stableService: s}}\ncompare: {{requests: r.jsonl, protocol: v2}}\n{g}"),
             "5:1: compare: the comparison phase on argo-rollouts needs target.trafficRouting"),
            (format!("target: {{platform: argo-rollouts, mode: watch, trafficRouting: {{nginx: {{stableIngress: i}}}}, canaryService: c, stableService: s}}\ncompare: {{requests: r.jsonl, protocol: v2}}\n{g}"),
             "5:1: compare: the comparison phase needs target.mode: drive"),
            (format!("target: {{platform: argo-rollouts, trafficRouting: {{nginx: {{stableIngress: i}}}}}}\ncompare: {{requests: r.jsonl, protocol: v2}}\n{g}"),
             "5:1: compare: set target.canaryService and target.stableService"),
            (format!("target: {{platform: kserve}}\nmodel: {{uri: s3://m, format: sklearn}}\ncompare: {{requests: r.jsonl, protocol: v2}}\n{g}"),
             "5:1: compare.domain: kserve tag routing needs"),
            ("target: {platform: seldon-v2, stableModel: a}\ncompare: {requests: r.jsonl, protocol: v2}\n".to_string(),
             "5:1: compare: no guardrail judges the comparison"),
            (format!("target: {{platform: seldon-v2, stableModel: a}}\ncompare: {{requests: r.jsonl, protocol: v1, prediction: {{output: x}}}}\n{g}"),
             "5:57: compare.prediction.output: `output` names a v2 output tensor"),
            ("target: {platform: seldon-v2, stableModel: a}\ncompare: {requests: r.jsonl, protocol: v2}\nguardrails:\n  - {name: d, provider: compare, query: disagremeent, rollback: \"> 2%\"}\n".to_string(),
             "7:34: guardrails[0].query: \"disagremeent\" is not a comparison value"),
            ("target: {platform: seldon-v2, stableModel: a}\ncompare: {requests: r.jsonl, protocol: v2}\nguardrails:\n  - {name: d, provider: compare, psi: {query: canary, baseline: stable}, rollback: \"> 0.2\"}\n".to_string(),
             "7:34: guardrails[0].psi: PSI compares scores"),
            ("target: {platform: seldon-v2, stableModel: a}\nguardrails:\n  - {name: d, provider: compare, query: disagreement, rollback: \"> 2%\"}\n".to_string(),
             "6:15: guardrails[0].provider: unknown provider `compare`"),
            (format!("target: {{platform: seldon-v2, stableModel: a}}\ncompare: {{requests: r.jsonl, protocol: v2, stopEarly: {{tolerance: 2}}}}\n{g}"),
             "5:56: compare.stopEarly.tolerance: tolerance must be a rate"),
        ];
        for (yaml, want) in cases {
            // kserve needs model.format.
            let base = if yaml.contains("format: sklearn") {
                BASE.replace("model: {uri: s3://m}\n", "")
            } else {
                BASE.to_string()
            };
            let text = format!("{base}{yaml}");
            let err = crate::config::load_str("c.yaml", &text, None).expect_err(&text);
            let first = err.to_string();
            assert!(
                first.contains(&format!("c.yaml:{want}")),
                "want c.yaml:{want}\ngot:\n{first}\nconfig:\n{text}"
            );
        }
    }

    #[test]
    fn a_valid_compare_config_loads() {
        let text = format!("{BASE}target: {{platform: seldon-v2, stableModel: a}}\ncompare: {{requests: r.jsonl, protocol: v2, sample: 10, stopEarly: {{tolerance: \"2%\"}}}}\nguardrails:\n  - {{name: d, provider: compare, query: disagreement, rollback: \"> 2%\"}}\n");
        let c = crate::config::load_str("c.yaml", &text, None).unwrap();
        let k = c.compare.unwrap();
        assert_eq!((k.sample, k.seed, k.concurrency), (Some(10), 1, 4));
        assert_eq!(k.stop_early.unwrap().tolerance.0, 0.02);
    }
}
