//! Platforms: one file per serving platform behind [`Platform`]. Shared Kubernetes mechanics live
//! once (in `clients::kube` and the helpers here); a platform file only knows its own resource.

pub mod azureml;
pub mod azureml_assets;
pub mod azureml_dry;
pub mod rehearsal;
pub mod written;

use thiserror::Error;

pub use crate::core::api_request::ApiRequest;
pub use crate::core::traffic::{Revisions, Traffic};

/// Readiness of the canary after a change.
#[derive(Debug, Clone, PartialEq)]
pub enum Readiness {
    Ready,
    /// Still converging; the message says what is awaited.
    Pending(String),
    /// The new revision failed (e.g. KServe latestReadyRevision never reaching latestCreatedRevision,
    /// Seldon state Failed): roll back, do not wait. (Azure ML reports a failed provisioning as a
    /// platform error instead: exit 3, with blue's traffic never touched.)
    Failed(String),
}

#[derive(Debug, Error)]
pub enum PlatformError {
    /// The Kubernetes API refused or failed; `request` says what was sent. The message includes
    /// the client's error (kept typed for [`PlatformError::is_transient`] and conflicts).
    #[error("{request}: {error}")]
    Kube {
        request: String,
        error: Box<crate::clients::kube::KubeError>,
    },
    /// Azure Resource Manager refused or failed; `request` says what was sent. The message
    /// includes the client's error, kept typed (status, ARM error code, request id).
    #[error("{request}: {error}")]
    Arm {
        request: String,
        error: Box<crate::clients::azure::AzureError>,
    },
    /// The API refused or failed in a way the platform explains in words (an answer that is
    /// not what the API documents, an ARM error with what it means for traffic, a read
    /// abandoned at a signal); `request` says what was sent.
    #[error("{request}: {message}")]
    Api { request: String, message: String },
    /// The platform cannot do this (e.g. shadow on KServe).
    #[error("{0}")]
    Unsupported(String),
    /// A refusal of the platform's own rules, with no error underneath (the stable predictor
    /// is gone, the Rollout is already fully promoted, ...).
    #[error("{0}")]
    Other(String),
}

impl PlatformError {
    /// A refusal because the object changed under us (409 Conflict): re-read and recompute.
    pub fn is_conflict(&self) -> bool {
        match self {
            PlatformError::Kube { error, .. } => {
                matches!(**error, crate::clients::kube::KubeError::Conflict { .. })
            }
            _ => false,
        }
    }

    /// The object (or subresource) does not exist: a 404 from the Kubernetes API.
    pub fn is_not_found(&self) -> bool {
        match self {
            PlatformError::Kube { error, .. } => {
                matches!(**error, crate::clients::kube::KubeError::NotFound { .. })
            }
            _ => false,
        }
    }

    /// The Kubernetes API refused for lack of permission (403).
    pub fn is_forbidden(&self) -> bool {
        match self {
            PlatformError::Kube { error, .. } => {
                matches!(**error, crate::clients::kube::KubeError::Forbidden { .. })
            }
            _ => false,
        }
    }

    /// A failure that may pass if the same call is tried again later: the Kubernetes API
    /// unreachable or answering garbage, 5xx and 429 after the client's own retries, a conflict.
    /// Not: missing objects, missing permissions, invalid requests, configuration and
    /// credentials, unsupported operations, ARM failures (the Azure client retries its own
    /// transient failures) and failures whose cause is not typed.
    pub fn is_transient(&self) -> bool {
        use crate::clients::kube::KubeError as K;
        match self {
            PlatformError::Kube { error, .. } => match error.as_ref() {
                K::Transport(_) | K::Conflict { .. } => true,
                K::Api { code, .. } => *code == 429 || *code >= 500,
                K::NotFound { .. }
                | K::Forbidden { .. }
                | K::Invalid { .. }
                | K::Config(_)
                | K::Auth(_) => false,
            },
            PlatformError::Arm { .. }
            | PlatformError::Api { .. }
            | PlatformError::Unsupported(_)
            | PlatformError::Other(_) => false,
        }
    }
}

impl From<&PlatformError> for crate::core::fault::Fault {
    fn from(e: &PlatformError) -> Self {
        use crate::clients::azure::AzureError as A;
        use crate::core::fault::FaultKind as F;
        let kind = match e {
            _ if e.is_conflict() => F::Conflict,
            _ if e.is_transient() => F::Unavailable,
            PlatformError::Kube { .. } => F::Refused,
            PlatformError::Arm { error, .. } => match error.as_ref() {
                A::Transport { .. } => F::Unavailable,
                A::Api { status, .. } if *status == 429 || *status >= 500 => F::Unavailable,
                A::Api { status: 409, .. } => F::Conflict,
                _ => F::Refused,
            },
            PlatformError::Api { .. } | PlatformError::Other(_) => F::Rule,
            PlatformError::Unsupported(_) => F::Unsupported,
        };
        crate::core::fault::Fault::new(kind, e.to_string())
    }
}

