//! Building providers from the config's `providers:` block. Construction never touches the
//! network, so dry runs build the real providers and only ask them to describe requests.

use super::http_json::{HttpJsonOptions, HttpJsonProvider};
use super::prometheus::{PrometheusOptions, PrometheusProvider};
use super::Provider;
use crate::config::{Config, ProviderSpec};
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
