//! Choosing and building the Entra ID credential (`azure.auth`), and a synchronous token API.
//!
//! `auto` tries oidc, secret, cli, managed-identity in that order and records why each earlier one
//! was skipped, so a CI log says exactly which identity acted. The choice is a pure function
//! ([`choose`]); building wires every credential to the ureq transport (the SDK default would panic
//! without reqwest). Tokens live in [`BearerToken`], whose `Debug` never shows the value.

use super::oidc::{CiOidcAssertion, OidcSource};
use super::settings::{AuthMode, AzureSettings, Cloud, EnvLookup};
use super::transport::UreqTransport;
use super::AzureError;
use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
use azure_core::credentials::{Secret, TokenCredential};
use azure_core::http::ClientOptions;
use azure_identity::{
    AzureCliCredential, AzureCliCredentialOptions, ClientAssertionCredential,
    ClientAssertionCredentialOptions, ClientSecretCredential, ClientSecretCredentialOptions,
    ManagedIdentityCredential, ManagedIdentityCredentialOptions, UserAssignedId,
};
use std::fmt;
use std::sync::Arc;

/// An access token. Only [`BearerToken::secret`] reveals it; `Debug` is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct BearerToken(String);

impl BearerToken {
    /// Every Azure token (ARM, Azure Monitor, Log Analytics) is made here, so each is known to
    /// the output redactor (and masked in GitHub) before it is first sent.
    pub fn new(value: String) -> Self {
        crate::report::redact::register(&value);
        BearerToken(value)
    }
    pub fn secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BearerToken(<redacted>)")
    }
}

/// Synchronous token supplier used by the ARM client and the Azure metric providers.
pub trait TokenSource: Send + Sync + fmt::Debug {
    /// A valid token for `scope` (e.g. `https://management.azure.com/.default`), refreshed as needed.
    fn token(&self, scope: &str) -> Result<BearerToken, AzureError>;
}

/// What [`choose`] decided.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    pub mode: AuthMode,
    /// One line per credential considered: used, or skipped and why.
    pub explanation: Vec<String>,
}

/// Pick the credential. `az_on_path` says whether the `az` CLI can be run.
pub fn choose(
    settings: &AzureSettings,
    env: &dyn EnvLookup,
    az_on_path: bool,
) -> Result<Choice, AzureError> {
    let order: &[AuthMode] = match settings.auth {
        AuthMode::Auto => &[
            AuthMode::Oidc,
            AuthMode::Secret,
            AuthMode::Cli,
            AuthMode::ManagedIdentity,
        ],
        AuthMode::Oidc => &[AuthMode::Oidc],
        AuthMode::Secret => &[AuthMode::Secret],
        AuthMode::Cli => &[AuthMode::Cli],
        AuthMode::ManagedIdentity => &[AuthMode::ManagedIdentity],
    };
    let mut explanation = Vec::new();
    for mode in order {
        match unavailable_because(*mode, settings, env, az_on_path) {
            None => {
                let why = match mode {
                    AuthMode::ManagedIdentity if settings.auth == AuthMode::Auto => {
                        "used (last resort: the host's managed identity)"
                    }
                    _ => "used",
                };
                explanation.push(format!("{}: {why}", mode.name()));
                return Ok(Choice {
                    mode: *mode,
                    explanation,
                });
            }
            Some(reason) => explanation.push(format!("{}: skipped, {reason}", mode.name())),
        }
    }
    Err(AzureError::Auth(format!(
        "no usable credential for azure.auth={}: {}",
        settings.auth.name(),
        explanation.join("; ")
    )))
}

fn unavailable_because(
    mode: AuthMode,
    settings: &AzureSettings,
    env: &dyn EnvLookup,
    az_on_path: bool,
) -> Option<String> {
    let ids = || {
        let mut missing = Vec::new();
        if settings.tenant(env).is_none() {
            missing.push("tenantId / AZURE_TENANT_ID");
        }
        if settings.client(env).is_none() {
            missing.push("clientId / AZURE_CLIENT_ID");
        }
        (!missing.is_empty()).then(|| format!("{} not set", missing.join(" and ")))
    };
    match mode {
        AuthMode::Oidc => {
            if oidc_source(settings, env).is_none() {
                return Some(format!(
                    "no CI OIDC token (ACTIONS_ID_TOKEN_REQUEST_URL/ACTIONS_ID_TOKEN_REQUEST_TOKEN \
                     not set, GitLab variable {} not set, AZURE_FEDERATED_TOKEN_FILE not set)",
                    settings.gitlab_var()
                ));
            }
            ids()
        }
        AuthMode::Secret => {
            if env.var("AZURE_CLIENT_SECRET").is_none_or(|v| v.is_empty()) {
                return Some("AZURE_CLIENT_SECRET not set".into());
            }
            ids()
        }
        AuthMode::Cli => (!az_on_path).then(|| "the az CLI is not on PATH".into()),
        AuthMode::ManagedIdentity | AuthMode::Auto => None,
    }
}

