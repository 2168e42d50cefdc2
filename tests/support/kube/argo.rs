//! Argo Rollouts controller, canary strategy, ported from upstream `rollout/canary.go`
//! (`syncRolloutStatusCanary`, `reconcileCanaryPause`, `completedCurrentCanaryStep`) and
//! `rollout/pause.go` (`CompletedCanaryPauseStep`, `CalculatePauseConditions`):
//! - a new pod template restarts the steps (`resetRolloutStatus`: index 0, no pause, no abort);
//! - `setWeight` completes at once (no replicas to wait for here);
//! - a `pause` step with no `CanaryPauseStep` condition and `controllerPause: false` is paused
//!   for the first time: the condition is added and `controllerPause` set;
//! - a `pause` step is complete when `controllerPause` is true and the condition is gone (someone
//!   cleared it: `kubectl argo rollouts promote`), or a timed pause expired (here: one reconcile);
//!   completing it moves `currentStepIndex` on and resets `controllerPause`;
//! - `spec.paused` holds everything (phase Paused, "manually paused");
//! - `status.abort` degrades (weights 0, index 0), `abort: false` retries from step 0;
//! - `status.promoteFull` jumps to the end.
//!
//! - a `setCanaryScale` step without `trafficRouting` is an invalid spec (upstream
//!   `pkg/apis/rollouts/validation/validation.go`: "SetCanaryScale requires TrafficRouting to be
//!   set"; `createInvalidRolloutCondition` in `rollout/controller.go`): an `InvalidSpec` condition,
//!   phase Degraded, nothing moves;
//! - replica counts (`status.replicas`, `updatedReplicas` = the canary ReplicaSet's,
//!   `availableReplicas`, `readyReplicas`; pods here are available at once) follow upstream
//!   `utils/replicaset/canary.go`: with a traffic router, `CalculateReplicaCountsForTrafficRoutedCanary`
//!   (the stable stays at `spec.replicas`; the canary is the last `setCanaryScale` at or before
//!   the current step unless it says `matchTrafficWeight: true` (`UseSetCanaryScale`), else
//!   ceil(setWeight x replicas / 100)); so `setCanaryScale {replicas: 1}` + `setWeight: 0` holds
//!   one canary pod with no traffic. Without a router the basic canary is approximated (0 pods at
//!   weight 0, all at 100, else the nearest count, at least 1; upstream also weighs maxSurge).
//!   An abort scales the canary to the weight (0) at once (upstream waits
//!   `abortScaleDownDelaySeconds`, 30 s by default, which a test here does not observe).
//!
//! The state "controllerPause true, no pause conditions" is what a client sees between clearing
//! the conditions and the controller's next reconcile; upstream `GetRolloutPhase` reports it as
//! Progressing, "waiting for rollout to unpause" (`IsUnpausing`), while the stored `status.phase`
//! still says Paused. `observedGeneration` is a STRING, as Argo writes it.

use super::controllers::{generation, status_mut, Side};
use serde_json::{json, Map, Value};

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

fn has_step_pause(st: &Map<String, Value>) -> bool {
    st.get("pauseConditions")
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|c| c["reason"] == "CanaryPauseStep"))
}

fn pause_conditions(st: &Map<String, Value>) -> bool {
    st.get("pauseConditions")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty())
}

fn remove_step_pause(st: &mut Map<String, Value>) {
    if let Some(Value::Array(a)) = st.get_mut("pauseConditions") {
        a.retain(|c| c["reason"] != "CanaryPauseStep");
    }
    if !pause_conditions(st) {
        // CalculatePauseConditions: no conditions left -> controllerPause is not carried over.
        st.remove("pauseConditions");
        st.remove("controllerPause");
    }
}

pub fn on_write(obj: &mut Value, _old: Option<&Value>, side: &mut Side) {
    reconcile(obj, side, false);
}

pub fn on_poll(obj: &mut Value, side: &mut Side) {
    reconcile(obj, side, true);
}

