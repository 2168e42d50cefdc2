//! Seldon Core v1 (1.18) SeldonDeployment controller and admission webhook. Admission: traffic
//! over non-shadow predictors must sum to 100 when there are several, at most one shadow.
//!
//! Status as the operator's `Reconcile` / `createDeployments` / `completeServiceCreation` write it
//! (seldondeployment_controller.go): one Deployment per predictor, named
//! `{sdep}-{predictor}-0-{graph name}`; a Deployment that is created or whose pod spec changes
//! makes the reconcile "not ready" (state Creating) and keeps its old `deploymentStatus` entry
//! until the Deployment is found identical again (so the entry may describe the old pod spec);
//! a new Deployment has no entry until then; Deployments of removed predictors leave
//! `deploymentStatus` once they are gone. `state` is Available only when every Deployment is
//! ready. There is NO `observedGeneration`: right after a write the status describes the old
//! spec. A graph whose modelUri contains "broken" never gets ready (state Failed).
//!
//! Traffic is routed by objects the operator writes in `completeServiceCreation`, i.e. only in
//! a reconcile that found every Deployment ready (so a traffic change waits for a new
//! predictor's pods), per [`Routing`]: with Istio one VirtualService named after the
//! SeldonDeployment (`createIstioResources`: per non-shadow predictor an HTTP and a gRPC route
//! to `{sdep}-{predictor}.{ns}.svc.cluster.local`, subset = the predictor's name, `weight` =
//! its traffic; a shadow predictor is the route's `mirror`); with Ambassador v2 two Mappings
//! per predictor (`GetV2AmbassadorConfigs`: `seldon-{ns}-{sdep}-{predictor}-rest` and
//! `-grpc`, `weight` on every predictor but the first, `shadow: true` on a shadow). Routing
//! objects of removed predictors are deleted. The conditions `istioVirtualServicesReady` and
//! `AmbassadorMappingsReady` say whether routes are defined (their reasons, verbatim).

use super::controllers::{condition, count_down, spec_changed, status_mut, Side};
use serde_json::{json, Value};

/// How the operator routes between predictors: its `ISTIO_ENABLED` / `AMBASSADOR_ENABLED` +
/// `AMBASSADOR_VERSION=v2` environment, or neither (traffic then reaches predictors only
/// through their own Services; nothing splits it).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub enum Routing {
    #[default]
    Istio,
    Ambassador,
    None,
}

const HTTP_PORT: u64 = 8000;
const GRPC_PORT: u64 = 5001;

