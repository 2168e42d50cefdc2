//! Seldon Core v2 controller for Experiments and Models: conditions turn Ready after K polls
//! (an Experiment candidate or a Model storageUri containing "broken" never gets ready).

use super::controllers::{condition, count_down, spec_changed, status_mut, Side};
use serde_json::{json, Value};

fn kinds(obj: &Value) -> &'static [&'static str] {
    if obj["kind"] == "Experiment" {
        &["ExperimentReady", "CandidatesReady", "Ready"]
    } else {
        &["ModelReady", "Ready"]
    }
}

fn set(obj: &mut Value, ok: impl Fn(&str) -> bool) {
    let conds: Vec<Value> = kinds(obj)
        .iter()
        .map(|k| {
            if ok(k) {
                condition(k, "True", "", "")
            } else {
                condition(k, "False", "NotReady", &format!("{k} is not yet true"))
            }
        })
        .collect();
    status_mut(obj).insert("conditions".into(), json!(conds));
}

pub fn on_write(obj: &mut Value, old: Option<&Value>, side: &mut Side, ready_after: u32) {
    if spec_changed(obj, old) {
        side.polls_left = Some(ready_after);
        set(obj, |_| false);
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
    let broken_candidate = obj["spec"]["candidates"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["name"].as_str().is_some_and(|n| n.contains("broken")))
    });
    let broken_model = obj["spec"]["storageUri"]
        .as_str()
        .is_some_and(|u| u.contains("broken"));
    set(obj, |k| match k {
        "CandidatesReady" | "Ready" if broken_candidate => false,
        "ModelReady" | "Ready" if broken_model => false,
        _ => true,
    });
}
