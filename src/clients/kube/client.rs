//! The client proper: one agent per TLS identity, requests with retries, the three patch types.
//!
//! Retries: 429 and 5xx and transport failures are retried with exponential backoff, or after the
//! server's `Retry-After` when it sends one; a 401 with a refreshable credential (exec plugin,
//! token file) is retried once with a fresh one. Anything else is final.
//!
//! PATCH is retried like the rest. That is safe for the platforms' traffic writes by construction:
//! they carry a resourceVersion precondition (`platform::k8s::patch_from`), so of a write and its
//! retries at most one copy lands, and only on the version it was computed from; a copy the server
//! applies late finds the version moved and is refused (409/422) instead of undoing a newer change.
//! The platform layer, not this retry, re-reads and recomputes after such a refusal.
//!
//! Answers are not trusted: a 2xx answer to a GET that is not JSON, or that is not the object
//! asked for or contradicts what was seen of it before ([`super::identity`]), is retried like a
//! 5xx; a PATCH answer that fails those checks is an error (the write may have landed: the
//! platform layer re-reads).
//!
//! Signals ([`Client::stop_on`]): once a stop is asked for, a request that started before it
//! (a forward move) stops retrying at once and returns its last failure; a request started after
//! it (the rollback) still retries, with waits of at most [`STOPPED_WAIT`], while the time since
//! the stop is under [`STOPPED_BUDGET`]. A `Retry-After: 119` cannot hold a signalled run.

use super::auth::{Authenticator, Credential};
use super::error::KubeError;
use super::kubeconfig::{
    in_cluster, kubeconfig_paths, ClusterConfig, Kubeconfig, SERVICE_ACCOUNT_DIR,
};
use super::request::{patch_path, PatchKind};
use super::server_name::{self, ServerName};
use crate::clients::http::{AgentOptions, TlsOptions};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

/// When a stop (a signal) was asked for, if it was; polled by the retry loop.
pub type StopHook = Arc<dyn Fn() -> Option<SystemTime> + Send + Sync>;

/// After a stop, a retry waits at most this long.
pub const STOPPED_WAIT: Duration = Duration::from_secs(1);
/// After a stop, retries end once this much time has passed since it (runners kill the process
/// about 10 s after the first signal; the rollback must fit).
pub const STOPPED_BUDGET: Duration = Duration::from_secs(6);
/// Slices a retry wait is cut into so a stop is seen quickly.
const WAIT_SLICE: Duration = Duration::from_millis(50);

/// How a [`Client`] is built (`kubernetes:` in the config).
#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    pub field_manager: String,
    pub retry: RetryPolicy,
    /// Whole-request timeout.
    pub timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            kubeconfig: None,
            context: None,
            field_manager: "mlcanary".into(),
            retry: RetryPolicy::default(),
            timeout: Duration::from_secs(30),
        }
    }
}

/// Retry with exponential backoff: attempt n waits `base_delay * 2^(n-1)`, at most `max_delay`.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Total attempts, first included (1 = no retry).
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
        }
    }
}

/// A server's `Retry-After` is honoured up to this long.
const RETRY_AFTER_CAP: Duration = Duration::from_secs(120);

impl RetryPolicy {
    fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(ra) = retry_after {
            return ra.min(RETRY_AFTER_CAP);
        }
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(16));
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }
}

/// Per-request patch options.
#[derive(Debug, Clone, Default)]
pub struct PatchParams {
    /// Server-side dry run with strict field validation (`dryRun=All&fieldValidation=Strict`):
    /// the server validates and answers with the would-be object but stores nothing.
    pub dry_run: bool,
}

/// PEM certificate chain and key.
type CertPair = (Vec<u8>, Vec<u8>);

/// A synchronous Kubernetes API client.
pub struct Client {
    server: String,
    /// Set by kubeconfig `tls-server-name`: requests are addressed to that name (see `server_name`).
    route: Option<ServerName>,
    namespace: Option<String>,
    field_manager: String,
    retry: RetryPolicy,
    agent_opts: AgentOptions,
    tls: TlsOptions,
    base_agent: ureq::Agent,
    /// Agent for an exec plugin's client certificate, rebuilt when the certificate changes.
    cert_agent: Mutex<Option<(CertPair, ureq::Agent)>>,
    auth: Authenticator,
    /// What was last seen of each object read back (identity and consistency checks).
    ledger: super::identity::Ledger,
    stop: OnceLock<StopHook>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("server", &self.server)
            .field("namespace", &self.namespace)
            .finish()
    }
}

fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .or_else(|| std::env::var_os("USERPROFILE"))
        .map(PathBuf::from)
}