/// A serving platform. Every call is one synchronous step; waiting and timeouts belong to the
/// caller (the rollout loop with its injected clock), so `poll_ready` checks once and returns.
pub trait Platform {
    /// Apply the new model with the canary at `weight` percent; with `mirror` > 0 (a shadow-first
    /// rollout, weight 0) the canary only receives mirrored traffic. `manifests` are this phase's
    /// objects, rendered by the caller before anything was sent (a platform never renders).
    fn prepare(
        &mut self,
        weight: u32,
        mirror: u32,
        manifests: &[serde_json::Value],
    ) -> Result<(), PlatformError>;
    /// Check once whether the last change has converged.
    fn poll_ready(&mut self) -> Result<Readiness, PlatformError>;
    /// Move `weight` percent of live traffic to the canary. Live traffic ends any mirroring of the
    /// canary (the shadow phase is over once users see it).
    fn set_weight(&mut self, weight: u32) -> Result<(), PlatformError>;
    /// Mirror `percent` of traffic to the canary (0 turns mirroring off).
    fn set_shadow(&mut self, percent: u32) -> Result<(), PlatformError>;
    /// Where traffic is now, as the platform reports it.
    fn traffic(&mut self) -> Result<Traffic, PlatformError>;
    /// Names and revisions for the template context.
    fn revisions(&mut self) -> Result<Revisions, PlatformError>;
    /// Make the canary the stable version with 100% of traffic.
    fn promote(&mut self) -> Result<(), PlatformError>;
    /// Send all traffic back to the stable version.
    fn rollback(&mut self) -> Result<(), PlatformError>;
    /// Checked once after the run's last write, before the final traffic read: `None` when the
    /// platform's status reflects the final spec (its controller has acted), else what is still
    /// awaited. A platform may finish a deferred step here (Seldon v2 removes the Experiment
    /// only once the stable Model serves the new version). The caller polls with a bound.
    fn settled(&mut self) -> Result<Option<String>, PlatformError> {
        Ok(None)
    }
    /// How the platform words the first apply of the new model, when the plan's weight is not
    /// what happens (Argo watch mode: Argo walks its own steps).
    fn describe_prepare(&mut self, _weight: u32) -> Option<String> {
        None
    }
    /// Warnings about GitOps controllers (Argo CD, Flux) that own the live object and may
    /// revert what mlcanary writes (`platform::gitops`).
    fn gitops_owners(&mut self) -> Vec<String> {
        Vec::new()
    }
    /// The rollout record stored on the live object (`core::progress`), if any.
    fn load_progress(&mut self) -> Result<Option<String>, PlatformError> {
        Ok(None)
    }
    /// Store the rollout record on the live object.
    fn save_progress(&mut self, _record: &str) -> Result<(), PlatformError> {
        Ok(())
    }
    /// Whether this driver has sent any write that may have changed the live resources (a write
    /// that failed counts: it may have landed). A rollback of a run that changed nothing is
    /// skipped. Drivers that cannot tell answer `true`.
    fn has_written(&self) -> bool {
        true
    }
}

pub mod argo;
pub mod gitops;
pub mod k8s;
pub mod kserve;
pub mod kube_platform;
pub mod seldon;
pub mod seldon_ambassador_v1;
pub mod seldon_routes;
pub mod seldon_v2;
pub mod target;

#[cfg(test)]
mod fault_tests {
    use super::PlatformError;
    use crate::clients::azure::AzureError;
    use crate::clients::kube::KubeError;
    use crate::core::fault::{Fault, FaultKind as F};

    fn kube(error: KubeError) -> PlatformError {
        PlatformError::Kube {
            request: "PATCH /x".into(),
            error: Box::new(error),
        }
    }

    fn arm(status: u16) -> PlatformError {
        PlatformError::Arm {
            request: "PUT /x".into(),
            error: Box::new(AzureError::Api {
                method: "PUT".into(),
                url: "https://arm/x".into(),
                status,
                code: "C".into(),
                message: "m".into(),
                request_id: "r".into(),
            }),
        }
    }

    /// The machine is told the kind the typed error says, with the error's own words.
    #[test]
    fn each_platform_error_reaches_the_machine_as_its_kind() {
        let api = |code| KubeError::Api {
            code,
            reason: "r".into(),
            message: "m".into(),
        };
        let cases = [
            (
                kube(KubeError::Conflict {
                    what: "w".into(),
                    message: "m".into(),
                }),
                F::Conflict,
            ),
            (kube(api(503)), F::Unavailable),
            (kube(api(429)), F::Unavailable),
            (kube(KubeError::Transport("reset".into())), F::Unavailable),
            (kube(api(422)), F::Refused),
            (
                kube(KubeError::NotFound {
                    what: "w".into(),
                    message: "m".into(),
                }),
                F::Refused,
            ),
            (arm(500), F::Unavailable),
            (arm(409), F::Conflict),
            (arm(403), F::Refused),
            (PlatformError::Unsupported("mirror".into()), F::Unsupported),
            (PlatformError::Other("gone".into()), F::Rule),
            (
                PlatformError::Api {
                    request: "GET /x".into(),
                    message: "not what the API documents".into(),
                },
                F::Rule,
            ),
        ];
        for (e, kind) in cases {
            let f = Fault::from(&e);
            assert_eq!(f.kind, kind, "{e}");
            assert_eq!(f.message, e.to_string());
        }
    }
}
