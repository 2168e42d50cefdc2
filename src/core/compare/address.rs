//! Where each version is sent, by each platform's own mechanism (docs/compare.md), pure. Explicit
//! `compare.stable` / `compare.canary` URLs and headers always override.
//!
//! - kserve: Knative tag routing. With the InferenceService annotation
//!   `serving.kserve.io/enable-tag-routing: "true"`, KServe tags the previous rolled-out revision
//!   `prev` and the latest `latest`, reachable at `prev-NAME-predictor.NS.DOMAIN` and
//!   `latest-NAME-predictor.NS.DOMAIN`. Through an ingress `address` the host goes in `Host`.
//! - seldon (v1): one Service per predictor, `RESOURCE-PREDICTOR.NS:8000` (REST), as the v1
//!   operator creates it (seldon-core v1.18.2 `operator/controllers/seldondeployment_controller.go`:
//!   `createPredictorService` named by `GetPredictorKey` in
//!   `operator/apis/machinelearning.seldon.io/v1/seldondeployment_types.go`, port
//!   `DEFAULT_ENGINE_CONTAINER_PORT` 8000 named `http`, gRPC 5001). Past 63 characters the name
//!   is `seldon-<md5>` (computed as the operator does: [`crate::core::seldon_names`]); a
//!   predictor annotation `seldon.io/svc-name` replaces it and `seldon.io/no-engine` serves on
//!   the model container's port: those need explicit URLs; the operator's `ENGINE_SERVER_PORT`
//!   changes the port: `compare.port`.
//! - seldon-v2: the mesh (`address`, default `http://seldon-mesh.NS`: the operator's `seldon-mesh`
//!   Service, port 80 -> envoy `http`, seldon-core `operator/controllers/reconcilers/seldon/
//!   service_reconciler.go` `getSeldonMeshService`) routes by the `seldon-model` header: the
//!   stable Model's name, the canary Model's name. An Experiment with `default` takes over the
//!   default Model's route with its candidates' weights (`scheduler/pkg/envoy/processor/
//!   incremental.go` `addModel` -> `addExperimentModelBaselineTraffic`), and a candidate keeps
//!   its own route; the Experiment itself is `NAME.experiment` (`addTrafficForExperiment`). So
//!   while the canary's weight is 0 the stable name reaches only the stable Model, and the
//!   canary's name reaches the canary.
//! - azureml: the endpoint's scoring URI with `azureml-model-deployment: DEPLOYMENT`, which sends
//!   the request to that deployment whatever the traffic split (authentication added at run time).
//! - argo-rollouts: the Rollout's `stableService` and `canaryService`, `http://SERVICE.NS` (port
//!   80). Argo adds `rollouts-pod-template-hash: HASH` to each Service's selector, the stable
//!   ReplicaSet's to `stableService` and the new one's to `canaryService` once it is available
//!   (upstream rollout/service.go `reconcileStableAndCanaryService`, `ensureSVCTargets`), so
//!   each Service reaches only its version's pods while the canary is held at weight 0 by
//!   `setCanaryScale` (the compare steps of the built-in Rollout template).

use crate::config::compare::{Compare, Protocol};
use crate::config::{Config, PlatformKind};
use std::collections::BTreeMap;

/// One version's address. Header values may hold `${VAR}`, expanded at send time.
#[derive(Debug, Clone, PartialEq)]
pub struct Address {
    pub url: String,
    pub headers: BTreeMap<String, String>,
}

/// The names the platform gives the two versions (predictors, Models, deployments).
pub struct Names<'a> {
    pub namespace: &'a str,
    pub resource: &'a str,
    pub stable: &'a str,
    pub canary: &'a str,
    /// azureml: the endpoint's scoring URI (from ARM).
    pub scoring_uri: Option<&'a str>,
}

fn path(k: &Compare, model: &str) -> String {
    match k.protocol {
        Protocol::V2 => format!("/v2/models/{model}/infer"),
        Protocol::V1 => format!("/v1/models/{model}:predict"),
        Protocol::Seldon => "/api/v1.0/predictions".into(),
        Protocol::Azureml => String::new(),
    }
}