/// Resolves where to connect, as kubectl does: the explicit kubeconfig, `KUBECONFIG`, `~/.kube/config`,
/// then the in-cluster service account.
pub fn resolve_config(opts: &ClientOptions) -> Result<ClusterConfig, KubeError> {
    let home = home_dir();
    let env = std::env::var("KUBECONFIG").ok();
    let paths = kubeconfig_paths(opts.kubeconfig.as_deref(), env.as_deref(), home.as_deref());
    let explicit = opts.kubeconfig.is_some() || env.as_deref().is_some_and(|e| !e.is_empty());
    if explicit || paths.iter().any(|p| p.exists()) {
        return Kubeconfig::load(&paths)?.resolve(opts.context.as_deref());
    }
    match (std::env::var("KUBERNETES_SERVICE_HOST"), std::env::var("KUBERNETES_SERVICE_PORT")) {
        (Ok(h), Ok(p)) if !h.is_empty() => in_cluster(&h, &p, Path::new(SERVICE_ACCOUNT_DIR)),
        _ => Err(KubeError::Config(
            "no kubeconfig found (kubernetes.kubeconfig, KUBECONFIG, ~/.kube/config) and not running in a cluster"
                .into(),
        )),
    }
}

struct Answer {
    code: u16,
    retry_after: Option<Duration>,
    body: Vec<u8>,
}

impl Client {
    /// Resolves the kubeconfig (or in-cluster config) and builds the client.
    pub fn new(opts: &ClientOptions) -> Result<Client, KubeError> {
        Client::from_config(resolve_config(opts)?, opts)
    }

    /// Builds a client for an already resolved config (tests, in-cluster with a custom directory).
    pub fn from_config(cfg: ClusterConfig, opts: &ClientOptions) -> Result<Client, KubeError> {
        let route = match cfg.tls_server_name.as_deref().filter(|n| !n.is_empty()) {
            Some(name) => ServerName::new(&cfg.server, name)?,
            None => None,
        };
        if let Some((_, key)) = &cfg.tls.client_cert {
            crate::report::redact::register(&String::from_utf8_lossy(key));
        }
        let agent_opts = AgentOptions {
            timeout: opts.timeout,
            ..AgentOptions::default()
        };
        let base_agent = server_name::agent(&agent_opts, &cfg.tls, route.as_ref())
            .map_err(|e| KubeError::Config(e.to_string()))?;
        Ok(Client {
            auth: Authenticator::new(cfg.auth, &cfg.server),
            server: cfg.server,
            route,
            namespace: cfg.namespace,
            field_manager: opts.field_manager.clone(),
            retry: opts.retry.clone(),
            agent_opts,
            tls: cfg.tls,
            base_agent,
            cert_agent: Mutex::new(None),
            ledger: Default::default(),
            stop: OnceLock::new(),
        })
    }

    /// Makes the retry loop honour a stop (see the module docs). Set once; later calls are ignored.
    pub fn stop_on(&self, hook: StopHook) {
        let _ = self.stop.set(hook);
    }

    fn stopped_at(&self) -> Option<SystemTime> {
        self.stop.get().and_then(|h| h())
    }

    /// The API server URL (no trailing slash).
    pub fn server(&self) -> &str {
        &self.server
    }

    /// The kubeconfig context's (or service account's) namespace.
    pub fn default_namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    /// GET an object (or any API path).
    pub fn get(&self, path: &str) -> Result<Value, KubeError> {
        self.request("GET", path, None)
    }

