//! Seldon Core v1 SeldonDeployment controller and admission webhook: traffic over non-shadow
//! predictors must sum to 100 when there are several, at most one shadow; `status.state` goes
//! Creating -> Available after K polls, or Failed when a modelUri contains "broken".

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

pub fn on_write(obj: &mut Value, old: Option<&Value>, side: &mut Side, ready_after: u32) {
    if spec_changed(obj, old) {
        side.polls_left = Some(ready_after);
        let st = status_mut(obj);
        st.insert("state".into(), json!("Creating"));
        st.insert("description".into(), json!(""));
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
    let st = status_mut(obj);
    if broken {
        st.insert("state".into(), json!("Failed"));
        st.insert(
            "description".into(),
            json!("Deployment failed: the model server could not load the model"),
        );
    } else {
        st.insert("state".into(), json!("Available"));
    }
}