fn oidc_source(settings: &AzureSettings, env: &dyn EnvLookup) -> Option<OidcSource> {
    let nonempty = |name: &str| env.var(name).filter(|v| !v.is_empty());
    if let (Some(request_url), Some(request_token)) = (
        nonempty("ACTIONS_ID_TOKEN_REQUEST_URL"),
        nonempty("ACTIONS_ID_TOKEN_REQUEST_TOKEN"),
    ) {
        return Some(OidcSource::GitHub {
            request_url,
            request_token,
        });
    }
    let var = settings.gitlab_var().to_string();
    if let Some(token) = nonempty(&var) {
        return Some(OidcSource::GitLab { var, token });
    }
    nonempty("AZURE_FEDERATED_TOKEN_FILE").map(|path| OidcSource::File { path })
}

/// Whether an executable named `az` is on `PATH`.
pub fn az_on_path(env: &dyn EnvLookup) -> bool {
    env.var("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join("az").is_file()))
        .unwrap_or(false)
}

/// The chosen credential, usable synchronously.
pub struct Credential {
    inner: Arc<dyn TokenCredential>,
    choice: Choice,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("mode", &self.choice.mode)
            .finish_non_exhaustive()
    }
}

impl Credential {
    /// Choose (see [`choose`]) and build the credential. `agent` carries TLS and timeouts.
    pub fn from_settings(
        settings: &AzureSettings,
        env: &dyn EnvLookup,
        agent: ureq::Agent,
    ) -> Result<Credential, AzureError> {
        let choice = choose(settings, env, az_on_path(env))?;
        let client_options = || ClientOptions {
            transport: Some(UreqTransport::transport(agent.clone())),
            cloud: Some(Arc::new(cloud_configuration(settings))),
            ..Default::default()
        };
        let built = |e: azure_core::Error| AzureError::Auth(format!("{}: {e}", choice.mode.name()));
        let tenant = settings.tenant(env).unwrap_or_default();
        let client = settings.client(env).unwrap_or_default();
        let inner: Arc<dyn TokenCredential> = match choice.mode {
            AuthMode::Oidc => {
                let source = oidc_source(settings, env)
                    .ok_or_else(|| AzureError::Auth("no CI OIDC token".into()))?;
                ClientAssertionCredential::new(
                    tenant,
                    client,
                    CiOidcAssertion::new(source, agent.clone()),
                    Some(ClientAssertionCredentialOptions {
                        client_options: client_options(),
                    }),
                )
                .map_err(built)?
            }
            AuthMode::Secret => {
                let secret = env.var("AZURE_CLIENT_SECRET").unwrap_or_default();
                ClientSecretCredential::new(
                    &tenant,
                    client,
                    Secret::new(secret),
                    Some(ClientSecretCredentialOptions {
                        client_options: client_options(),
                    }),
                )
                .map_err(built)?
            }
            AuthMode::Cli => AzureCliCredential::new(Some(AzureCliCredentialOptions {
                tenant_id: settings.tenant(env),
                ..Default::default()
            }))
            .map_err(built)?,
            AuthMode::ManagedIdentity | AuthMode::Auto => {
                ManagedIdentityCredential::new(Some(ManagedIdentityCredentialOptions {
                    user_assigned_id: settings.client_id.clone().map(UserAssignedId::ClientId),
                    client_options: client_options(),
                }))
                .map_err(built)?
            }
        };
        Ok(Credential { inner, choice })
    }

    pub fn mode(&self) -> AuthMode {
        self.choice.mode
    }

    /// One line per credential considered (for the log and the report).
    pub fn explanation(&self) -> &[String] {
        &self.choice.explanation
    }
}

impl TokenSource for Credential {
    fn token(&self, scope: &str) -> Result<BearerToken, AzureError> {
        let token =
            futures::executor::block_on(self.inner.get_token(&[scope], None)).map_err(|e| {
                AzureError::Auth(format!("{} for {scope}: {e}", self.choice.mode.name()))
            })?;
        Ok(BearerToken::new(token.token.secret().to_string()))
    }
}

