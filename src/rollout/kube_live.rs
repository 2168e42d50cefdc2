//! The live Kubernetes API behind the platforms' [`KubeApi`] seam: the `clients::kube` client,
//! configured from the config's `kubernetes:` block.
//!
//! Reads can be made interruptible by the run's [`Cancel`]: a GET in flight when a signal arrives
//! or the deadline passes (a readiness poll against a hung API server can block for the client's
//! timeout times its retries) is abandoned so the rollback starts at once. Writes are never
//! abandoned without a signal (traffic would be unknown). After a signal, time is short (runners
//! kill ~10 s later): the client stops retrying the forward move in flight, a write in flight is
//! abandoned after a short bound and the rollback's own reads and writes get the signal grace
//! ([`bounded_after_signal`]); a write abandoned that way carries a resourceVersion precondition,
//! so if it lands late it is refused instead of undoing the rollback.

use crate::clients::kube::{Client, ClientOptions, KubeError, PatchParams};
use crate::config::Config;
use crate::platform::k8s::{KubeApi, PatchKind};
use crate::platform::PlatformError;
use crate::rollout::clock::{
    bounded_after_signal, interruptible, Cancel, Clock, SystemClock, Waited,
};
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;

pub struct LiveKube {
    client: Arc<Client>,
    field_manager: String,
    cancel: Option<Cancel>,
}

fn expand_home(p: &str) -> PathBuf {
    match (p.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(p),
    }
}

pub fn options(c: &Config) -> ClientOptions {
    let k = c.kubernetes.as_ref();
    ClientOptions {
        kubeconfig: k.and_then(|k| k.kubeconfig.as_deref()).map(expand_home),
        context: k.and_then(|k| k.context.clone()),
        field_manager: crate::platform::kube_platform::KubeSettings::from_config(c).field_manager,
        ..ClientOptions::default()
    }
}

/// The kubeconfig context's (or service account's) namespace when a Kubernetes config names
/// none, as kubectl (`run` and the manual gates).
pub fn with_context_namespace(mut c: Config) -> Config {
    if c.target.platform.is_kubernetes() && c.target.namespace.is_none() {
        c.target.namespace = crate::clients::kube::resolve_config(&options(&c))
            .ok()
            .and_then(|k| k.namespace);
    }
    c
}

pub fn connect(c: &Config) -> Result<LiveKube, KubeError> {
    let opts = options(c);
    Ok(LiveKube::from_client(
        Client::new(&opts)?,
        opts.field_manager,
    ))
}

impl LiveKube {
    /// Over a client built elsewhere (tests give it short timeouts and fast retries).
    pub fn from_client(client: Client, field_manager: impl Into<String>) -> LiveKube {
        LiveKube {
            client: Arc::new(client),
            field_manager: field_manager.into(),
            cancel: None,
        }
    }
    /// Reads in flight when `cancel` is set are abandoned (see the module docs).
    pub fn interruptible_by(mut self, cancel: Cancel) -> LiveKube {
        let c = cancel.clone();
        self.client.stop_on(Arc::new(move || {
            c.cancelled_at()
                .map(|ms| std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms as u64))
        }));
        self.cancel = Some(cancel);
        self
    }

    /// `call` on the client, bounded after a signal (see the module docs).
    fn bounded<T: Send + 'static>(
        &self,
        request: String,
        call: impl FnOnce(&Client) -> Result<T, KubeError> + Send + 'static,
    ) -> Result<Result<T, KubeError>, PlatformError> {
        let Some(cancel) = &self.cancel else {
            return Ok(call(&self.client));
        };
        let client = Arc::clone(&self.client);
        match bounded_after_signal(cancel, move || call(&client)) {
            Waited::Done(r) => Ok(r),
            Waited::Cancelled | Waited::TimedOut => Err(PlatformError::Api {
                request,
                message: "abandoned: no answer in the time a signalled run has".into(),
            }),
        }
    }
    pub fn client(&self) -> &Client {
        &self.client
    }
}

fn err(method: &str, path: &str, e: KubeError) -> PlatformError {
    PlatformError::Kube {
        request: format!("{method} {path}"),
        error: Box::new(e),
    }
}

impl KubeApi for LiveKube {
    fn get(&mut self, path: &str) -> Result<Option<Value>, PlatformError> {
        let answer = match &self.cancel {
            Some(cancel)
                if !cancel.is_cancelled()
                    && cancel.deadline().is_none_or(|d| SystemClock.now_ms() < d) =>
            {
                let (client, p) = (Arc::clone(&self.client), path.to_string());
                let until = cancel.deadline();
                match interruptible(&SystemClock, cancel, until, move || client.get(&p)) {
                    Waited::Done(r) => r,
                    Waited::Cancelled => {
                        return Err(PlatformError::Api {
                            request: format!("GET {path}"),
                            message: "abandoned: the run was cancelled".into(),
                        })
                    }
                    Waited::TimedOut => {
                        return Err(PlatformError::Api {
                            request: format!("GET {path}"),
                            message: "no answer before the rollout's deadline".into(),
                        })
                    }
                }
            }
            _ => {
                let p = path.to_string();
                self.bounded(format!("GET {path}"), move |c| c.get(&p))?
            }
        };
        match answer {
            Ok(v) => Ok(Some(v)),
            Err(KubeError::NotFound { .. }) => Ok(None),
            Err(e) => Err(err("GET", path, e)),
        }
    }
    fn patch(
        &mut self,
        path: &str,
        kind: &PatchKind,
        body: &Value,
        dry_run: bool,
    ) -> Result<Value, PlatformError> {
        let (p, kind, body) = (path.to_string(), kind.clone(), body.clone());
        self.bounded(format!("PATCH {path}"), move |c| {
            c.patch(&p, &kind, &body, &PatchParams { dry_run })
        })?
        .map_err(|e| err("PATCH", path, e))
    }
    fn delete(&mut self, path: &str) -> Result<(), PlatformError> {
        let p = path.to_string();
        self.bounded(format!("DELETE {path}"), move |c| c.delete(&p))?
            .map_err(|e| err("DELETE", path, e))
    }
    fn field_manager(&self) -> &str {
        &self.field_manager
    }
}
