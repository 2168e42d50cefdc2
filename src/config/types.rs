//! The serde types of config contract v1 (`../shared/design/config.md`). Plain data: parsing is
//! in `load`, cross-field rules in `validate`. Every struct denies unknown keys except `target`,
//! whose extra keys are template values (validation still flags near-misses of known keys).

use super::condition::{Condition, Fraction, Ratio};
use super::duration::Duration;
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;

/// The whole config file.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(title = "mlcanary configuration v1")]
pub struct Config {
    /// Always `mlcanary/v1`.
    pub api_version: String,
    /// The rollout's name: reports, and the default resource name.
    pub name: String,
    /// The NEW model version being rolled out.
    pub model: Model,
    /// Where it is served.
    pub target: Target,
    /// Kubernetes connection (default: KUBECONFIG, ~/.kube/config, or in-cluster).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes: Option<Kubernetes>,
    /// Azure connection and credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azure: Option<Azure>,
    /// A folder whose files override the built-in templates by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub templates: Option<String>,
    /// Mirror traffic to the canary before the first stage (no user sees its answers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shadow: Option<Shadow>,
    /// Before any traffic moves: send recorded requests to both versions and compare the answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compare: Option<super::compare::Compare>,
    /// Canary weights in order; a final 100 is implied. Default: 5, 25, 50, 100.
    #[serde(default = "default_stages")]
    pub stages: Vec<StageSpec>,
    /// Timing and decision limits.
    #[serde(default)]
    pub analysis: Analysis,
    /// Named metric sources.
    #[serde(default)]
    pub providers: BTreeMap<String, ProviderSpec>,
    /// Checks between stages.
    #[serde(default)]
    pub guardrails: Vec<Guardrail>,
    /// Webhooks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notify: Vec<Notify>,
}