fn base(address: &str) -> &str {
    address.trim_end_matches('/')
}

fn plain(url: String) -> Address {
    Address {
        url,
        headers: BTreeMap::new(),
    }
}

fn with(url: String, h: &str, v: &str) -> Address {
    Address {
        url,
        headers: BTreeMap::from([(h.to_string(), v.to_string())]),
    }
}

/// KServe: the tag-routing hosts `prev-` (stable) and `latest-` (canary), direct or through an
/// ingress `address` with the host in `Host`.
fn kserve(k: &Compare, n: &Names) -> Result<(Address, Address), String> {
    let model = k.model_name.as_deref().unwrap_or(n.resource);
    let p = path(k, model);
    let host = |tag: &str| {
        k.domain
            .as_ref()
            .map(|d| format!("{tag}-{}-predictor.{}.{d}", n.resource, n.namespace))
    };
    match (host("prev"), host("latest"), &k.address) {
        (Some(s), Some(l), Some(a)) => Ok((
            with(format!("{}{p}", base(a)), "Host", &s),
            with(format!("{}{p}", base(a)), "Host", &l),
        )),
        (Some(s), Some(l), None) => Ok((
            plain(format!("http://{s}{p}")),
            plain(format!("http://{l}{p}")),
        )),
        _ => Err("kserve: set compare.domain (tag routing hosts) or explicit compare.stable.url and compare.canary.url".into()),
    }
}

