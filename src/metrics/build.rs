//! Building providers from the config's `providers:` block. Construction never touches the
//! network, so dry runs build the real providers and only ask them to describe requests.

use super::http_json::{HttpJsonOptions, HttpJsonProvider};
use super::prometheus::{PrometheusOptions, PrometheusProvider};
use super::Provider;
use crate::config::{Config, Guardrail, ProviderSpec};
use crate::core::guardrail::Role;
use crate::render::{RenderError, Renderer};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Providers by name. Azure providers need credentials and come from `azure_providers`.
pub fn providers(
    c: &Config,
    _dry_run: bool,
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
            ProviderSpec::AzureMonitor(_) | ProviderSpec::LogAnalytics(_) => continue,
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
