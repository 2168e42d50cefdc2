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

use super::controllers::{count_down, spec_changed, status_mut, Side};
use serde_json::{json, Value};

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
}
