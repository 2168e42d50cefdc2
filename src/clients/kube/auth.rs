//! Per-request credentials. Static ones (token, basic) are fixed; a token file is re-read each
//! time (service-account tokens rotate); an exec plugin's credential is cached until it expires or
//! the server answers 401.

use super::error::KubeError;
use super::exec::{exec_credential, ExecConfig, ExecCredential};
use super::kubeconfig::AuthSpec;
use base64::Engine;
use std::sync::Mutex;
use std::time::SystemTime;

/// What one request carries: an `Authorization` header and/or a client certificate.
#[derive(Clone, Default, PartialEq)]
pub struct Credential {
    pub authorization: Option<String>,
    pub client_cert: Option<(Vec<u8>, Vec<u8>)>,
}

/// Hands out credentials; owns the exec cache.
pub struct Authenticator {
    spec: AuthSpec,
    server: String,
    cache: Mutex<Option<ExecCredential>>,
}

impl Authenticator {
    pub fn new(spec: AuthSpec, server: &str) -> Self {
        Authenticator {
            spec,
            server: server.to_string(),
            cache: Mutex::new(None),
        }
    }

    /// Whether a 401 is worth one more try with a fresh credential.
    pub fn can_refresh(&self) -> bool {
        matches!(self.spec, AuthSpec::Exec(_) | AuthSpec::TokenFile(_))
    }

    /// Forgets a cached exec credential (after a 401).
    pub fn invalidate(&self) {
        *self.cache.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// The credential for a request sent at `now`.
    pub fn credential(&self, now: SystemTime) -> Result<Credential, KubeError> {
        let bearer = |t: &str| Some(format!("Bearer {}", t.trim()));
        Ok(match &self.spec {
            AuthSpec::None => Credential::default(),
            AuthSpec::Token(t) => Credential {
                authorization: bearer(t),
                client_cert: None,
            },
            AuthSpec::TokenFile(p) => {
                let t = std::fs::read_to_string(p).map_err(|e| {
                    KubeError::Auth(format!("cannot read token file {}: {e}", p.display()))
                })?;
                Credential {
                    authorization: bearer(&t),
                    client_cert: None,
                }
            }
            AuthSpec::Basic { username, password } => {
                let raw = format!("{username}:{password}");
                Credential {
                    authorization: Some(format!(
                        "Basic {}",
                        base64::engine::general_purpose::STANDARD.encode(raw)
                    )),
                    client_cert: None,
                }
            }
            AuthSpec::Exec(cfg) => {
                let c = self.exec(cfg, now)?;
                Credential {
                    authorization: c.token.as_deref().and_then(bearer),
                    client_cert: c.client_cert,
                }
            }
        })
    }

    fn exec(&self, cfg: &ExecConfig, now: SystemTime) -> Result<ExecCredential, KubeError> {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = cache.as_ref().filter(|c| c.valid_at(now)) {
            return Ok(c.clone());
        }
        let fresh = exec_credential(cfg, &self.server)?;
        *cache = Some(fresh.clone());
        Ok(fresh)
    }
}
