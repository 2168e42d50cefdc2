//! Argo Rollouts controller, canary strategy: a new pod template restarts the steps; `setWeight`
//! steps apply at once, `pause: {}` stops with a `CanaryPauseStep` pause condition (phase Paused)
//! until the pause conditions are cleared or `spec.paused` goes false; a timed pause lasts one
//! poll; `status.abort` degrades, `abort: false` retries, `promoteFull` jumps to the end.
//! `observedGeneration` is a STRING, as Argo writes it.

use super::controllers::{generation, status_mut, Side};
use serde_json::{json, Value};

fn pod_hash(template: &Value) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in template.to_string().bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")[..10].to_string()
}

fn steps(obj: &Value) -> Vec<Value> {
    obj["spec"]["strategy"]["canary"]["steps"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn has_pause_conditions(status: &Value) -> bool {
    status["pauseConditions"]
        .as_array()
        .is_some_and(|a| !a.is_empty())
}

pub fn on_write(obj: &mut Value, old: Option<&Value>, side: &mut Side) {
    let old_status = old.map(|o| o["status"].clone()).unwrap_or(Value::Null);
    let old_paused = old.is_some_and(|o| o["spec"]["paused"] == true);
    let steps = steps(obj);
    let n = steps.len() as u64;
    let hash = pod_hash(&obj["spec"]["template"]);
    let gen = generation(obj);
    let user_unpaused = old_paused && obj["spec"]["paused"] != true;
    let st = status_mut(obj);
    st.insert("observedGeneration".into(), json!(gen.to_string()));
    if st.get("currentPodHash").and_then(Value::as_str) != Some(hash.as_str()) {
        if st.get("stableRS").is_none() {
            st.insert("stableRS".into(), json!(hash));
            st.insert("currentStepIndex".into(), json!(n));
        } else {
            st.insert("currentStepIndex".into(), json!(0));
            for k in ["abort", "abortedAt", "pauseConditions", "controllerPause"] {
                st.remove(k);
            }
        }
        st.insert("currentPodHash".into(), json!(hash));
        side.timed_pause = false;
    }
    let idx = st
        .get("currentStepIndex")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let aborted = st.get("abort") == Some(&json!(true));
    if !aborted && old_status["abort"] == true {
        st.insert("currentStepIndex".into(), json!(0));
        st.remove("abortedAt");
    }
    if st.get("promoteFull") == Some(&json!(true)) {
        st.insert("currentStepIndex".into(), json!(n));
        for k in ["promoteFull", "pauseConditions", "controllerPause"] {
            st.remove(k);
        }
    }
    if user_unpaused {
        st.remove("pauseConditions");
    }
    let cleared =
        has_pause_conditions(&old_status) && !has_pause_conditions(&Value::Object(st.clone()));
    if cleared
        && idx < n
        && steps[idx as usize].get("pause").is_some()
        && st.get("currentStepIndex") == Some(&json!(idx))
    {
        st.insert("currentStepIndex".into(), json!(idx + 1));
        st.insert("controllerPause".into(), json!(false));
        side.timed_pause = false;
    }
    progress(obj, side, false);
}

pub fn on_poll(obj: &mut Value, side: &mut Side) {
    progress(obj, side, true);
}

fn progress(obj: &mut Value, side: &mut Side, polled: bool) {
    let steps = steps(obj);
    let n = steps.len() as u64;
    let user_paused = obj["spec"]["paused"] == true;
    let st = status_mut(obj);
    let hash = st.get("currentPodHash").cloned().unwrap_or(Value::Null);
    if st.get("abort") == Some(&json!(true)) {
        st.entry("abortedAt")
            .or_insert(json!("2026-01-01T00:00:00Z"));
        st.remove("pauseConditions");
        st.insert("phase".into(), json!("Degraded"));
        st.insert(
            "message".into(),
            json!(format!(
                "RolloutAborted: Rollout aborted update to revision {}",
                hash.as_str().unwrap_or("")
            )),
        );
        set_weights(st, 0);
        return;
    }
    let mut idx = st
        .get("currentStepIndex")
        .and_then(Value::as_u64)
        .unwrap_or(n);
    if !user_paused {
        while idx < n {
            let Some(pause) = steps[idx as usize].get("pause") else {
                idx += 1;
                continue;
            };
            if pause.get("duration").is_some() {
                if side.timed_pause && polled {
                    side.timed_pause = false;
                    st.remove("pauseConditions");
                    idx += 1;
                    continue;
                }
                side.timed_pause = true;
            }
            if !has_pause_conditions(&Value::Object(st.clone())) {
                st.insert(
                    "pauseConditions".into(),
                    json!([{"reason": "CanaryPauseStep", "startTime": "2026-01-01T00:00:00Z"}]),
                );
                st.insert("controllerPause".into(), json!(true));
            }
            break;
        }
    }
    st.insert("currentStepIndex".into(), json!(idx));
    let weight = if idx >= n {
        st.insert("stableRS".into(), hash.clone());
        st.remove("pauseConditions");
        st.remove("controllerPause");
        100
    } else {
        steps[..idx as usize]
            .iter()
            .filter_map(|s| s["setWeight"].as_u64())
            .next_back()
            .unwrap_or(0)
    };
    set_weights(st, weight);
    let (phase, message) = if user_paused || has_pause_conditions(&Value::Object(st.clone())) {
        (
            "Paused",
            if user_paused {
                "manually paused"
            } else {
                "CanaryPauseStep"
            },
        )
    } else if idx < n {
        ("Progressing", "more replicas need to be updated")
    } else {
        ("Healthy", "")
    };
    st.insert("phase".into(), json!(phase));
    st.insert("message".into(), json!(message));
}

fn set_weights(st: &mut serde_json::Map<String, Value>, canary: u64) {
    let canary_hash = st.get("currentPodHash").cloned().unwrap_or(Value::Null);
    let stable_hash = st.get("stableRS").cloned().unwrap_or(Value::Null);
    st.insert(
        "canary".into(),
        json!({"weights": {
            "canary": {"weight": canary, "podTemplateHash": canary_hash},
            "stable": {"weight": 100 - canary, "podTemplateHash": stable_hash}
        }}),
    );
}
