//! The built-in templates (embedded with `include_str!`, so the binary needs no files at run time) and the
//! per-platform plan: which templates make up a platform's objects, in apply order, and how each rendered
//! document is identified (Kubernetes objects by their own apiVersion/kind/metadata.name, Azure ARM bodies
//! by a synthetic kind and a name taken from the target).

/// ARM api-version of the Azure ML bodies.
pub const AZURE_API_VERSION: &str = "2025-12-01";

pub(crate) const TEMPLATES: &[(&str, &str)] = &[
    (
        "kserve-inferenceservice.yaml",
        include_str!("../../templates/kserve-inferenceservice.yaml"),
    ),
    (
        "seldon-deployment.yaml",
        include_str!("../../templates/seldon-deployment.yaml"),
    ),
    (
        "seldon-v2-model.yaml",
        include_str!("../../templates/seldon-v2-model.yaml"),
    ),
    (
        "seldon-v2-experiment.yaml",
        include_str!("../../templates/seldon-v2-experiment.yaml"),
    ),
    (
        "argo-analysistemplate.yaml",
        include_str!("../../templates/argo-analysistemplate.yaml"),
    ),
    (
        "argo-rollout.yaml",
        include_str!("../../templates/argo-rollout.yaml"),
    ),
    (
        "azureml-deployment.json",
        include_str!("../../templates/azureml-deployment.json"),
    ),
    (
        "azureml-endpoint.json",
        include_str!("../../templates/azureml-endpoint.json"),
    ),
];

pub(crate) const NAMES: &[&str] = &[
    "kserve-inferenceservice.yaml",
    "seldon-deployment.yaml",
    "seldon-v2-model.yaml",
    "seldon-v2-experiment.yaml",
    "argo-analysistemplate.yaml",
    "argo-rollout.yaml",
    "azureml-deployment.json",
    "azureml-endpoint.json",
];

/// How a rendered document is identified.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Shape {
    /// A Kubernetes object: apiVersion, kind and metadata.name come from the document.
    Kube,
    /// An Azure ARM body: a JSON object; kind is synthetic, the name is `target[name_key]`.
    Azure {
        kind: &'static str,
        name_key: &'static str,
    },
}

/// When a template is part of the plan.
#[derive(Debug, Clone, Copy)]
pub(crate) enum When {
    Always,
    /// argo-rollouts with `target.mode: watch`.
    ArgoWatch,
    /// azureml with `target.deployment` present.
    AzureDeployment,
}

pub(crate) struct Step {
    pub template: &'static str,
    pub shape: Shape,
    pub when: When,
}

const fn kube(template: &'static str, when: When) -> Step {
    Step {
        template,
        shape: Shape::Kube,
        when,
    }
}

/// The templates of a platform, in apply order (what is referenced is applied first).
pub(crate) fn plan(platform: &str) -> Option<&'static [Step]> {
    const KSERVE: &[Step] = &[kube("kserve-inferenceservice.yaml", When::Always)];
    const SELDON: &[Step] = &[kube("seldon-deployment.yaml", When::Always)];
    const SELDON_V2: &[Step] = &[
        kube("seldon-v2-model.yaml", When::Always),
        kube("seldon-v2-experiment.yaml", When::Always),
    ];
    const ARGO: &[Step] = &[
        kube("argo-analysistemplate.yaml", When::ArgoWatch),
        kube("argo-rollout.yaml", When::Always),
    ];
    const AZURE: &[Step] = &[
        Step {
            template: "azureml-deployment.json",
            shape: Shape::Azure {
                kind: "AzureMLDeployment",
                name_key: "canaryDeployment",
            },
            when: When::AzureDeployment,
        },
        Step {
            template: "azureml-endpoint.json",
            shape: Shape::Azure {
                kind: "AzureMLEndpoint",
                name_key: "endpoint",
            },
            when: When::Always,
        },
    ];
    Some(match platform {
        "kserve" => KSERVE,
        "seldon" => SELDON,
        "seldon-v2" => SELDON_V2,
        "argo-rollouts" => ARGO,
        "azureml" => AZURE,
        _ => return None,
    })
}

impl When {
    pub(crate) fn holds(self, target: &serde_json::Value) -> bool {
        match self {
            When::Always => true,
            When::ArgoWatch => target.get("mode").and_then(|m| m.as_str()) == Some("watch"),
            When::AzureDeployment => target.get("deployment").is_some_and(|d| !d.is_null()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_target_key_a_template_reads_is_known_to_the_config() {
        use crate::config::{TARGET_KEYS, TEMPLATE_KEYS};
        let mut read = std::collections::BTreeSet::new();
        for (_, src) in TEMPLATES {
            for part in src.split("target.").skip(1) {
                let key: String = part
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric())
                    .collect();
                read.insert(key);
            }
        }
        assert!(read.contains("resources"), "{read:?}");
        for key in &read {
            assert!(
                TARGET_KEYS.contains(&key.as_str()) || TEMPLATE_KEYS.contains(&key.as_str()),
                "templates read target.{key}, which neither list names"
            );
        }
        for key in TEMPLATE_KEYS {
            assert!(
                read.contains(*key),
                "TEMPLATE_KEYS names {key}, no template reads it"
            );
        }
    }

    #[test]
    fn names_and_sources_agree_and_every_plan_step_exists() {
        let sources: Vec<&str> = TEMPLATES.iter().map(|(n, _)| *n).collect();
        assert_eq!(sources, NAMES);
        for platform in ["kserve", "seldon", "seldon-v2", "argo-rollouts", "azureml"] {
            for step in plan(platform).unwrap() {
                assert!(
                    NAMES.contains(&step.template),
                    "{platform}: {}",
                    step.template
                );
            }
        }
        assert!(plan("sagemaker").is_none());
    }
}
