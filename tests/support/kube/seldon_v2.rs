//! Seldon Core v2 controller for Experiments and Models, as the operator writes status from the
//! scheduler's events (operator/scheduler/model.go `setModelStatus`): a Model's new generation
//! goes `ModelReady` False (reason = scheduler state `ModelProgressing`) while the version loads,
//! then True (`ModelAvailable`); events of an older generation are ignored; the operator writes
//! NO `observedGeneration`, so right after a write the conditions still describe the old version.
//! Experiments: `ExperimentReady`, `CandidatesReady`, `Ready`. A storageUri or candidate name
//! containing "broken" never gets ready (`ModelFailed`).

use super::controllers::{condition, count_down, spec_changed, status_mut, Side};
use serde_json::{json, Value};

fn kinds(obj: &Value) -> &'static [&'static str] {
    if obj["kind"] == "Experiment" {
        &["ExperimentReady", "CandidatesReady", "Ready"]
    } else {
        &["ModelReady", "Ready"]
    }
}

fn set(obj: &mut Value, ok: impl Fn(&str) -> bool, failed: bool) {
    let model = obj["kind"] != "Experiment";
    let conds: Vec<Value> = kinds(obj)
        .iter()
        .map(|k| {
            if ok(k) {
                condition(k, "True", if model { "ModelAvailable" } else { "" }, "")
            } else if model && failed {
                condition(
                    k,
                    "False",
                    "ModelFailed",
                    "the model server could not load the model",
                )
            } else if model {
                condition(k, "False", "ModelProgressing", "")
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
        set(obj, |_| false, false);
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
    if !broken_model {
        side.loaded = obj["spec"]["storageUri"].as_str().map(String::from);
    }
    set(
        obj,
        |k| match k {
            "CandidatesReady" | "Ready" if broken_candidate => false,
            "ModelReady" | "Ready" if broken_model => false,
            _ => true,
        },
        broken_model,
    );
}