/// (stable, canary) addresses, or why they cannot be known.
pub fn addresses(c: &Config, n: &Names) -> Result<(Address, Address), String> {
    let k = c.compare.as_ref().ok_or("no `compare` in the config")?;
    let derived: Result<(Address, Address), String> = match c.target.platform {
        PlatformKind::Kserve => kserve(k, n),
        PlatformKind::Seldon => {
            // The operator's predictor Service: `GetPredictorKey` is SDEP-PREDICTOR, or
            // `seldon-<md5 of it>` past 63 characters.
            let svc = |pred: &str| -> Result<String, String> {
                let name = crate::core::seldon_names::predictor_service(n.resource, pred);
                let model = k.model_name.as_deref().unwrap_or(pred);
                Ok(format!(
                    "http://{name}.{}:{}{}",
                    n.namespace,
                    k.port.unwrap_or(8000),
                    path(k, model)
                ))
            };
            svc(n.stable).and_then(|s| Ok((plain(s), plain(svc(n.canary)?))))
        }
        PlatformKind::SeldonV2 => {
            let mesh = k
                .address
                .clone()
                .unwrap_or_else(|| format!("http://seldon-mesh.{}", n.namespace));
            let at = |model: &str| {
                with(
                    format!("{}{}", base(&mesh), path(k, model)),
                    "seldon-model",
                    model,
                )
            };
            Ok((at(n.stable), at(n.canary)))
        }
        PlatformKind::Azureml => match n.scoring_uri {
            Some(u) => Ok((
                with(u.to_string(), "azureml-model-deployment", n.stable),
                with(u.to_string(), "azureml-model-deployment", n.canary),
            )),
            None => Err("azureml: the endpoint has no scoring URI yet".into()),
        },
        PlatformKind::ArgoRollouts => {
            let svc = |key: &str| c.target.values.get(key).and_then(|v| v.as_str());
            match (svc("stableService"), svc("canaryService")) {
                (Some(s), Some(cs)) => {
                    let model = k.model_name.as_deref().unwrap_or(n.resource);
                    let port = k.port.map_or_else(String::new, |p| format!(":{p}"));
                    let at = |name: &str| plain(format!("http://{name}.{}{port}{}", n.namespace, path(k, model)));
                    Ok((at(s), at(cs)))
                }
                _ => Err("argo-rollouts: set target.stableService and target.canaryService, or compare.stable.url and compare.canary.url".into()),
            }
        }
    };
    let over = |a: Option<Address>, e: &Option<crate::config::compare::Endpoint>| {
        let e = e.clone().unwrap_or_default();
        let mut a = match (a, e.url) {
            (_, Some(url)) => plain(url),
            (Some(a), None) => a,
            (None, None) => return None,
        };
        a.headers.extend(e.headers);
        Some(a)
    };
    let (ds, dc) = match derived {
        Ok((s, c)) => (Some(s), Some(c)),
        Err(e) => {
            let explicit = |e: &Option<crate::config::compare::Endpoint>| {
                e.as_ref().is_some_and(|e| e.url.is_some())
            };
            if !(explicit(&k.stable) && explicit(&k.canary)) {
                return Err(e);
            }
            (None, None)
        }
    };
    match (over(ds, &k.stable), over(dc, &k.canary)) {
        (Some(s), Some(c)) => Ok((s, c)),
        _ => Err("set compare.stable.url and compare.canary.url".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(target: &str, compare: &str) -> Config {
        let text = format!(
            "apiVersion: mlcanary/v1\nname: fraud\nmodel: {{uri: s3://m, format: sklearn}}\ntarget: {target}\ncompare: {compare}\nguardrails:\n  - {{name: agree, provider: compare, query: disagreement, rollback: \"> 2%\"}}\n"
        );
        crate::config::load_str("t.yaml", &text, None).unwrap()
    }
    fn names<'a>(stable: &'a str, canary: &'a str, uri: Option<&'a str>) -> Names<'a> {
        Names {
            namespace: "ml",
            resource: "fraud",
            stable,
            canary,
            scoring_uri: uri,
        }
    }
    fn h(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn each_platform_addresses_each_version() {
        let kserve = cfg(
            "{platform: kserve, namespace: ml}",
            "{requests: r.jsonl, protocol: v1, domain: example.com}",
        );
        let (s, c) = addresses(&kserve, &names("x", "y", None)).unwrap();
        assert_eq!(
            s.url,
            "http://prev-fraud-predictor.ml.example.com/v1/models/fraud:predict"
        );
        assert_eq!(
            c.url,
            "http://latest-fraud-predictor.ml.example.com/v1/models/fraud:predict"
        );

        let via_ingress = cfg("{platform: kserve, namespace: ml}", "{requests: r.jsonl, protocol: v2, domain: example.com, address: \"http://10.0.0.1:80/\"}");
        let (s, c) = addresses(&via_ingress, &names("x", "y", None)).unwrap();
        assert_eq!(s.url, "http://10.0.0.1:80/v2/models/fraud/infer");
        assert_eq!(
            s.headers,
            h(&[("Host", "prev-fraud-predictor.ml.example.com")])
        );
        assert_eq!(
            c.headers,
            h(&[("Host", "latest-fraud-predictor.ml.example.com")])
        );

        let seldon = cfg(
            "{platform: seldon, namespace: ml, stableModelUri: s3://m/v1}",
            "{requests: r.jsonl, protocol: seldon}",
        );
        let (s, c) = addresses(&seldon, &names("main", "canary", None)).unwrap();
        assert_eq!(s.url, "http://fraud-main.ml:8000/api/v1.0/predictions");
        assert_eq!(c.url, "http://fraud-canary.ml:8000/api/v1.0/predictions");
        // "fraud-" + 58 = 64 characters: the operator's `seldon-` + md5 of "fraud-ppp...p".
        let long = "p".repeat(58);
        let (_, c) = addresses(&seldon, &names("main", &long, None)).unwrap();
        assert_eq!(
            c.url,
            "http://seldon-a4eb1dedff049ab0a0f5a3ffd52f93e3.ml:8000/api/v1.0/predictions"
        );

        let v2 = cfg(
            "{platform: seldon-v2, namespace: ml, stableModel: fraud-v1, canaryModel: fraud-v2}",
            "{requests: r.jsonl, protocol: v2}",
        );
        let (s, c) = addresses(&v2, &names("fraud-v1", "fraud-v2", None)).unwrap();
        assert_eq!(s.url, "http://seldon-mesh.ml/v2/models/fraud-v1/infer");
        assert_eq!(s.headers, h(&[("seldon-model", "fraud-v1")]));
        assert_eq!(c.headers, h(&[("seldon-model", "fraud-v2")]));

        let az = cfg("{platform: azureml, subscriptionId: s, resourceGroup: g, workspace: w, endpoint: fraud, stableDeployment: blue, canaryDeployment: green, location: westeurope}", "{requests: r.jsonl, protocol: azureml}");
        let (s, c) = addresses(
            &az,
            &names(
                "blue",
                "green",
                Some("https://fraud.westeurope.inference.ml.azure.com/score"),
            ),
        )
        .unwrap();
        assert_eq!(
            s.url,
            "https://fraud.westeurope.inference.ml.azure.com/score"
        );
        assert_eq!(s.headers, h(&[("azureml-model-deployment", "blue")]));
        assert_eq!(c.headers, h(&[("azureml-model-deployment", "green")]));
        assert!(addresses(&az, &names("blue", "green", None)).is_err());

        let argo = cfg(
            "{platform: argo-rollouts, namespace: ml, trafficRouting: {nginx: {stableIngress: fraud}}, stableService: fraud-stable, canaryService: fraud-canary}",
            "{requests: r.jsonl, protocol: v2}",
        );
        let (s, c) = addresses(&argo, &names("abc123", "def456", None)).unwrap();
        assert_eq!(s.url, "http://fraud-stable.ml/v2/models/fraud/infer");
        assert_eq!(c.url, "http://fraud-canary.ml/v2/models/fraud/infer");
        assert!(s.headers.is_empty() && c.headers.is_empty());
    }

    /// `port` moves the Services' port where the platform's own addressing names one.
    #[test]
    fn a_port_replaces_the_services_default() {
        let argo = cfg(
            "{platform: argo-rollouts, namespace: ml, trafficRouting: {nginx: {stableIngress: fraud}}, stableService: fraud-stable, canaryService: fraud-canary}",
            "{requests: r.jsonl, protocol: v2, port: 8080}",
        );
        let (s, c) = addresses(&argo, &names("abc123", "def456", None)).unwrap();
        assert_eq!(s.url, "http://fraud-stable.ml:8080/v2/models/fraud/infer");
        assert_eq!(c.url, "http://fraud-canary.ml:8080/v2/models/fraud/infer");
        let seldon = cfg(
            "{platform: seldon, namespace: ml, stableModelUri: s3://m/v1}",
            "{requests: r.jsonl, protocol: seldon, port: 9000}",
        );
        let (s, _) = addresses(&seldon, &names("main", "canary", None)).unwrap();
        assert_eq!(s.url, "http://fraud-main.ml:9000/api/v1.0/predictions");
    }

    #[test]
    fn explicit_urls_and_headers_override() {
        let seldon = cfg(
            "{platform: seldon, namespace: ml, stableModelUri: s3://m/v1}",
            "{requests: r.jsonl, protocol: v2, stable: {url: \"http://s:8080/v2/models/m/infer\"}, canary: {url: \"http://c:8080/v2/models/m/infer\", headers: {X-A: \"${TOKEN}\"}}}",
        );
        let (s, c) = addresses(&seldon, &names("a", "b", None)).unwrap();
        assert_eq!(s.url, "http://s:8080/v2/models/m/infer");
        assert_eq!(c.headers, h(&[("X-A", "${TOKEN}")]));

        let v2 = cfg(
            "{platform: seldon-v2, namespace: ml, stableModel: a}",
            "{requests: r.jsonl, protocol: v2, canary: {headers: {seldon-model: a-canary.experiment}}}",
        );
        let (s, c) = addresses(&v2, &names("a", "a-canary", None)).unwrap();
        assert_eq!(s.headers, h(&[("seldon-model", "a")]));
        assert_eq!(
            c.headers,
            h(&[("seldon-model", "a-canary.experiment")]),
            "an explicit header wins"
        );
    }
}
