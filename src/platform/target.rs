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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(target: &str) -> Config {
        let text = format!(
            "apiVersion: mlcanary/v1\nname: m\nmodel: {{uri: s3://m/v2, format: sklearn}}\ntarget: {target}\nproviders: {{prom: {{type: prometheus, address: \"http://p:9090\"}}}}\nguardrails: [{{name: g, provider: prom, query: q, rollback: \"> 1\"}}]\n"
        );
        crate::config::load_str("t.yaml", &text, None).unwrap()
    }

    fn kube(ns: &str, res: &str) -> KubeSettings {
        KubeSettings {
            namespace: ns.into(),
            resource: res.into(),
            field_manager: "mlcanary".into(),
        }
    }

    #[test]
    fn each_platform_applies_its_own_defaults() {
        let cases = [
            ("{platform: kserve}", Target::Kserve(kube("default", "m"))),
            (
                "{platform: seldon, namespace: ml, stableModelUri: s3://m/v1}",
                Target::Seldon(
                    kube("ml", "m"),
                    seldon::Predictors {
                        stable: "main".into(),
                        canary: "canary".into(),
                    },
                ),
            ),
            (
                "{platform: seldon, stableModelUri: s3://m/v1, stablePredictor: blue, canaryPredictor: green}",
                Target::Seldon(
                    kube("default", "m"),
                    seldon::Predictors {
                        stable: "blue".into(),
                        canary: "green".into(),
                    },
                ),
            ),
            (
                "{platform: seldon-v2, resource: iris, stableModel: iris-v1}",
                Target::SeldonV2(
                    kube("default", "iris"),
                    seldon_v2::Models {
                        stable: "iris-v1".into(),
                        canary: "iris-v1-canary".into(),
                        model_uri: "s3://m/v2".into(),
                    },
                ),
            ),
            (
                "{platform: argo-rollouts}",
                Target::Argo(kube("default", "m"), Walk::Stages),
            ),
            (
                "{platform: argo-rollouts, mode: drive}",
                Target::Argo(kube("default", "m"), Walk::Stages),
            ),
            (
                "{platform: argo-rollouts, mode: watch}",
                Target::Argo(kube("default", "m"), Walk::ArgoWatch),
            ),
        ];
        for (yaml, want) in cases {
            assert_eq!(Target::from_config(&config(yaml)), want, "{yaml}");
        }
    }

    #[test]
    fn named_versions_are_known_and_controller_revisions_are_not() {
        let r = Target::from_config(&config("{platform: seldon-v2, stableModel: m}"))
            .default_revisions();
        assert_eq!(
            (r.stable_revision.as_deref(), r.canary_revision.as_deref()),
            (Some("m"), Some("m-canary"))
        );
        for yaml in [
            "{platform: kserve, resource: fd}",
            "{platform: argo-rollouts, resource: fd}",
        ] {
            let r = Target::from_config(&config(yaml)).default_revisions();
            assert_eq!(
                (r.stable_name.as_str(), r.canary_name.as_str()),
                ("fd", "fd")
            );
            assert_eq!(
                (r.stable_revision, r.canary_revision),
                (None, None),
                "{yaml}"
            );
        }
    }

    #[test]
    fn the_stable_cluster_holds_only_what_a_run_does_not_create() {
        let sd = json!({"kind": "SeldonDeployment", "spec": {"predictors": [
            {"name": "main", "traffic": 75}, {"name": "canary", "traffic": 25}]}});
        let seldon = Target::from_config(&config("{platform: seldon, stableModelUri: s3://m/v1}"));
        assert_eq!(
            seldon.stable_objects(std::slice::from_ref(&sd)),
            vec![
                json!({"kind": "SeldonDeployment", "spec": {"predictors": [{"name": "main", "traffic": 100}]}})
            ]
        );
        let planned = [
            json!({"kind": "Model", "metadata": {"name": "m-canary"}}),
            json!({"kind": "Experiment", "metadata": {"name": "m"}}),
            json!({"kind": "Service", "metadata": {"name": "s"}}),
        ];
        let v2 = Target::from_config(&config(
            "{platform: seldon-v2, namespace: ml, stableModel: m}",
        ));
        let kinds: Vec<_> = v2
            .stable_objects(&planned)
            .into_iter()
            .map(|o| (o["kind"].clone(), o["metadata"]["name"].clone()))
            .collect();
        assert_eq!(
            kinds,
            vec![(json!("Service"), json!("s")), (json!("Model"), json!("m"))]
        );
        let argo = Target::from_config(&config("{platform: argo-rollouts}"));
        let planned = [
            json!({"kind": "Rollout"}),
            json!({"kind": "AnalysisTemplate"}),
        ];
        assert_eq!(
            argo.stable_objects(&planned),
            vec![json!({"kind": "Rollout"})]
        );
        assert_eq!(argo.manifest_revisions(), Some(argo::ANALYSIS_REVISIONS));
        assert_eq!(seldon.manifest_revisions(), None);
    }
}