fn cloud_configuration(settings: &AzureSettings) -> CloudConfiguration {
    match &settings.cloud {
        Cloud::Public => CloudConfiguration::AzurePublic,
        Cloud::China => CloudConfiguration::AzureChina,
        Cloud::UsGov => CloudConfiguration::AzureGovernment,
        Cloud::Custom { .. } => {
            let mut custom = CustomConfiguration::default();
            custom.authority_host = settings.authority();
            CloudConfiguration::Custom(custom)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn auto_prefers_github_oidc_and_says_so() {
        let e = env(&[
            ("ACTIONS_ID_TOKEN_REQUEST_URL", "https://x/?a=1"),
            ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "rt"),
            ("AZURE_TENANT_ID", "t"),
            ("AZURE_CLIENT_ID", "c"),
            ("AZURE_CLIENT_SECRET", "s"),
        ]);
        let c = choose(&AzureSettings::default(), &e, true).unwrap();
        assert_eq!(c.mode, AuthMode::Oidc);
        assert_eq!(c.explanation, vec!["oidc: used".to_string()]);
    }

    #[test]
    fn a_federated_token_file_is_an_oidc_source() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("token");
        std::fs::write(&f, "eyJ.token.sig\n").unwrap();
        let path = f.display().to_string();
        let e = env(&[
            ("AZURE_FEDERATED_TOKEN_FILE", path.as_str()),
            ("AZURE_TENANT_ID", "t"),
            ("AZURE_CLIENT_ID", "c"),
        ]);
        let c = choose(&AzureSettings::default(), &e, false).unwrap();
        assert_eq!(c.mode, AuthMode::Oidc);
        let src = oidc_source(&AzureSettings::default(), &e).unwrap();
        let a = CiOidcAssertion::new(src, crate::clients::http::agent(&Default::default()));
        assert_eq!(a.fetch().unwrap(), "eyJ.token.sig");
        // Re-read at every exchange: a rotated token is picked up.
        std::fs::write(&f, "rotated").unwrap();
        assert_eq!(a.fetch().unwrap(), "rotated");
    }

    #[test]
    fn auto_explains_every_skip_before_the_secret() {
        let e = env(&[
            ("AZURE_TENANT_ID", "t"),
            ("AZURE_CLIENT_ID", "c"),
            ("AZURE_CLIENT_SECRET", "s3cr3t-value"),
        ]);
        let c = choose(&AzureSettings::default(), &e, false).unwrap();
        assert_eq!(c.mode, AuthMode::Secret);
        assert!(c.explanation[0].starts_with("oidc: skipped, no CI OIDC token"));
        assert_eq!(c.explanation[1], "secret: used");
        assert!(!format!("{c:?}").contains("s3cr3t-value"));
    }

    #[test]
    fn auto_falls_through_to_cli_then_managed_identity() {
        let e = env(&[]);
        let c = choose(&AzureSettings::default(), &e, true).unwrap();
        assert_eq!(c.mode, AuthMode::Cli);
        let c = choose(&AzureSettings::default(), &e, false).unwrap();
        assert_eq!(c.mode, AuthMode::ManagedIdentity);
        assert_eq!(c.explanation.len(), 4);
        assert!(c.explanation[2].contains("az CLI is not on PATH"));
    }

    #[test]
    fn gitlab_token_variable_name_is_configurable() {
        let e = env(&[
            ("MY_JWT", "eyJ"),
            ("AZURE_TENANT_ID", "t"),
            ("AZURE_CLIENT_ID", "c"),
        ]);
        let mut s = AzureSettings {
            auth: AuthMode::Oidc,
            ..Default::default()
        };
        assert!(choose(&s, &e, false).is_err());
        s.gitlab_token_var = Some("MY_JWT".into());
        assert_eq!(choose(&s, &e, false).unwrap().mode, AuthMode::Oidc);
    }

    #[test]
    fn explicit_secret_without_ids_is_an_error_naming_what_is_missing() {
        let e = env(&[("AZURE_CLIENT_SECRET", "s")]);
        let s = AzureSettings {
            auth: AuthMode::Secret,
            ..Default::default()
        };
        let err = choose(&s, &e, true).unwrap_err().to_string();
        assert!(err.contains("AZURE_TENANT_ID"), "{err}");
        assert!(!err.contains("secret: used"));
    }

    #[test]
    fn bearer_token_debug_is_redacted() {
        let t = BearerToken::new("abc.def.ghi".into());
        assert_eq!(format!("{t:?}"), "BearerToken(<redacted>)");
        assert_eq!(t.secret(), "abc.def.ghi");
    }
}
