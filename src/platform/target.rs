//! The validated target: the config's `target:` section as one platform's settings, with each
//! platform's defaults applied once (by that platform's file) instead of optional fields checked
//! where they are used. Built after validation ([`Target::from_config`]); the rollout assembly,
//! the template context, `plan`, `compare` and the manual gates all read it.

use super::azureml::AzureMlTarget;
use super::k8s::KubeApi;
use super::kube_platform::{KubeSettings, KubeTarget};
use super::{argo, kserve, seldon, seldon_v2, Platform, Revisions};
use crate::config::{Config, PlatformKind};
use crate::core::plan::Walk;
use serde_json::Value;

/// One platform's settings, defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    Kserve(KubeSettings),
    Seldon(KubeSettings, seldon::Predictors),
    SeldonV2(KubeSettings, seldon_v2::Models),
    /// Argo Rollouts; [`Walk::ArgoWatch`] is watch mode.
    Argo(KubeSettings, Walk),
    AzureMl(AzureMlTarget),
}

impl Target {
    /// The settings of a validated config's platform.
    pub fn from_config(c: &Config) -> Target {
        match c.target.platform {
            PlatformKind::Kserve => Target::Kserve(KubeSettings::from_config(c)),
            PlatformKind::Seldon => Target::Seldon(
                KubeSettings::from_config(c),
                seldon::Predictors::from_config(c),
            ),
            PlatformKind::SeldonV2 => {
                let k = KubeSettings::from_config(c);
                let m = seldon_v2::Models::from_config(c, &k);
                Target::SeldonV2(k, m)
            }
            PlatformKind::ArgoRollouts => Target::Argo(KubeSettings::from_config(c), Walk::of(c)),
            PlatformKind::Azureml => Target::AzureMl(AzureMlTarget::from_config(c)),
        }
    }

    /// Where a Kubernetes platform's resource is (`None` for Azure ML).
    pub fn kube(&self) -> Option<&KubeSettings> {
        match self {
            Target::Kserve(k)
            | Target::Seldon(k, _)
            | Target::SeldonV2(k, _)
            | Target::Argo(k, _) => Some(k),
            Target::AzureMl(_) => None,
        }
    }

    /// The names the templates see before the platform reports any: named versions (Seldon
    /// predictors and Models, Azure ML deployments) are known from the config; revisions a
    /// controller creates (KServe, Argo) are unknown until the platform reports them.
    pub fn default_revisions(&self) -> Revisions {
        match self {
            Target::Kserve(k) | Target::Argo(k, _) => Revisions {
                canary_name: k.resource.clone(),
                canary_revision: None,
                stable_name: k.resource.clone(),
                stable_revision: None,
            },
            Target::Seldon(_, p) => super::kube_platform::named_revisions(&p.stable, &p.canary),
            Target::SeldonV2(_, m) => super::kube_platform::named_revisions(&m.stable, &m.canary),
            Target::AzureMl(a) => {
                super::kube_platform::named_revisions(&a.stable_deployment, &a.canary_deployment)
            }
        }
    }

    /// The platform file's driver over `api` (`None` for Azure ML, which speaks ARM).
    /// `planned`: the run's last phase's objects ([`KubeTarget::planned`]).
    pub fn kube_driver(
        &self,
        api: Box<dyn KubeApi>,
        planned: Vec<Value>,
    ) -> Option<Box<dyn Platform>> {
        let t = |k: &KubeSettings| KubeTarget::new(api, k, planned);
        Some(match self {
            Target::Kserve(k) => Box::new(kserve::Kserve::new(t(k))),
            Target::Seldon(k, p) => Box::new(seldon::Seldon::new(
                t(k),
                p.stable.clone(),
                p.canary.clone(),
            )),
            Target::SeldonV2(k, m) => Box::new(seldon_v2::SeldonV2::new(
                t(k),
                m.stable.clone(),
                m.canary.clone(),
                m.model_uri.clone(),
            )),
            Target::Argo(k, Walk::ArgoWatch) => Box::new(argo::Argo::watch(t(k))),
            Target::Argo(k, Walk::Stages) => Box::new(argo::Argo::new(t(k))),
            Target::AzureMl(_) => return None,
        })
    }

    /// What a cluster serving only the stable version holds, from the run's last phase's
    /// objects: a dry run seeds its recorder with these (`rollout::build`).
    pub fn stable_objects(&self, planned: &[Value]) -> Vec<Value> {
        match self {
            Target::Kserve(_) | Target::AzureMl(_) => planned.to_vec(),
            Target::Seldon(_, p) => p.stable_objects(planned),
            Target::SeldonV2(k, m) => m.stable_objects(planned, &k.namespace),
            Target::Argo(..) => argo::stable_objects(planned),
        }
    }

    /// How the canary's and stable's revisions are named inside the manifests' guardrail
    /// queries, when the platform fills them in itself (Argo's AnalysisTemplate args).
    pub fn manifest_revisions(&self) -> Option<(&'static str, &'static str)> {
        match self {
            Target::Argo(..) => Some(argo::ANALYSIS_REVISIONS),
            _ => None,
        }
    }
}