fn reconcile(obj: &mut Value, side: &mut Side, polled: bool) {
    let steps = steps(obj);
    let n = steps.len() as u64;
    let hash = pod_hash(&obj["spec"]["template"]);
    let gen = generation(obj);
    let user_paused = obj["spec"]["paused"] == true;
    let routed = !obj["spec"]["strategy"]["canary"]["trafficRouting"].is_null();
    let spec_replicas = obj["spec"]["replicas"].as_u64().unwrap_or(1);
    let name = obj["metadata"]["name"].as_str().unwrap_or("").to_string();
    let st = status_mut(obj);
    st.insert("observedGeneration".into(), json!(gen.to_string()));
    if !routed && steps.iter().any(|s| s.get("setCanaryScale").is_some()) {
        let message = format!("The Rollout \"{name}\" is invalid: spec.strategy.canary.trafficRouting: Required value: SetCanaryScale requires TrafficRouting to be set");
        st.insert(
            "conditions".into(),
            json!([{"type": "InvalidSpec", "status": "True", "reason": "InvalidSpec", "message": message}]),
        );
        st.insert("phase".into(), json!("Degraded"));
        st.insert("message".into(), json!(format!("InvalidSpec: {message}")));
        return;
    }
    st.remove("conditions");
    if st.get("currentPodHash").and_then(Value::as_str) != Some(hash.as_str()) {
        if st.get("stableRS").is_none() {
            st.insert("stableRS".into(), json!(hash));
            st.insert("currentStepIndex".into(), json!(n));
        } else {
            st.insert("currentStepIndex".into(), json!(0));
            for k in [
                "abort",
                "abortedAt",
                "pauseConditions",
                "controllerPause",
                "promoteFull",
            ] {
                st.remove(k);
            }
        }
        st.insert("currentPodHash".into(), json!(hash));
        side.timed_pause = false;
    }
    let fully_promoted = st.get("stableRS") == st.get("currentPodHash");
    let mut idx = st
        .get("currentStepIndex")
        .and_then(Value::as_u64)
        .unwrap_or(n);
    if st.get("promoteFull") == Some(&json!(true)) {
        idx = n;
        for k in ["pauseConditions", "controllerPause", "abort", "abortedAt"] {
            st.remove(k);
        }
    }
    if st.get("abort") == Some(&json!(true)) {
        st.entry("abortedAt")
            .or_insert(json!("2026-01-01T00:00:00Z"));
        st.remove("pauseConditions");
        st.remove("controllerPause");
        st.insert(
            "currentStepIndex".into(),
            json!(if fully_promoted { n } else { 0 }),
        );
        st.insert("phase".into(), json!("Degraded"));
        st.insert(
            "message".into(),
            json!(format!(
                "RolloutAborted: Rollout aborted update to revision {hash}"
            )),
        );
        set_weights(st, if fully_promoted { 100 } else { 0 });
        let canary = if fully_promoted { spec_replicas } else { 0 };
        set_replicas(st, canary, spec_replicas, fully_promoted, routed);
        return;
    }
    if st.remove("abortedAt").is_some() {
        idx = 0; // `abort: false` after an abort: retry from the first step
    }
    if !user_paused {
        while idx < n {
            let Some(pause) = steps[idx as usize].get("pause") else {
                idx += 1;
                continue;
            };
            let cond = has_step_pause(st);
            let controller_pause = st.get("controllerPause") == Some(&json!(true));
            let expired = match duration_secs(&pause["duration"]) {
                None => false,
                Some(d) if side.real_time => side
                    .pause_started
                    .is_some_and(|t| t.elapsed().as_secs_f64() >= d),
                Some(_) => cond && side.timed_pause && polled,
            };
            if (controller_pause && !cond) || expired {
                remove_step_pause(st);
                side.timed_pause = false;
                idx += 1;
                continue;
            }
            if !cond && !controller_pause {
                let mut conds = st
                    .get("pauseConditions")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                conds.push(
                    json!({"reason": "CanaryPauseStep", "startTime": "2026-01-01T00:00:00Z"}),
                );
                st.insert("pauseConditions".into(), Value::Array(conds));
                st.insert("controllerPause".into(), json!(true));
                side.timed_pause = pause.get("duration").is_some();
                side.pause_started = Some(std::time::Instant::now());
            }
            break;
        }
    }
    st.insert("currentStepIndex".into(), json!(idx));
    let weight = if idx >= n {
        st.insert("stableRS".into(), json!(hash));
        for k in ["pauseConditions", "controllerPause", "promoteFull"] {
            st.remove(k);
        }
        100
    } else {
        steps[..idx as usize]
            .iter()
            .filter_map(|s| s["setWeight"].as_u64())
            .next_back()
            .unwrap_or(0)
    };
    set_weights(st, weight);
    let promoted = idx >= n;
    let canary = if promoted {
        spec_replicas
    } else {
        canary_replicas(&steps, idx as usize, spec_replicas, routed)
    };
    set_replicas(st, canary, spec_replicas, promoted, routed);
    // CalculateRolloutPhase, as the controller stores it.
    let reason = st
        .get("pauseConditions")
        .and_then(|c| c[0]["reason"].as_str())
        .map(String::from);
    let (phase, message) = if user_paused {
        ("Paused", "manually paused".to_string())
    } else if let Some(r) = reason {
        ("Paused", r)
    } else if idx < n {
        ("Progressing", "more replicas need to be updated".into())
    } else {
        ("Healthy", String::new())
    };
    st.insert("phase".into(), json!(phase));
    st.insert("message".into(), json!(message));
}