    /// DELETE an object; one that is already gone is not an error.
    pub fn delete(&self, path: &str) -> Result<(), KubeError> {
        let done = self.request("DELETE", path, None);
        self.ledger.forget(path);
        match done {
            Ok(_) | Err(KubeError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// PATCH `path` (the object, or its `/status`) with `body` as a `kind` patch.
    pub fn patch(
        &self,
        path: &str,
        kind: &PatchKind,
        body: &Value,
        params: &PatchParams,
    ) -> Result<Value, KubeError> {
        let full = patch_path(path, kind, params.dry_run, &self.field_manager);
        let body = serde_json::to_vec(body).map_err(|e| KubeError::Config(e.to_string()))?;
        let answer = self.request("PATCH", &full, Some((kind.content_type(), body)))?;
        // A dry run's would-be object keeps the stored resourceVersion: only its identity counts.
        let checked = match params.dry_run {
            true => super::identity::check_identity(path, &answer),
            false => self.ledger.observe(path, &answer),
        };
        checked.map_err(|e| KubeError::Transport(format!("PATCH {}: {e}", path_only(path))))?;
        Ok(answer)
    }

    fn agent_for(&self, cred: &Credential) -> Result<ureq::Agent, KubeError> {
        let Some(cert) = &cred.client_cert else {
            return Ok(self.base_agent.clone());
        };
        crate::report::redact::register(&String::from_utf8_lossy(&cert.1));
        let mut slot = self.cert_agent.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((c, a)) = slot.as_ref() {
            if c == cert {
                return Ok(a.clone());
            }
        }
        let tls = TlsOptions {
            client_cert: Some(cert.clone()),
            ..self.tls.clone()
        };
        let agent = server_name::agent(&self.agent_opts, &tls, self.route.as_ref())
            .map_err(|e| KubeError::Auth(e.to_string()))?;
        *slot = Some((cert.clone(), agent.clone()));
        Ok(agent)
    }

    fn send_once(
        &self,
        method: &str,
        path: &str,
        body: Option<&(&str, Vec<u8>)>,
    ) -> Result<Answer, KubeError> {
        let cred = self.auth.credential(SystemTime::now())?;
        let agent = self.agent_for(&cred)?;
        let base = self
            .route
            .as_ref()
            .map_or(self.server.as_str(), |r| r.base());
        let url = format!("{base}{path}");
        let req = ureq::http::Request::builder()
            .method(method)
            .uri(&url)
            .header("Accept", "application/json");
        let req = match &self.route {
            Some(r) => req.header("Host", r.host_header()),
            None => req,
        };
        let req = match &cred.authorization {
            Some(a) => {
                crate::report::redact::register_authorization(a);
                req.header("Authorization", a)
            }
            None => req,
        };
        let result = match body {
            Some((ct, bytes)) => {
                let req = req
                    .header("Content-Type", *ct)
                    .body(bytes.clone())
                    .map_err(|e| KubeError::Config(e.to_string()))?;
                agent.run(req)
            }
            None => {
                let req = req.body(()).map_err(|e| KubeError::Config(e.to_string()))?;
                agent.run(req)
            }
        };
        let mut resp = result
            .map_err(|e| KubeError::Transport(format!("{method} {}: {e}", path_only(path))))?;
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let code = resp.status().as_u16();
        let body = resp
            .body_mut()
            .with_config()
            .limit(64 * 1024 * 1024)
            .read_to_vec()
            .map_err(|e| {
                KubeError::Transport(format!(
                    "{method} {}: reading the answer: {e}",
                    path_only(path)
                ))
            })?;
        Ok(Answer {
            code,
            retry_after,
            body,
        })
    }

    fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
    ) -> Result<Value, KubeError> {
        let max = self.retry.max_attempts.max(1);
        // A request begun after a stop is the rollback's: it may still retry, briefly.
        let stopped_before = self.stopped_at();
        let mut attempt = 0;
        let mut refreshed = false;
        loop {
            attempt += 1;
            log::debug!("{method} {} (attempt {attempt})", path_only(path));
            let (retry_after, failure) = match self.send_once(method, path, body.as_ref()) {
                Ok(a) if (200..300).contains(&a.code) => {
                    let parsed = serde_json::from_slice::<Value>(&a.body)
                        .map_err(|e| format!("answer is not JSON: {e}"));
                    let read = method == "GET";
                    let checked = match parsed {
                        Ok(v) if read => self.ledger.observe(path, &v).map(|()| v),
                        other => other,
                    };
                    match checked {
                        Ok(v) => return Ok(v),
                        Err(e) => {
                            let e =
                                KubeError::Transport(format!("{method} {}: {e}", path_only(path)));
                            if !read {
                                return Err(e);
                            }
                            (None, e)
                        }
                    }
                }
                Ok(a) if a.code == 401 && !refreshed && self.auth.can_refresh() => {
                    refreshed = true;
                    self.auth.invalidate();
                    attempt -= 1;
                    continue;
                }
                Ok(a) if KubeError::retryable_status(a.code) => (
                    a.retry_after,
                    KubeError::from_response(a.code, &a.body, method, path),
                ),
                Ok(a) => return Err(KubeError::from_response(a.code, &a.body, method, path)),
                Err(e @ KubeError::Transport(_)) => (None, e),
                Err(e) => return Err(e),
            };
            if attempt >= max {
                return Err(failure);
            }
            let mut wait = self.retry.delay(attempt, retry_after);
            if let Some(at) = stopped_before {
                let left = STOPPED_BUDGET.saturating_sub(at.elapsed().unwrap_or_default());
                wait = wait.min(STOPPED_WAIT);
                if wait >= left {
                    return Err(failure);
                }
            }
            log::warn!(
                "{method} {}: {failure}; retrying in {wait:?}",
                path_only(path)
            );
            if !self.wait_unless_stopped(wait, stopped_before.is_none()) {
                log::warn!(
                    "{method} {}: not retried: the run is stopping",
                    path_only(path)
                );
                return Err(failure);
            }
        }
    }

    /// Sleeps `wait`; with `watch`, gives up (false) as soon as a stop is asked for.
    fn wait_unless_stopped(&self, wait: Duration, watch: bool) -> bool {
        let end = Instant::now() + wait;
        loop {
            if watch && self.stopped_at().is_some() {
                return false;
            }
            let now = Instant::now();
            if now >= end {
                return true;
            }
            std::thread::sleep((end - now).min(WAIT_SLICE));
        }
    }
}

fn path_only(path: &str) -> &str {
    path.split('?').next().unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_and_retry_after_wins() {
        let p = RetryPolicy {
            max_attempts: 9,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(350),
        };
        let d: Vec<u128> = (1..=4).map(|a| p.delay(a, None).as_millis()).collect();
        assert_eq!(d, vec![100, 200, 350, 350]);
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
        assert_eq!(p.delay(1, Some(Duration::from_secs(9999))), RETRY_AFTER_CAP);
    }
}
