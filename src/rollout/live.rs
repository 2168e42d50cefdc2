//! Assembling a live rollout: the platform driver over the real Kubernetes client or ARM, the
//! token source Azure providers share, and the secret values the log must mask.

use super::build::{self, Rendered};
use super::clock::{interruptible, Clock, SystemClock, Waited};
use crate::clients::azure::arm::{ArmResponse, Read, ReadGuard};
use crate::clients::azure::credential::{Credential, TokenSource};
use crate::clients::azure::settings::ProcessEnv;
use crate::clients::azure::AzureError;
use crate::clients::kube::KubeError;
use crate::config::{Config, PlatformKind, ProviderSpec};
use crate::platform::{Platform, PlatformError};
use std::sync::Arc;

/// A failure before anything changed (exit 3, with nothing to roll back), with its cause as the
/// error's source (so the message does not repeat it and callers can match on it).
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("cannot use the Kubernetes API (nothing was changed)")]
    Kube(#[from] KubeError),
    #[error("cannot set up the Azure credential (nothing was changed)")]
    Azure(#[source] Box<AzureError>),
    #[error("no Azure credential (nothing was changed)")]
    NoAzureCredential,
    #[error("cannot read the rollout's progress from the live object (nothing was changed)")]
    Progress(#[source] PlatformError),
    #[error("the prediction comparison: {0} (nothing was changed)")]
    Compare(String),
}

// Boxed: an `AzureError` carries request ids and bodies, and every setup result would pay for it.
impl From<AzureError> for SetupError {
    fn from(e: AzureError) -> Self {
        SetupError::Azure(Box::new(e))
    }
}

/// The Azure token source, when the config needs Azure (platform or providers).
pub fn azure_tokens(
    c: &Config,
    log: &mut dyn FnMut(&str),
) -> Result<Option<Arc<dyn TokenSource>>, SetupError> {
    let needs = c.target.platform == PlatformKind::Azureml
        || c.providers.values().any(|p| {
            matches!(
                p,
                ProviderSpec::AzureMonitor(_) | ProviderSpec::LogAnalytics(_)
            )
        });
    if !needs {
        return Ok(None);
    }
    let s = super::azure::settings(c);
    let cred = Credential::from_settings(
        &s,
        &ProcessEnv,
        crate::clients::http::agent(&Default::default()),
    )?;
    for line in cred.explanation() {
        log(&format!("azure credential {line}"));
    }
    Ok(Some(Arc::new(cred)))
}

/// The live platform driver.
pub fn platform(
    c: &Config,
    rendered: &Rendered,
    tokens: Option<Arc<dyn TokenSource>>,
    cancel: &super::clock::Cancel,
) -> Result<Box<dyn Platform>, SetupError> {
    match crate::platform::target::Target::from_config(c) {
        crate::platform::target::Target::AzureMl(target) => {
            let tokens = tokens.ok_or(SetupError::NoAzureCredential)?;
            let s = super::azure::settings(c);
            let (arm, _) = super::azure::clients(&s, &ProcessEnv, tokens, Default::default());
            let arm = arm.interruptible_by(Arc::new(CancelGuard::new(cancel.clone())));
            let body = rendered.azure_deployment.clone();
            if let Some(note) = super::azure::model_override_note(c) {
                log::warn!("{note}");
            }
            Ok(Box::new(crate::platform::azureml::AzureMl::new(
                arm, target, body,
            )))
        }
        _ => {
            let api = super::kube_live::connect(c)?.interruptible_by(cancel.clone());
            Ok(build::kube_platform(c, Box::new(api), rendered))
        }
    }
}

/// ARM reads in flight are abandoned on a signal or at the deadline, like Kubernetes reads
/// ([`super::kube_live`]): a provisioning poll against a hung ARM must not hold up the rollback.
/// After a signal, the process has [`cancel_grace`] to finish (the CI runner kills it then).
pub struct CancelGuard {
    cancel: super::clock::Cancel,
    grace: std::time::Duration,
    signalled: std::sync::OnceLock<std::time::Instant>,
}

impl CancelGuard {
    pub fn new(cancel: super::clock::Cancel) -> CancelGuard {
        CancelGuard::with_grace(cancel, cancel_grace(&|k| std::env::var(k).ok()))
    }
    pub fn with_grace(cancel: super::clock::Cancel, grace: std::time::Duration) -> CancelGuard {
        CancelGuard {
            cancel,
            grace,
            signalled: Default::default(),
        }
    }
}

/// How long the process may go on after the first signal: `MLCANARY_CANCEL_GRACE` seconds,
/// default 8. GitHub Actions sends SIGINT, SIGTERM 7.5 s later and SIGKILL 2.5 s after that
/// (docs/azure.md); 8 s leaves two for the reports.
pub fn cancel_grace(env: &dyn Fn(&str) -> Option<String>) -> std::time::Duration {
    let secs = env("MLCANARY_CANCEL_GRACE")
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .unwrap_or(8.0);
    std::time::Duration::from_secs_f64(secs)
}

impl std::fmt::Debug for CancelGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CancelGuard")
    }
}

impl ReadGuard for CancelGuard {
    fn armed(&self) -> bool {
        let _ = self.exit_by();
        !self.cancel.is_cancelled()
            && self
                .cancel
                .deadline()
                .is_none_or(|d| SystemClock.now_ms() < d)
    }
    fn exit_by(&self) -> Option<std::time::Instant> {
        if !self.cancel.is_cancelled() {
            return None;
        }
        Some(*self.signalled.get_or_init(std::time::Instant::now) + self.grace)
    }
    fn run(&self, read: Read) -> Result<Result<ArmResponse, AzureError>, String> {
        match interruptible(&SystemClock, &self.cancel, self.cancel.deadline(), read) {
            Waited::Done(r) => Ok(r),
            Waited::Cancelled => Err("abandoned: the run was cancelled".into()),
            Waited::TimedOut => Err("no answer before the rollout's deadline".into()),
        }
    }
}

/// Secret values read from the environment for this config: provider bearer tokens, the Azure
/// client secret and OIDC request token, webhook URLs given as `${VAR}`. Masked in GitHub logs.
pub fn secret_values(c: &Config, env: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
    let mut names: Vec<String> = vec![
        "AZURE_CLIENT_SECRET".into(),
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN".into(),
    ];
    for p in c.providers.values() {
        match p {
            ProviderSpec::Prometheus(p) => names.extend(p.bearer_token_env.clone()),
            ProviderSpec::Http(h) => names.extend(h.bearer_token_env.clone()),
            _ => {}
        }
    }
    if let Some(a) = &c.azure {
        names.extend(a.id_token_variable.clone());
    }
    names.push("AZURE_ID_TOKEN".into());
    names.extend(super::context::env_subset(c, env).keys().cloned());
    let mut out: Vec<String> = names
        .iter()
        .filter_map(|n| env(n))
        .filter(|v| !v.trim().is_empty())
        .collect();
    out.sort();
    out.dedup();
    out
}
