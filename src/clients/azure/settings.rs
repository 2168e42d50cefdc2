//! Which Azure cloud and identity to use, resolved from config values and the environment.
//!
//! The config module owns parsing; this is the plain data the Azure clients need, plus the rules
//! for sovereign clouds (authority host, ARM URL, token audiences) kept in one place. The
//! environment is read through [`EnvLookup`] so tests never mutate the process environment.

use std::collections::BTreeMap;

/// `azure.auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthMode {
    #[default]
    Auto,
    Oidc,
    Secret,
    Cli,
    ManagedIdentity,
}

impl AuthMode {
    pub fn name(self) -> &'static str {
        match self {
            AuthMode::Auto => "auto",
            AuthMode::Oidc => "oidc",
            AuthMode::Secret => "secret",
            AuthMode::Cli => "cli",
            AuthMode::ManagedIdentity => "managed-identity",
        }
    }
}

impl std::str::FromStr for AuthMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "auto" => AuthMode::Auto,
            "oidc" => AuthMode::Oidc,
            "secret" => AuthMode::Secret,
            "cli" => AuthMode::Cli,
            "managed-identity" => AuthMode::ManagedIdentity,
            other => return Err(format!("unknown azure.auth '{other}'")),
        })
    }
}

/// `azure.cloud` with `azure.endpoints` for `custom`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Cloud {
    #[default]
    Public,
    China,
    UsGov,
    Custom {
        arm: String,
        authority: String,
        log_analytics: String,
    },
}

/// The `azure:` block, after config parsing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AzureSettings {
    pub auth: AuthMode,
    /// Default: `AZURE_TENANT_ID`.
    pub tenant_id: Option<String>,
    /// Default: `AZURE_CLIENT_ID`.
    pub client_id: Option<String>,
    pub cloud: Cloud,
    /// GitLab: the name of the `id_tokens` variable holding the OIDC token (default `AZURE_ID_TOKEN`).
    pub gitlab_token_var: Option<String>,
}

/// Environment variable that overrides the ARM base URL (tests, proxies).
pub const ARM_URL_ENV: &str = "MLCANARY_AZURE_ARM_URL";
/// Default GitLab `id_tokens` variable name.
pub const DEFAULT_GITLAB_TOKEN_VAR: &str = "AZURE_ID_TOKEN";

impl AzureSettings {
    /// Entra ID authority host (https).
    pub fn authority(&self) -> String {
        match &self.cloud {
            Cloud::Public => "https://login.microsoftonline.com".into(),
            Cloud::China => "https://login.chinacloudapi.cn".into(),
            Cloud::UsGov => "https://login.microsoftonline.us".into(),
            Cloud::Custom { authority, .. } => trim(authority),
        }
    }

    /// ARM base URL: `MLCANARY_AZURE_ARM_URL`, else the cloud's.
    pub fn arm_url(&self, env: &dyn EnvLookup) -> String {
        if let Some(url) = env.var(ARM_URL_ENV).filter(|v| !v.is_empty()) {
            return trim(&url);
        }
        match &self.cloud {
            Cloud::Public => "https://management.azure.com".into(),
            Cloud::China => "https://management.chinacloudapi.cn".into(),
            Cloud::UsGov => "https://management.usgovcloudapi.net".into(),
            Cloud::Custom { arm, .. } => trim(arm),
        }
    }

    /// Token scope for ARM (always the cloud's audience, even when the URL is overridden).
    pub fn arm_scope(&self) -> String {
        match &self.cloud {
            Cloud::Public => "https://management.azure.com/.default".into(),
            Cloud::China => "https://management.chinacloudapi.cn/.default".into(),
            Cloud::UsGov => "https://management.usgovcloudapi.net/.default".into(),
            Cloud::Custom { arm, .. } => format!("{}/.default", trim(arm)),
        }
    }

    /// Log Analytics query API base URL.
    pub fn log_analytics_url(&self) -> String {
        match &self.cloud {
            Cloud::Public => "https://api.loganalytics.io".into(),
            Cloud::China => "https://api.loganalytics.azure.cn".into(),
            Cloud::UsGov => "https://api.loganalytics.us".into(),
            Cloud::Custom { log_analytics, .. } => trim(log_analytics),
        }
    }

    /// Token scope for Log Analytics.
    pub fn log_analytics_scope(&self) -> String {
        format!("{}/.default", self.log_analytics_url())
    }

    pub fn tenant(&self, env: &dyn EnvLookup) -> Option<String> {
        self.tenant_id
            .clone()
            .or_else(|| env.var("AZURE_TENANT_ID"))
            .filter(|v| !v.is_empty())
    }

    pub fn client(&self, env: &dyn EnvLookup) -> Option<String> {
        self.client_id
            .clone()
            .or_else(|| env.var("AZURE_CLIENT_ID"))
            .filter(|v| !v.is_empty())
    }

    pub fn gitlab_var(&self) -> &str {
        self.gitlab_token_var
            .as_deref()
            .unwrap_or(DEFAULT_GITLAB_TOKEN_VAR)
    }
}

fn trim(url: &str) -> String {
    url.trim_end_matches('/').to_string()
}

/// Read-only view of environment variables.
pub trait EnvLookup: Send + Sync {
    fn var(&self, name: &str) -> Option<String>;
}

/// The real process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl EnvLookup for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl EnvLookup for BTreeMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sovereign_clouds_have_their_own_hosts_and_audiences() {
        let env = BTreeMap::new();
        let china = AzureSettings {
            cloud: Cloud::China,
            ..Default::default()
        };
        assert_eq!(china.authority(), "https://login.chinacloudapi.cn");
        assert_eq!(china.arm_url(&env), "https://management.chinacloudapi.cn");
        assert_eq!(
            china.arm_scope(),
            "https://management.chinacloudapi.cn/.default"
        );
        let gov = AzureSettings {
            cloud: Cloud::UsGov,
            ..Default::default()
        };
        assert_eq!(
            gov.log_analytics_scope(),
            "https://api.loganalytics.us/.default"
        );
    }

    #[test]
    fn arm_url_env_overrides_but_scope_stays() {
        let mut env = BTreeMap::new();
        env.insert(ARM_URL_ENV.to_string(), "http://127.0.0.1:9/".to_string());
        let s = AzureSettings::default();
        assert_eq!(s.arm_url(&env), "http://127.0.0.1:9");
        assert_eq!(s.arm_scope(), "https://management.azure.com/.default");
    }

    #[test]
    fn ids_fall_back_to_environment() {
        let mut env = BTreeMap::new();
        env.insert("AZURE_TENANT_ID".to_string(), "t-env".to_string());
        let s = AzureSettings {
            client_id: Some("c-cfg".into()),
            ..Default::default()
        };
        assert_eq!(s.tenant(&env).as_deref(), Some("t-env"));
        assert_eq!(s.client(&env).as_deref(), Some("c-cfg"));
        assert_eq!("managed-identity".parse(), Ok(AuthMode::ManagedIdentity));
        assert!("password".parse::<AuthMode>().is_err());
    }
}
