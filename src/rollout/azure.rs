//! From the config to the Azure pieces: settings, the Azure ML target, ARM and Log Analytics
//! clients over one token source, and the Azure metric providers.

use crate::clients::azure::arm::{ArmClient, PollPolicy};
use crate::clients::azure::credential::{BearerToken, TokenSource};
use crate::clients::azure::settings::{AuthMode, AzureSettings, Cloud, EnvLookup};
use crate::clients::azure::AzureError;
use crate::config::{self, Config};
use std::sync::Arc;

pub fn settings(c: &Config) -> AzureSettings {
    let Some(a) = &c.azure else {
        return AzureSettings::default();
    };
    let auth = match a.auth {
        config::AzureAuth::Auto => AuthMode::Auto,
        config::AzureAuth::Oidc => AuthMode::Oidc,
        config::AzureAuth::Secret => AuthMode::Secret,
        config::AzureAuth::Cli => AuthMode::Cli,
        config::AzureAuth::ManagedIdentity => AuthMode::ManagedIdentity,
    };
    let cloud = match (a.cloud, &a.endpoints) {
        (config::Cloud::China, _) => Cloud::China,
        (config::Cloud::Usgov, _) => Cloud::UsGov,
        (config::Cloud::Custom, Some(e)) => Cloud::Custom {
            arm: e.arm.clone(),
            authority: e.authority.clone(),
            log_analytics: e
                .log_analytics
                .clone()
                .unwrap_or_else(|| "https://api.loganalytics.io".into()),
        },
        _ => Cloud::Public,
    };
    AzureSettings {
        auth,
        tenant_id: a.tenant_id.clone(),
        client_id: a.client_id.clone(),
        cloud,
        gitlab_token_var: a.id_token_variable.clone(),
    }
}

/// A note when `target.deployment.model` overrides a different `model.uri` (the report and the
/// progress record name `model.uri`; the deployment runs the override).
pub fn model_override_note(c: &Config) -> Option<String> {
    let dep = c.target.deployment.as_ref()?;
    let m = dep.model.as_deref()?;
    (m.trim() != c.model.uri.trim()).then(|| {
        format!(
            "target.deployment.model ({m}) differs from model.uri ({}): the canary deployment runs {m}",
            c.model.uri
        )
    })
}

/// A token source for dry runs: nothing is ever sent, so no token is ever needed.
#[derive(Debug)]
pub struct NoTokens;

impl TokenSource for NoTokens {
    fn token(&self, _scope: &str) -> Result<BearerToken, AzureError> {
        Err(AzureError::Config(
            "dry run: no Azure token is requested".into(),
        ))
    }
}

/// The ARM client and the Log Analytics client, sharing one token source.
pub fn clients(
    s: &AzureSettings,
    env: &dyn EnvLookup,
    tokens: Arc<dyn TokenSource>,
    policy: PollPolicy,
) -> (ArmClient, ArmClient) {
    let agent = crate::clients::http::agent(&Default::default());
    let arm = ArmClient::new(
        agent.clone(),
        &s.arm_url(env),
        &s.arm_scope(),
        tokens.clone(),
        policy.clone(),
    );
    let la = ArmClient::new(
        agent,
        &s.log_analytics_url(),
        &s.log_analytics_scope(),
        tokens,
        policy,
    );
    (arm, la)
}