/// The VirtualService of `createIstioResources` (retries and TLS settings left out).
fn virtual_service(obj: &Value) -> Value {
    let (sdep, ns) = names(obj);
    let preds = obj["spec"]["predictors"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut http = json!({
        "match": [{"uri": {"prefix": format!("/seldon/{ns}/{sdep}/")}}],
        "rewrite": {"uri": "/"}, "route": []
    });
    let mut grpc = json!({
        "match": [{"uri": {"regex": ".*tensorflow.*|.*seldon.protos.*|.*inference.*"},
                   "headers": {"seldon": {"exact": sdep}, "namespace": {"exact": ns}}}],
        "route": []
    });
    for p in &preds {
        let name = p["name"].as_str().unwrap_or("");
        let host = format!("{sdep}-{name}.{ns}.svc.cluster.local");
        let traffic = p["traffic"].as_u64().unwrap_or(0);
        for (r, port) in [(&mut http, HTTP_PORT), (&mut grpc, GRPC_PORT)] {
            let dest = json!({"host": host, "subset": name, "port": {"number": port}});
            if p["shadow"] == true {
                r["mirror"] = dest;
                if traffic > 0 {
                    r["mirrorPercentage"] = json!({"value": traffic as f64});
                }
            } else {
                let mut route = json!({"destination": dest});
                // proto3 JSON: a zero weight is omitted.
                if traffic > 0 {
                    route["weight"] = json!(traffic);
                }
                r["route"].as_array_mut().expect("an array").push(route);
            }
        }
    }
    json!({
        "apiVersion": "networking.istio.io/v1alpha3", "kind": "VirtualService",
        "metadata": {"name": sdep, "namespace": ns},
        "spec": {"hosts": ["*"], "gateways": ["seldon-gateway"], "http": [http, grpc]}
    })
}

/// The global REST and gRPC Mappings of `GetV2AmbassadorConfigs` for each predictor.
fn mappings(obj: &Value) -> Vec<Value> {
    let (sdep, ns) = names(obj);
    let preds = obj["spec"]["predictors"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut out = Vec::new();
    for (i, p) in preds.iter().enumerate() {
        let name = p["name"].as_str().unwrap_or("");
        let shadow = p["shadow"] == true;
        for (kind, port) in [("rest", HTTP_PORT), ("grpc", GRPC_PORT)] {
            let mut spec = json!({
                "service": format!("{sdep}-{name}.{ns}:{port}"),
                "timeout_ms": 3000,
            });
            if kind == "rest" {
                spec["prefix"] = json!(format!("/seldon/{ns}/{sdep}/"));
                spec["rewrite"] = json!("/");
            } else {
                spec["prefix"] = json!("/(seldon.protos.*|tensorflow.serving.*|inference.*)/.*");
                spec["prefix_regex"] = json!(true);
                spec["grpc"] = json!(true);
                spec["headers"] = json!({"seldon": sdep});
            }
            // "Ignore weight on first predictor and let Ambassador handle this".
            if shadow || i > 0 {
                spec["weight"] = p["traffic"].as_u64().unwrap_or(0).into();
            }
            if shadow {
                spec["shadow"] = json!(true);
            }
            out.push(json!({
                "apiVersion": "getambassador.io/v2", "kind": "Mapping",
                "metadata": {"name": format!("seldon-{ns}-{sdep}-{name}-{kind}"), "namespace": ns,
                             "labels": {"seldon-deployment-id": sdep}},
                "spec": spec
            }));
        }
    }
    out
}

fn names(obj: &Value) -> (String, String) {
    (
        obj["metadata"]["name"].as_str().unwrap_or("").to_string(),
        obj["metadata"]["namespace"]
            .as_str()
            .unwrap_or("")
            .to_string(),
    )
}

/// `completeServiceCreation`'s routing part: the objects to write and the conditions.
fn route(obj: &mut Value, side: &mut Side) {
    let (children, istio, ambassador) = match side.routing {
        Routing::Istio => (
            vec![virtual_service(obj)],
            "All VirtualServices created",
            "No Ambassador Mappaings defined",
        ),
        Routing::Ambassador => (
            mappings(obj),
            "No VirtualServices defined",
            "All Ambassador Mappings created",
        ),
        Routing::None => (
            vec![],
            "No VirtualServices defined",
            "No Ambassador Mappaings defined",
        ),
    };
    side.children = Some(children);
    let st = status_mut(obj);
    let mut conds: Vec<Value> = st
        .get("conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    conds.retain(|c| {
        c["type"] != "istioVirtualServicesReady" && c["type"] != "AmbassadorMappingsReady"
    });
    conds.push(condition("AmbassadorMappingsReady", "True", ambassador, ""));
    conds.push(condition("istioVirtualServicesReady", "True", istio, ""));
    st.insert("conditions".into(), Value::Array(conds));
}

pub fn admit(obj: &Value) -> Result<(), Vec<(String, String)>> {
    let preds = obj["spec"]["predictors"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut causes = Vec::new();
    let (shadow, live): (Vec<&Value>, Vec<&Value>) = preds
        .iter()
        .partition(|p| p["shadow"].as_bool() == Some(true));
    if shadow.len() > 1 {
        causes.push((
            "spec.predictors".to_string(),
            "Only 1 shadow predictor allowed".to_string(),
        ));
    }
    let sum: i64 = live
        .iter()
        .map(|p| p["traffic"].as_i64().unwrap_or(0))
        .sum();
    if live.len() > 1 && sum != 100 {
        causes.push((
            "spec.predictors".to_string(),
            format!("Traffic must sum to 100 for multiple predictors (sums to {sum})"),
        ));
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(causes)
    }
}

fn has_broken(graph: &Value) -> bool {
    graph["modelUri"]
        .as_str()
        .is_some_and(|u| u.contains("broken"))
        || graph["children"]
            .as_array()
            .is_some_and(|cs| cs.iter().any(has_broken))
}

/// Deployment name -> the pod spec it runs (here: the predictor's graph and componentSpecs).
fn wanted(obj: &Value) -> std::collections::BTreeMap<String, Value> {
    let sdep = obj["metadata"]["name"].as_str().unwrap_or("");
    obj["spec"]["predictors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            let name = format!(
                "{sdep}-{}-0-{}",
                p["name"].as_str().unwrap_or(""),
                p["graph"]["name"].as_str().unwrap_or("model")
            );
            (
                name,
                json!({"graph": p["graph"], "componentSpecs": p["componentSpecs"]}),
            )
        })
        .collect()
}

pub fn on_write(obj: &mut Value, old: Option<&Value>, side: &mut Side, ready_after: u32) {
    if spec_changed(obj, old) {
        let want = wanted(obj);
        let changed = want.iter().any(|(k, v)| side.deployments.get(k) != Some(v))
            || side.deployments.keys().any(|k| !want.contains_key(k));
        if changed || old.is_none() {
            side.polls_left = Some(ready_after);
            let st = status_mut(obj);
            st.insert("state".into(), json!("Creating"));
            st.insert("description".into(), json!(""));
        } else if side.polls_left.is_none() && obj["status"]["state"] == "Available" {
            // Only the traffic changed and every Deployment is ready: the routes follow now.
            route(obj, side);
        }
    }
    reconcile(obj, side);
}

pub fn on_poll(obj: &mut Value, side: &mut Side) {
    count_down(side);
    reconcile(obj, side);
}

fn reconcile(obj: &mut Value, side: &mut Side) {
    if side.polls_left != Some(0) {
        return;
    }
    side.polls_left = None;
    let broken = obj["spec"]["predictors"]
        .as_array()
        .is_some_and(|ps| ps.iter().any(|p| has_broken(&p["graph"])));
    let replicas: std::collections::BTreeMap<String, u64> = {
        let sdep = obj["metadata"]["name"].as_str().unwrap_or("").to_string();
        obj["spec"]["predictors"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| {
                (
                    format!(
                        "{sdep}-{}-0-{}",
                        p["name"].as_str().unwrap_or(""),
                        p["graph"]["name"].as_str().unwrap_or("model")
                    ),
                    p["replicas"].as_u64().unwrap_or(1),
                )
            })
            .collect()
    };
    let want = wanted(obj);
    let st = status_mut(obj);
    if broken {
        st.insert("state".into(), json!("Failed"));
        st.insert(
            "description".into(),
            json!("Deployment failed: the model server could not load the model"),
        );
        return;
    }
    let deps: serde_json::Map<String, Value> = replicas
        .iter()
        .map(|(name, r)| {
            (
                name.clone(),
                json!({"name": name, "replicas": r, "availableReplicas": r}),
            )
        })
        .collect();
    st.insert("deploymentStatus".into(), Value::Object(deps));
    st.insert("state".into(), json!("Available"));
    side.deployments = want;
    route(obj, side);
}
