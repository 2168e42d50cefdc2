//! Seldon Core v1 with Ambassador's v1 API: the routes live in an annotation, not in objects.
//!
//! With `AMBASSADOR_ENABLED=true` and `AMBASSADOR_VERSION` unset or `v1` (the operator's default
//! there), the operator (1.18, `seldondeployment_controller.go` `createPredictorService`) writes no
//! Mapping objects and sets no `AmbassadorMappingsReady` reason: it puts the Mappings, as YAML
//! documents, in the predictor Service's `getambassador.io/config` annotation
//! (`ambassador/v1.go` `GetAmbassadorConfigs`). The REST Mapping is named
//! `seldon_{ns}_{sdep}_{predictor}_rest_mapping` (or without `{ns}_` in single-namespace mode),
//! carries `weight: <traffic>` on every predictor but the first (`omitempty`: absent means 0) and
//! `shadow: true` on a shadow. The Service is named by `GetPredictorKey`
//! ([`crate::core::seldon_names::predictor_service`], or the predictor's `seldon.io/svc-name`).
//! A custom `seldon.io/ambassador-config` annotation on the SeldonDeployment (`spec.annotations`
//! or `metadata.annotations`, as `GetAnnotation` reads them) replaces the whole text: then nothing
//! here can be compared, and readiness rests on the Deployments.

use super::k8s::{KubeApi, SERVICE};
use super::PlatformError;
use serde::Deserialize;
use serde_json::Value;

const CONFIG_ANNOTATION: &str = "getambassador.io/config";