fn default_stages() -> Vec<StageSpec> {
    [5, 25, 50, 100]
        .into_iter()
        .map(|weight| StageSpec {
            weight,
            pause: None,
        })
        .collect()
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Model {
    /// Where the new model lives (storageUri / modelUri / azureml:name:version).
    pub uri: String,
    /// KServe modelFormat.name; Seldon v1 implementation via a table (sklearn, xgboost, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// A free label shown in reports and usable in templates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PlatformKind {
    Kserve,
    Seldon,
    SeldonV2,
    ArgoRollouts,
    Azureml,
}

impl PlatformKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PlatformKind::Kserve => "kserve",
            PlatformKind::Seldon => "seldon",
            PlatformKind::SeldonV2 => "seldon-v2",
            PlatformKind::ArgoRollouts => "argo-rollouts",
            PlatformKind::Azureml => "azureml",
        }
    }
    pub fn is_kubernetes(self) -> bool {
        self != PlatformKind::Azureml
    }
    /// Platforms that can mirror traffic to the canary.
    pub fn can_shadow(self) -> bool {
        matches!(
            self,
            PlatformKind::Seldon | PlatformKind::SeldonV2 | PlatformKind::Azureml
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ArgoMode {
    /// The Rollout pauses after each setWeight; mlcanary judges, then promotes or aborts.
    #[default]
    Drive,
    /// Guardrails become an AnalysisTemplate; Argo judges; mlcanary applies, watches and reports.
    Watch,
}

/// Where the model is served. Keys beyond the documented ones are template values
/// (e.g. `image`, `replicas` for an Argo Rollout).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Target {
    /// The serving platform: kserve (InferenceService canaryTrafficPercent), seldon (v1
    /// SeldonDeployment predictors), seldon-v2 (an Experiment), argo-rollouts (drive or watch a
    /// Rollout) or azureml (online endpoint traffic).
    pub platform: PlatformKind,
    /// Kubernetes namespace (default: the kubeconfig context's namespace, else `default`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// InferenceService / SeldonDeployment / Experiment / Rollout name (default: `name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// seldon: the stable predictor's name (default `main`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stable_predictor: Option<String>,
    /// seldon: the canary predictor's name (default `canary`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary_predictor: Option<String>,
    /// seldon-v2: the stable Model (the Experiment's `default`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stable_model: Option<String>,
    /// seldon-v2: the canary Model (default `<stableModel>-canary`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary_model: Option<String>,
    /// argo-rollouts: drive (default) or watch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<ArgoMode>,
    /// azureml: subscription id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_id: Option<String>,
    /// azureml: resource group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_group: Option<String>,
    /// azureml: workspace name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace: Option<String>,
    /// azureml: online endpoint name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// azureml: the deployment serving now (e.g. blue).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stable_deployment: Option<String>,
    /// azureml: the canary deployment (e.g. green).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary_deployment: Option<String>,
    /// azureml: the region of a created deployment (default: the endpoint's `location`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// azureml: when present the canary deployment is created/updated before traffic moves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<AzureDeployment>,
    /// azureml: delete the old stable deployment after a promotion.
    #[serde(default, skip_serializing_if = "is_false")]
    pub delete_old_deployment: bool,
    /// azureml: delete the canary deployment after a rollback.
    #[serde(default, skip_serializing_if = "is_false")]
    pub delete_canary_on_rollback: bool,
    /// How long to wait for the canary to become ready after each change (default 10m).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_timeout: Option<Duration>,
    /// Longest wait between readiness polls (default 5s). Polls start 500ms after a change and
    /// the waits double up to this, so the stage clock starts soon after the canary serves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_poll: Option<Duration>,
    /// Any other key: a value for the templates (image, replicas, containerPort, ...).
    #[serde(flatten)]
    #[schemars(skip)]
    pub values: BTreeMap<String, serde_json::Value>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// `target` keys the built-in templates read as template values (docs/templates.md); never taken
/// for misspelt [`TARGET_KEYS`] (`resources` is not a typo of `resource`). A test in
/// `render::builtin` keeps this list in step with the templates.
pub const TEMPLATE_KEYS: &[&str] = &[
    "annotations",
    "authMode",
    "canaryReplicas",
    "canaryService",
    "containerName",
    "containerPort",
    "graphName",
    "image",
    "implementation",
    "maxReplicas",
    "memory",
    "minReplicas",
    "protocolVersion",
    "replicas",
    "resources",
    "revisionHistoryLimit",
    "runtime",
    "server",
    "serviceAccountName",
    "stableModelUri",
    "stableReplicas",
    "stableService",
    "tags",
    "trafficRouting",
];

/// Known keys of `target` (for near-miss detection among template values).
pub const TARGET_KEYS: &[&str] = &[
    "platform",
    "namespace",
    "resource",
    "stablePredictor",
    "canaryPredictor",
    "stableModel",
    "canaryModel",
    "mode",
    "subscriptionId",
    "resourceGroup",
    "workspace",
    "endpoint",
    "stableDeployment",
    "canaryDeployment",
    "location",
    "deployment",
    "deleteOldDeployment",
    "deleteCanaryOnRollback",
    "readyTimeout",
    "readyPoll",
];

/// The canary ManagedOnlineDeployment to create or update.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AzureDeployment {
    /// The deployment's model: `azureml:NAME:VERSION`, `azureml:NAME@latest`, an ARM id or an
    /// `azureml://registries/…` reference. Default: `model.uri`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The environment (same forms as `model`). Omitted for MLflow models (no-code deployment:
    /// Azure ML supplies the environment and the scoring script).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// VM size, e.g. Standard_DS2_v2 (create-only).
    pub instance_type: String,
    /// Instances (sku.capacity).
    #[serde(default = "one")]
    pub instance_count: u32,
    /// Scoring code folder asset and script, when the environment needs them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_id: Option<String>,
    /// The scoring script (`codeConfiguration.scoringScript`) inside `codeId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scoring_script: Option<String>,
    /// ARM `requestSettings` (e.g. maxConcurrentRequestsPerInstance, requestTimeout: PT5S).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_settings: Option<BTreeMap<String, serde_json::Value>>,
    /// Environment variables of the scoring container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment_variables: Option<BTreeMap<String, String>>,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Kubernetes {
    /// A kubeconfig file (default: KUBECONFIG, ~/.kube/config, in-cluster).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubeconfig: Option<String>,
    /// The kubeconfig context (default: current-context).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// Server-side apply field manager.
    #[serde(default = "default_field_manager")]
    pub field_manager: String,
}

fn default_field_manager() -> String {
    "mlcanary".into()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum AzureAuth {
    /// OIDC in CI, else an env secret, else the az CLI, else managed identity.
    #[default]
    Auto,
    Oidc,
    Secret,
    Cli,
    ManagedIdentity,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Cloud {
    #[default]
    Public,
    China,
    Usgov,
    Custom,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Azure {
    /// How mlcanary signs in to Entra ID: auto (the first usable of oidc, secret, cli,
    /// managed-identity, each skip explained in the log), oidc (the CI's token, or
    /// AZURE_FEDERATED_TOKEN_FILE), secret (AZURE_CLIENT_SECRET), cli (az) or managed-identity.
    #[serde(default)]
    pub auth: AzureAuth,
    /// Default: AZURE_TENANT_ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// Default: AZURE_CLIENT_ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The Azure cloud: public, china, usgov, or custom (then `endpoints`).
    #[serde(default)]
    pub cloud: Cloud,
    /// Only with `cloud: custom`; all https.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoints: Option<AzureEndpoints>,
    /// GitLab: the name of the `id_tokens` variable holding the OIDC token (default AZURE_ID_TOKEN).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token_variable: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AzureEndpoints {
    /// The Resource Manager base URL (https).
    pub arm: String,
    /// The Entra ID authority host (https).
    pub authority: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// The Log Analytics query API base URL (https), for log-analytics providers.
    pub log_analytics: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Shadow {
    /// Percent of requests mirrored to the canary.
    pub percent: u32,
    /// How long the shadow phase is observed.
    pub duration: Duration,
    /// Guardrail names judged during shadow (default: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guardrails: Option<Vec<String>>,
}

/// One stage: `- 50` (weight only) or `- {weight: 50, pause: 10m}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StageSpec {
    pub weight: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pause: Option<Duration>,
}

impl<'de> Deserialize<'de> for StageSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Full {
            weight: u32,
            #[serde(default)]
            pause: Option<Duration>,
        }
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = StageSpec;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a weight (e.g. 50) or a mapping {weight: 50, pause: 10m}")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<StageSpec, E> {
                let weight =
                    u32::try_from(v).map_err(|_| E::custom("weight out of range 1..100"))?;
                Ok(StageSpec {
                    weight,
                    pause: None,
                })
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<StageSpec, E> {
                Err(E::custom(format!("weight {v} is outside 1..100")))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<StageSpec, E> {
                Err(E::custom(format!(
                    "weight {v} must be a whole percent between 1 and 100"
                )))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<StageSpec, A::Error> {
                let f = Full::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(StageSpec {
                    weight: f.weight,
                    pause: f.pause,
                })
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for StageSpec {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Stage".into()
    }
    fn json_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let dur = g.subschema_for::<Duration>();
        schemars::json_schema!({
            "description": "A canary weight (1..100), or {weight, pause}",
            "anyOf": [
                {"type": "integer", "minimum": 1, "maximum": 100},
                {"type": "object", "additionalProperties": false, "required": ["weight"],
                 "properties": {"weight": {"type": "integer", "minimum": 1, "maximum": 100}, "pause": dur}}
            ]
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum NoData {
    #[default]
    Inconclusive,
    Fail,
    Pass,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OnInconclusive {
    #[default]
    Rollback,
    /// Leave traffic where it is and exit 4.
    Fail,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OnCancel {
    #[default]
    Rollback,
    Leave,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Analysis {
    /// Default stage pause.
    #[serde(default = "d_pause")]
    pub pause: Duration,
    /// Time between guardrail checks inside a stage.
    #[serde(default = "d_interval")]
    pub interval: Duration,
    /// After each weight change and readiness, before the first check.
    #[serde(default = "d_warmup")]
    pub warmup: Duration,
    /// Checks in a rollback zone tolerated; rolls back when failed > failureLimit.
    #[serde(default)]
    pub failure_limit: u32,
    /// Extra intervals a stage may be extended while a guardrail holds.
    #[serde(default = "d_inconclusive")]
    pub inconclusive_limit: u32,
    /// Consecutive provider errors tolerated before rollback.
    #[serde(default = "d_error")]
    pub error_limit: u32,
    /// What a check with no data counts as: inconclusive (hold the stage), pass, or fail.
    #[serde(default)]
    pub no_data: NoData,
    /// When holds outlast inconclusiveLimit: rollback, or fail (leave traffic where it is, exit
    /// 4, for a manual gate).
    #[serde(default)]
    pub on_inconclusive: OnInconclusive,
    /// The whole rollout; past it: rollback.
    #[serde(default = "d_deadline")]
    pub deadline: Duration,
    /// On SIGINT/SIGTERM/SIGHUP (a cancelled job): rollback, or leave traffic where it is.
    #[serde(default)]
    pub on_cancel: OnCancel,
    /// End a stage as soon as every guardrail is proven safe (sequential guardrails only).
    #[serde(default)]
    pub advance_early: bool,
}

fn d_pause() -> Duration {
    Duration::from_mins(5)
}
fn d_interval() -> Duration {
    Duration::from_mins(1)
}
fn d_warmup() -> Duration {
    Duration::from_secs(30)
}
fn d_inconclusive() -> u32 {
    3
}
fn d_error() -> u32 {
    4
}
fn d_deadline() -> Duration {
    Duration::from_mins(120)
}

impl Default for Analysis {
    fn default() -> Self {
        Analysis {
            pause: d_pause(),
            interval: d_interval(),
            warmup: d_warmup(),
            failure_limit: 0,
            inconclusive_limit: d_inconclusive(),
            error_limit: d_error(),
            no_data: NoData::default(),
            on_inconclusive: OnInconclusive::default(),
            deadline: d_deadline(),
            on_cancel: OnCancel::default(),
            advance_early: false,
        }
    }
}

/// A named metric source.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum ProviderSpec {
    Prometheus(PrometheusSpec),
    AzureMonitor(AzureMonitorSpec),
    LogAnalytics(LogAnalyticsSpec),
    Http(HttpSpec),
}

impl ProviderSpec {
    pub fn type_name(&self) -> &'static str {
        match self {
            ProviderSpec::Prometheus(_) => "prometheus",
            ProviderSpec::AzureMonitor(_) => "azure-monitor",
            ProviderSpec::LogAnalytics(_) => "log-analytics",
            ProviderSpec::Http(_) => "http",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PrometheusSpec {
    /// Base URL, e.g. http://prometheus.monitoring:9090
    pub address: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// The NAME of an env var holding a bearer token (never the token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token_env: Option<String>,
    /// Per-query timeout (default 30s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AzureMonitorSpec {
    /// ARM resource id to read metrics of (default: the target endpoint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LogAnalyticsSpec {
    /// The Log Analytics workspace (customer) id.
    pub workspace_id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HttpSpec {
    /// URL template; GET returns JSON.
    pub url: String,
    /// JSON pointer to the number, e.g. /data/value.
    pub value_path: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token_env: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
}

/// A check between stages. Exactly one of `query`, `psi`, `sequential`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Guardrail {
    /// A unique name, shown in reports and the log.
    pub name: String,
    /// A provider name from `providers`.
    pub provider: String,
    /// The canary's value (PromQL, KQL, an Azure Monitor metric name, or the http provider's URL override).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// The stable version's value; conditions are then ratios (`1.2x`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<String>,
    /// Prediction drift between two histograms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub psi: Option<PsiSpec>,
    /// An always-valid sequential test on counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequential: Option<SequentialSpec>,
    /// The promote zone: the stage may advance only while this holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promote: Option<Condition>,
    /// The rollback zone: any check where this holds counts as failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback: Option<Condition>,
    /// azure-monitor: Average | Maximum | Minimum | Total | Count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aggregation: Option<Aggregation>,
    /// azure-monitor: `$filter` (default `deployment eq '{{ canary.name }}'`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    /// Evaluated and reported, never acts.
    #[serde(default, skip_serializing_if = "is_false")]
    pub dry_run: bool,
    /// One failed check rolls back whatever failureLimit says.
    #[serde(default, skip_serializing_if = "is_false")]
    pub critical: bool,
    /// What the query's number measures, for display and checks: `percent` (a fraction, 0.004 is
    /// shown as 0.4%), `ratio`, `ms`, `s`, `count`, `rps` or `bytes`. Default: inferred from the
    /// conditions (`%` = percent, `x` = ratio), else a plain number. A percent guardrail with a
    /// condition without `%` draws a warning (`< 0.5` means 50%).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<Unit>,
}

/// The unit of a guardrail's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    /// A fraction shown as a percentage (0.0042 -> 0.42%).
    Percent,
    /// A dimensionless ratio (1.2 -> 1.2x).
    Ratio,
    /// Milliseconds.
    Ms,
    /// Seconds.
    S,
    /// A count of events or requests.
    Count,
    /// Requests per second.
    Rps,
    /// Bytes.
    Bytes,
}

/// The kind of a guardrail, derived from which keys it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GuardrailKind {
    Threshold,
    Baseline,
    Psi,
    Sequential,
}

impl Guardrail {
    pub fn kind(&self) -> GuardrailKind {
        if self.sequential.is_some() {
            GuardrailKind::Sequential
        } else if self.psi.is_some() {
            GuardrailKind::Psi
        } else if self.baseline.is_some() {
            GuardrailKind::Baseline
        } else {
            GuardrailKind::Threshold
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Aggregation {
    Average,
    Maximum,
    Minimum,
    Total,
    Count,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PsiSpec {
    /// The canary's histogram: one series per `le` bucket (cumulative).
    pub query: String,
    /// The stable version's histogram.
    pub baseline: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SequentialTest {
    /// Events per request, canary vs stable (errors / requests).
    Rate,
    /// Slow-request counts (`events`/`total`), or log-latency means from `histogram`.
    Latency,
    /// Prediction histograms, canary vs stable.
    Distribution,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SequentialSpec {
    /// rate (events per request, e.g. errors: a Beta-binomial mixture test), latency (mSPRT on
    /// log-latency) or distribution (prediction drift between histograms).
    pub test: SequentialTest,
    /// The canary's counts: `events` and `total` queries (cumulative counts over the stage).
    pub canary: SequentialArm,
    /// The stable version's counts, as for `canary`.
    pub baseline: SequentialArm,
    /// False-rollback probability bound for this guardrail over the whole rollout.
    #[serde(default = "d_alpha")]
    pub alpha: Fraction,
    /// How much worse the canary may be and still pass (1.1x = 10%).
    #[serde(default = "d_tolerance")]
    pub tolerance: Ratio,
    /// Concentration of the Beta mixing prior (which effect sizes the test is tuned for; 30 caught
    /// 2x-5x regressions fastest in docs/benchmark.md).
    #[serde(default = "d_prior_strength")]
    pub prior_strength: f64,
    /// advanceEarly proves the canary below this ratio (default: `tolerance`). Proving "within
    /// 1.1x" of a 1% error rate takes ~100k canary requests; 1.5x lets stages end early at ordinary
    /// traffic while `tolerance` keeps rollbacks sensitive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prove_within: Option<Ratio>,
}

fn d_prior_strength() -> f64 {
    30.0
}

fn d_alpha() -> Fraction {
    Fraction(0.05)
}
fn d_tolerance() -> Ratio {
    Ratio(1.1)
}

/// Queries for one arm; each answers a COUNT since the stage began (use `{{ stage.elapsed }}`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SequentialArm {
    /// rate: error count; latency: slow-request count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<String>,
    /// Request count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<String>,
    /// latency (mSPRT) or distribution: a cumulative histogram by `le`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub histogram: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum NotifyEvent {
    Started,
    Stage,
    Promoted,
    Rollback,
    Failed,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Notify {
    /// Webhook URL; `${VAR}` is read from the environment at run time.
    pub url: String,
    /// Events to send (default: rollback, promoted, failed).
    #[serde(default = "d_events")]
    pub on: Vec<NotifyEvent>,
    /// A minijinja template for the JSON body (default: Slack/Teams-compatible `{"text": ...}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Extra HTTP headers; values may hold `${VAR}` (kept out of every printed form).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
}

fn d_events() -> Vec<NotifyEvent> {
    vec![
        NotifyEvent::Rollback,
        NotifyEvent::Promoted,
        NotifyEvent::Failed,
    ]
}
