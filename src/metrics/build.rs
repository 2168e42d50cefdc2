//! Building every provider from the config's `providers:` block, and what each receives for a
//! rendered query ([`request`]). Construction never touches the network, so dry runs build the
//! real providers and only ask them to describe requests.

use super::azure_monitor::AzureMonitor;
use super::http_json::{HttpJsonOptions, HttpJsonProvider};
use super::log_analytics::LogAnalytics;
use super::prometheus::{PrometheusOptions, PrometheusProvider};
use super::Provider;
use crate::config::{Config, Guardrail, ProviderSpec};
use crate::core::guardrail::Role;
use crate::render::{RenderError, Renderer};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// What the Azure providers share: ARM clients (one for Azure Monitor metrics, one for the Log
/// Analytics query API) with the run's token source, and the resource a metric reads by default
/// (the endpoint).
pub struct Azure {
    pub arm: crate::clients::azure::arm::ArmClient,
    pub logs: crate::clients::azure::arm::ArmClient,
    pub default_resource: String,
}

/// Every provider by name. `azure` is needed when the config has Azure providers (without it they
/// are left out: the caller only passes `None` for configs without them).
pub fn providers(
    c: &Config,
    azure: Option<&Azure>,
) -> anyhow::Result<BTreeMap<String, Box<dyn Provider + Send + Sync>>> {
    let mut out: BTreeMap<String, Box<dyn Provider + Send + Sync>> = BTreeMap::new();
    for (name, spec) in &c.providers {
        let p: Box<dyn Provider + Send + Sync> = match spec {
            ProviderSpec::Prometheus(p) => Box::new(PrometheusProvider::new(PrometheusOptions {
                address: p.address.clone(),
                headers: p.headers.clone(),
                bearer_token_env: p.bearer_token_env.clone(),
                timeout: p.timeout.map_or(DEFAULT_TIMEOUT, Into::into),
            })),
            ProviderSpec::Http(h) => Box::new(HttpJsonProvider::new(HttpJsonOptions {
                value_path: h.value_path.clone(),
                headers: h.headers.clone(),
                bearer_token_env: h.bearer_token_env.clone(),
                timeout: h.timeout.map_or(DEFAULT_TIMEOUT, Into::into),
            })),
            ProviderSpec::AzureMonitor(a) => {
                let Some(az) = azure else { continue };
                let rid = a.resource_id.as_deref().unwrap_or(&az.default_resource);
                Box::new(AzureMonitor::new(az.arm.clone(), rid))
            }
            ProviderSpec::LogAnalytics(l) => {
                let Some(az) = azure else { continue };
                Box::new(LogAnalytics::new(az.logs.clone(), &l.workspace_id))
            }
        };
        out.insert(name.clone(), p);
    }
    Ok(out)
}

/// config.md: the Azure Monitor filter defaults to the canary deployment.
pub const DEFAULT_AZURE_FILTER: &str = "deployment eq '{{ canary.name }}'";
/// ... and for a baseline query, to the stable deployment.
pub const DEFAULT_AZURE_BASELINE_FILTER: &str = "deployment eq '{{ stable.name }}'";

/// What guardrail `g`'s provider receives for a rendered query: for `http` providers the
/// provider's URL template, which sees the query as `{{ query }}`; for `azure-monitor` the query
/// and a `$filter`, by default the canary deployment (the stable one for a baseline query).
pub fn request(
    c: &Config,
    renderer: &Renderer,
    g: &Guardrail,
    role: Role,
    query: String,
    ctx: &Value,
) -> Result<(String, Option<String>), RenderError> {
    let what = |k: &str| format!("guardrail {} {k}", g.name);
    match c.providers.get(&g.provider) {
        Some(ProviderSpec::Http(h)) => {
            let mut c = ctx.clone();
            c["query"] = Value::String(query);
            Ok((renderer.render_str(&what("url"), &h.url, &c)?, None))
        }
        Some(ProviderSpec::AzureMonitor(_)) => {
            // A `filter` the user wrote is rendered for both roles: `{{ stable.name }}` /
            // `{{ canary.name }}` choose there.
            let default = match role {
                Role::Baseline | Role::BaselineEvents | Role::BaselineTotal => {
                    DEFAULT_AZURE_BASELINE_FILTER
                }
                _ => DEFAULT_AZURE_FILTER,
            };
            let f = g.filter.as_deref().unwrap_or(default);
            Ok((query, Some(renderer.render_str(&what("filter"), f, ctx)?)))
        }
        _ => Ok((query, None)),
    }
}