/// `None` when no predictor Service carries Ambassador v1 Mappings (no such routing: judged on
/// the Deployments) or when they carry the spec's split; else what they still say. `gone`:
/// predictors removed by this run, whose Services (and so routes) must be gone too.
pub fn differs(
    api: &mut dyn KubeApi,
    namespace: &str,
    sdep: &Value,
    gone: &[&str],
) -> Result<Option<String>, PlatformError> {
    let name = sdep["metadata"]["name"].as_str().unwrap_or("");
    // `GetAnnotation` reads `spec.annotations`, then `metadata.annotations`.
    let custom = |at: &Value| !at["annotations"]["seldon.io/ambassador-config"].is_null();
    if custom(&sdep["spec"]) || custom(&sdep["metadata"]) {
        return Ok(None);
    }
    let preds = sdep["spec"]["predictors"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let Some(first) = preds.first() else {
        return Ok(None);
    };
    // The first predictor's Service tells whether this operator uses Ambassador v1 at all.
    let first_svc = api.get(&SERVICE.path(namespace, &service_name(name, first)))?;
    if !first_svc
        .as_ref()
        .is_some_and(|s| s["metadata"]["annotations"][CONFIG_ANNOTATION].is_string())
    {
        return Ok(None);
    }
    for (i, p) in preds.iter().enumerate() {
        let svc_name = service_name(name, p);
        let svc = match i {
            0 => first_svc.clone(),
            _ => api.get(&SERVICE.path(namespace, &svc_name))?,
        };
        let Some(svc) = svc else {
            return Ok(Some(format!("the Service {svc_name} is not created yet")));
        };
        let pname = p["name"].as_str().unwrap_or("");
        let config = svc["metadata"]["annotations"][CONFIG_ANNOTATION]
            .as_str()
            .unwrap_or("");
        let Some(m) = rest_mapping(config, name, pname) else {
            return Ok(Some(format!(
                "the Service {svc_name} has no Ambassador REST Mapping for {pname} yet"
            )));
        };
        let shadow = p["shadow"] == true;
        let want = p["traffic"].as_u64().unwrap_or(0);
        // The first predictor carries no weight: Ambassador gives it what the others leave.
        if (shadow || i > 0) && m.weight.unwrap_or(0) != want {
            return Ok(Some(format!(
                "the Ambassador Mapping of {pname} has weight {} (the spec asks {want})",
                m.weight.unwrap_or(0)
            )));
        }
        if m.shadow.unwrap_or(false) != shadow {
            return Ok(Some(format!(
                "the Ambassador Mapping of {pname} does not match the predictor's shadow flag yet"
            )));
        }
    }
    for p in gone {
        let svc_name = crate::core::seldon_names::predictor_service(name, p);
        if api.get(&SERVICE.path(namespace, &svc_name))?.is_some() {
            return Ok(Some(format!(
                "the Service {svc_name} of the removed predictor {p} still exists"
            )));
        }
    }
    Ok(None)
}

/// `GetPredictorKey`: the predictor's `seldon.io/svc-name`, else `SDEP-PREDICTOR` (hashed past
/// 63 characters).
fn service_name(sdep: &str, p: &Value) -> String {
    match p["annotations"]["seldon.io/svc-name"].as_str() {
        Some(custom) => custom.to_string(),
        None => {
            crate::core::seldon_names::predictor_service(sdep, p["name"].as_str().unwrap_or(""))
        }
    }
}

/// The fields of an Ambassador v1 Mapping read here.
#[derive(Debug, Deserialize)]
struct Mapping {
    kind: Option<String>,
    name: Option<String>,
    weight: Option<u64>,
    shadow: Option<bool>,
}

/// The REST Mapping of `predictor` among the annotation's YAML documents.
fn rest_mapping(config: &str, sdep: &str, predictor: &str) -> Option<Mapping> {
    let suffix = format!("{sdep}_{predictor}_rest_mapping");
    yaml_serde::Deserializer::from_str(config)
        .filter_map(|doc| Mapping::deserialize(doc).ok())
        .find(|m| {
            m.kind.as_deref() == Some("Mapping")
                && m.name.as_deref().is_some_and(|n| {
                    n == format!("seldon_{suffix}") || n.ends_with(&format!("_{suffix}"))
                })
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::k8s::PatchKind;
    use serde_json::json;
    use std::collections::BTreeMap;

    /// Objects by path; GET only. `Objects::forbidden()` answers every read 403 (a role
    /// without `get services`).
    struct Objects(BTreeMap<String, Value>, bool);

    impl Objects {
        fn of(objects: impl IntoIterator<Item = (String, Value)>) -> Objects {
            Objects(objects.into_iter().collect(), false)
        }
        fn forbidden() -> Objects {
            Objects(BTreeMap::new(), true)
        }
    }

    impl KubeApi for Objects {
        fn get(&mut self, path: &str) -> Result<Option<Value>, PlatformError> {
            if self.1 {
                return Err(PlatformError::Kube {
                    request: format!("GET {path}"),
                    error: Box::new(crate::clients::kube::KubeError::Forbidden {
                        verb: "get".into(),
                        resource: "services".into(),
                        rbac_resource: "services".into(),
                        namespace: Some("ml".into()),
                        message: "denied".into(),
                    }),
                });
            }
            Ok(self.0.get(path).cloned())
        }
        fn patch(
            &mut self,
            _: &str,
            _: &PatchKind,
            _: &Value,
            _: bool,
        ) -> Result<Value, PlatformError> {
            unreachable!("readiness only reads")
        }
        fn delete(&mut self, _: &str) -> Result<(), PlatformError> {
            unreachable!("readiness only reads")
        }
        fn field_manager(&self) -> &str {
            "test"
        }
    }

    /// The annotation text as `GetAmbassadorConfigs` writes it (REST, gRPC and TLS documents,
    /// each after `---`), for the global (namespaced-name) Mappings.
    fn annotation(pred: &str, weight: Option<u64>, shadow: bool) -> String {
        let extra = weight.map_or(String::new(), |w| format!("weight: {w}\n"))
            + if shadow { "shadow: true\n" } else { "" };
        format!(
            "---\napiVersion: ambassador/v1\nkind: Mapping\nname: seldon_ml_sd_{pred}_rest_mapping\nprefix: /seldon/ml/sd/\nrewrite: /\nservice: sd-{pred}.ml:8000\ntimeout_ms: 3000\n{extra}\
             ---\napiVersion: ambassador/v1\nkind: Mapping\nname: seldon_ml_sd_{pred}_grpc_mapping\ngrpc: true\nprefix: /(seldon.protos.*|tensorflow.serving.*)/.*\nprefix_regex: true\nrewrite: \"\"\nservice: sd-{pred}.ml:5001\nweight: 77\n"
        )
    }

    fn service(pred: &str, config: Option<String>) -> (String, Value) {
        let mut s = json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": format!("sd-{pred}"), "namespace": "ml"}});
        if let Some(c) = config {
            s["metadata"]["annotations"] = json!({ CONFIG_ANNOTATION: c });
        }
        (SERVICE.path("ml", &format!("sd-{pred}")), s)
    }

    fn sdep(preds: Value) -> Value {
        json!({"metadata": {"name": "sd"}, "spec": {"predictors": preds}})
    }

    #[test]
    fn mappings_in_the_service_annotation_are_compared_with_the_spec() {
        let spec =
            sdep(json!([{"name": "main", "traffic": 75}, {"name": "canary", "traffic": 25}]));
        let run = |objects: Vec<(String, Value)>, gone: &[&str]| {
            differs(&mut Objects::of(objects), "ml", &spec, gone).unwrap()
        };
        let main = service("main", Some(annotation("main", None, false)));
        // The canary's Mapping still has the old weight, then none (omitempty: 0), then the spec's.
        let got = run(
            vec![
                main.clone(),
                service("canary", Some(annotation("canary", Some(10), false))),
            ],
            &[],
        );
        assert_eq!(
            got.as_deref(),
            Some("the Ambassador Mapping of canary has weight 10 (the spec asks 25)")
        );
        let got = run(
            vec![
                main.clone(),
                service("canary", Some(annotation("canary", None, false))),
            ],
            &[],
        );
        assert!(got.is_some_and(|m| m.contains("has weight 0")));
        let got = run(vec![main.clone()], &[]);
        assert_eq!(
            got.as_deref(),
            Some("the Service sd-canary is not created yet")
        );
        let routed = vec![
            main.clone(),
            service("canary", Some(annotation("canary", Some(25), false))),
        ];
        assert_eq!(run(routed.clone(), &[]), None);
        // A removed predictor's Service must be gone.
        let mut stale = routed.clone();
        stale.push(service("old", Some(annotation("old", Some(0), false))));
        assert!(run(stale, &["old"]).is_some_and(|m| m.contains("sd-old of the removed predictor")));
    }

    #[test]
    fn without_ambassador_v1_nothing_is_read_beyond_the_first_service() {
        let spec =
            sdep(json!([{"name": "main", "traffic": 75}, {"name": "canary", "traffic": 25}]));
        // Services without the annotation (Istio, or no mesh), or no Service readable: no routes.
        for objects in [vec![service("main", None)], vec![]] {
            let mut api = Objects::of(objects);
            assert_eq!(differs(&mut api, "ml", &spec, &[]).unwrap(), None);
        }
        // A custom ambassador-config annotation replaces what the operator writes.
        let mut custom = spec.clone();
        custom["metadata"]["annotations"] = json!({"seldon.io/ambassador-config": "---\n"});
        let mut api = Objects::of([service("main", Some(annotation("main", None, false)))]);
        assert_eq!(differs(&mut api, "ml", &custom, &[]).unwrap(), None);
    }

    /// A role that cannot read Services keeps the Deployments-only judgement instead of failing
    /// readiness (which would roll back a healthy canary).
    #[test]
    fn a_service_read_forbidden_falls_back_to_the_deployments() {
        let spec =
            sdep(json!([{"name": "main", "traffic": 75}, {"name": "canary", "traffic": 25}]));
        assert!(
            differs(&mut Objects::forbidden(), "ml", &spec, &[]).is_err_and(|e| e.is_forbidden())
        );
        let got =
            crate::platform::seldon_routes::not_routed(&mut Objects::forbidden(), "ml", &spec, &[]);
        assert_eq!(got.unwrap(), None);
    }

    #[test]
    fn a_shadow_predictor_needs_its_shadow_flag_and_weight() {
        let spec = sdep(
            json!([{"name": "main", "traffic": 100}, {"name": "shadow", "traffic": 100, "shadow": true}]),
        );
        let main = service("main", Some(annotation("main", None, false)));
        let mut api = Objects::of([
            main.clone(),
            service("shadow", Some(annotation("shadow", Some(100), false))),
        ]);
        assert!(differs(&mut api, "ml", &spec, &[])
            .unwrap()
            .is_some_and(|m| m.contains("shadow flag")));
        let mut api = Objects::of([
            main,
            service("shadow", Some(annotation("shadow", Some(100), true))),
        ]);
        assert_eq!(differs(&mut api, "ml", &spec, &[]).unwrap(), None);
    }
}
