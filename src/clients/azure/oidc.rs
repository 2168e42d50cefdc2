//! OIDC federation from CI: the client assertion `ClientAssertionCredential` exchanges for an Entra
//! token. GitHub Actions issues a fresh ID token on request, so it is fetched again every time the
//! credential refreshes (a job longer than the ID token's ~5 min lifetime still authenticates);
//! GitLab puts its `id_tokens` in a variable, read once at start.

use azure_core::error::{Error, ErrorKind};
use azure_core::http::ClientMethodOptions;
use azure_identity::ClientAssertion;
use std::fmt;

/// Audience Entra ID expects in a federated credential's token.
pub const AUDIENCE: &str = "api://AzureADTokenExchange";

/// Where the CI's OIDC token comes from.
#[derive(Clone)]
pub enum OidcSource {
    /// `ACTIONS_ID_TOKEN_REQUEST_URL` / `ACTIONS_ID_TOKEN_REQUEST_TOKEN`.
    GitHub {
        request_url: String,
        request_token: String,
    },
    /// The value of a GitLab `id_tokens` variable and that variable's name.
    GitLab { var: String, token: String },
    /// `AZURE_FEDERATED_TOKEN_FILE`: a file holding the token, re-read at every exchange because
    /// it may be rotated (the workload-identity convention of azure-identity's
    /// WorkloadIdentityCredential and the AKS webhook).
    File { path: String },
}

impl fmt::Debug for OidcSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OidcSource::GitHub { request_url, .. } => f
                .debug_struct("GitHub")
                .field("request_url", &strip_query(request_url))
                .finish_non_exhaustive(),
            OidcSource::GitLab { var, .. } => f
                .debug_struct("GitLab")
                .field("var", var)
                .finish_non_exhaustive(),
            OidcSource::File { path } => f.debug_struct("File").field("path", path).finish(),
        }
    }
}

/// The request URL carries no secret today, but print only scheme/host/path to be safe.
fn strip_query(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

/// A [`ClientAssertion`] that asks the CI for its OIDC token.
#[derive(Clone)]
pub struct CiOidcAssertion {
    source: OidcSource,
    agent: ureq::Agent,
}

impl fmt::Debug for CiOidcAssertion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CiOidcAssertion")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl CiOidcAssertion {
    pub fn new(source: OidcSource, agent: ureq::Agent) -> Self {
        CiOidcAssertion { source, agent }
    }

    /// Fetch (GitHub) or return (GitLab) the OIDC token.
    pub fn fetch(&self) -> Result<String, String> {
        match &self.source {
            OidcSource::File { path } => {
                let token = std::fs::read_to_string(path)
                    .map_err(|e| format!("AZURE_FEDERATED_TOKEN_FILE {path}: {e}"))?;
                let token = token.trim();
                if token.is_empty() {
                    return Err(format!("AZURE_FEDERATED_TOKEN_FILE {path} is empty"));
                }
                Ok(token.to_string())
            }
            OidcSource::GitLab { var, token } => {
                if token.is_empty() {
                    Err(format!("GitLab id_tokens variable {var} is empty"))
                } else {
                    Ok(token.clone())
                }
            }
            OidcSource::GitHub {
                request_url,
                request_token,
            } => {
                let sep = if request_url.contains('?') { '&' } else { '?' };
                let url = format!("{request_url}{sep}audience={AUDIENCE}");
                let shown = strip_query(request_url);
                let mut resp = self
                    .agent
                    .get(&url)
                    .header("Authorization", &format!("Bearer {request_token}"))
                    .header("Accept", "application/json")
                    .call()
                    .map_err(|e| format!("GitHub OIDC token request to {shown}: {e}"))?;
                let status = resp.status().as_u16();
                if status != 200 {
                    return Err(format!(
                        "GitHub OIDC token request to {shown} answered HTTP {status} \
                         (does the job have `permissions: id-token: write`?)"
                    ));
                }
                let body: serde_json::Value = resp
                    .body_mut()
                    .read_json()
                    .map_err(|e| format!("GitHub OIDC answer from {shown}: {e}"))?;
                body.get("value")
                    .and_then(|v| v.as_str())
                    .filter(|v| !v.is_empty())
                    .map(str::to_string)
                    .ok_or_else(|| format!("GitHub OIDC answer from {shown} has no `value`"))
            }
        }
    }
}

#[async_trait::async_trait]
impl ClientAssertion for CiOidcAssertion {
    async fn secret(
        &self,
        _options: Option<ClientMethodOptions<'_>>,
    ) -> azure_core::Result<String> {
        self.fetch()
            .map_err(|m| Error::with_message(ErrorKind::Credential, m))
    }
}