/// The canary ReplicaSet's desired size at step `idx` (not promoted, not aborted).
fn canary_replicas(steps: &[Value], idx: usize, replicas: u64, routed: bool) -> u64 {
    // GetCurrentSetWeight: the last setWeight at or before the current step.
    let weight = steps[..=idx.min(steps.len().saturating_sub(1))]
        .iter()
        .rev()
        .find_map(|s| s["setWeight"].as_u64())
        .unwrap_or(0);
    let of_weight = |w: u64| (w * replicas).div_ceil(100);
    if routed {
        // UseSetCanaryScale: the last setCanaryScale at or before the current step.
        let scale = steps[..=idx.min(steps.len().saturating_sub(1))]
            .iter()
            .rev()
            .find_map(|s| s.get("setCanaryScale"));
        return match scale {
            Some(sc) if sc["matchTrafficWeight"] == true => of_weight(weight),
            Some(sc) if sc["replicas"].is_u64() => sc["replicas"].as_u64().unwrap_or(0),
            Some(sc) if sc["weight"].is_u64() => of_weight(sc["weight"].as_u64().unwrap_or(0)),
            _ => of_weight(weight),
        };
    }
    match weight {
        0 => 0,
        w if w >= 100 => replicas,
        w => ((w * replicas + 50) / 100).clamp(1, replicas),
    }
}

/// Rollout status replica counts; pods are available as soon as they exist here. With a router
/// the stable stays at `spec` (no dynamicStableScale); a basic canary shares `spec` with it, the
/// stable keeping at least one pod (1 replica at setWeight 5: one canary beside one stable).
fn set_replicas(st: &mut Map<String, Value>, canary: u64, spec: u64, promoted: bool, routed: bool) {
    let stable = if routed {
        spec
    } else {
        spec.saturating_sub(canary).max(1)
    };
    let total = if promoted { spec } else { canary + stable };
    for k in ["replicas", "availableReplicas", "readyReplicas"] {
        st.insert(k.into(), json!(total));
    }
    st.insert("updatedReplicas".into(), json!(canary));
}

/// A pause duration (`30`, `"30s"`, `"1m"`, `"1h"`) in seconds.
fn duration_secs(d: &Value) -> Option<f64> {
    if let Some(n) = d.as_f64() {
        return Some(n);
    }
    let s = d.as_str()?;
    let (num, unit) = s.split_at(s.find(|c: char| c.is_alphabetic()).unwrap_or(s.len()));
    let n: f64 = num.parse().ok()?;
    Some(match unit {
        "" | "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return None,
    })
}

fn set_weights(st: &mut Map<String, Value>, canary: u64) {
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
