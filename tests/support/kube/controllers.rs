//! Controller glue: which controller owns which resource, and the bookkeeping every controller
//! shares (per-object side state, resourceVersion bumps when a controller changes status).

use super::resources::Resource;
use super::{argo, kserve, seldon, seldon_v2, State};
use serde_json::Value;

/// Per-object controller memory that does not belong in the object.
#[derive(Debug, Default, Clone)]
pub struct Side {
    /// Polls left before the pending change becomes ready; `None` = nothing pending.
    pub polls_left: Option<u32>,
    /// KServe: revision counter and the storageUri of the latest revision.
    pub revision: u32,
    pub uri: Option<String>,
    /// Argo: a timed pause step is in progress.
    pub timed_pause: bool,
    /// Seldon v1: the pod specs (graphs) of the Deployments the controller last made available.
    pub deployments: std::collections::BTreeMap<String, Value>,
    /// Async mode: time runs (a timed Argo pause lasts its duration, not one poll).
    pub real_time: bool,
    /// Argo: when the current timed pause started.
    pub pause_started: Option<std::time::Instant>,
    /// Seldon v2 Model: the storageUri of the version loaded and serving (the scheduler keeps
    /// the old version serving while a new one loads).
    pub loaded: Option<String>,
}

/// Admission: `Err` carries `(field, message)` causes for a 422.
pub fn admit(res: &Resource, obj: &Value) -> Result<(), Vec<(String, String)>> {
    match res.plural {
        "seldondeployments" => seldon::admit(obj),
        _ => Ok(()),
    }
}

fn run(state: &mut State, key: &str, f: impl FnOnce(&mut Value, &mut Side, u32)) {
    let Some(mut obj) = state.objects.get(key).cloned() else {
        return;
    };
    let ready_after = state.ready_after;
    let real_time = state.timing.is_some();
    let side = state.side.entry(key.to_string()).or_default();
    side.real_time = real_time;
    f(&mut obj, side, ready_after);
    if state.objects.get(key) != Some(&obj) {
        state.rv += 1;
        obj["metadata"]["resourceVersion"] = Value::String(state.rv.to_string());
        state.objects.insert(key.to_string(), obj);
    }
}

/// How often async controllers run (and the unit of a model's load time).
pub const TICK: std::time::Duration = std::time::Duration::from_millis(20);

/// Async controllers: how late they react to a write, how long a model version takes to load.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub lag: std::time::Duration,
    pub load: std::time::Duration,
}

/// The controller thread of async mode: every tick, each object whose last write is at least
/// `lag` old is reconciled for its writes (one reconcile for all writes in the window, as a
/// work queue coalesces events), and every other object is polled (requeue, load progress).
pub fn run_async(state: &std::sync::Mutex<State>, stop: &std::sync::atomic::AtomicBool) {
    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
        std::thread::sleep(TICK);
        let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
        let Some(t) = st.timing else { continue };
        let now = std::time::Instant::now();
        let keys: Vec<String> = st.objects.keys().cloned().collect();
        for k in keys {
            let Some(target) = super::store::parse_target(&k) else {
                continue;
            };
            match st.unseen.get(&k).cloned() {
                Some((old, at)) if now.duration_since(at) >= t.lag => {
                    st.unseen.remove(&k);
                    on_write(&mut st, &k, target.res, old.as_ref());
                }
                Some(_) => {}
                None => on_poll(&mut st, &k, target.res),
            }
        }
        let st = &mut *st;
        st.unseen.retain(|k, _| st.objects.contains_key(k));
    }
}

/// After a stored write; `old` is the previous object (`None` on create). In async mode the
/// write is only noted: the controller thread reconciles it `lag` later.
pub fn after_write(state: &mut State, key: &str, res: &Resource, old: Option<&Value>) {
    if state.timing.is_some() {
        let first_old = match state.unseen.get(key) {
            Some((o, _)) => o.clone(),
            None => old.cloned(),
        };
        state
            .unseen
            .insert(key.to_string(), (first_old, std::time::Instant::now()));
        return;
    }
    on_write(state, key, res, old);
}

/// On a GET: a poll in request mode; nothing in async mode (the thread polls).
pub fn on_get(state: &mut State, key: &str, res: &Resource) {
    if state.timing.is_none() {
        on_poll(state, key, res);
    }
}

/// Reconcile after a write; `old` is the previous object (`None` on create).
pub fn on_write(state: &mut State, key: &str, res: &Resource, old: Option<&Value>) {
    let old = old.cloned();
    run(state, key, |obj, side, k| match res.plural {
        "inferenceservices" => kserve::on_write(obj, old.as_ref(), side, k),
        "seldondeployments" => seldon::on_write(obj, old.as_ref(), side, k),
        "experiments" | "models" => seldon_v2::on_write(obj, old.as_ref(), side, k),
        "rollouts" => argo::on_write(obj, old.as_ref(), side),
        _ => {}
    });
}

/// On every GET of the object (and on `tick`).
pub fn on_poll(state: &mut State, key: &str, res: &Resource) {
    run(state, key, |obj, side, _| match res.plural {
        "inferenceservices" => kserve::on_poll(obj, side),
        "seldondeployments" => seldon::on_poll(obj, side),
        "experiments" | "models" => seldon_v2::on_poll(obj, side),
        "rollouts" => argo::on_poll(obj, side),
        _ => {}
    });
}

/// Counts a poll against a pending change; true once it is due (also for `ready_after = 0`).
pub fn count_down(side: &mut Side) -> bool {
    if let Some(n) = side.polls_left {
        side.polls_left = Some(n.saturating_sub(1));
    }
    side.polls_left == Some(0)
}

pub fn generation(obj: &Value) -> i64 {
    obj["metadata"]["generation"].as_i64().unwrap_or(1)
}

/// True when the spec changed (generation moved) or the object is new.
pub fn spec_changed(obj: &Value, old: Option<&Value>) -> bool {
    old.is_none_or(|o| generation(o) != generation(obj))
}

pub fn condition(kind: &str, status: &str, reason: &str, message: &str) -> Value {
    serde_json::json!({
        "type": kind, "status": status, "reason": reason, "message": message,
        "lastTransitionTime": "2026-01-01T00:00:00Z"
    })
}

/// Makes `obj.status` an object and returns it.
pub fn status_mut(obj: &mut Value) -> &mut serde_json::Map<String, Value> {
    if !obj.get("status").is_some_and(Value::is_object) {
        obj["status"] = Value::Object(serde_json::Map::new());
    }
    obj["status"].as_object_mut().expect("status is an object")
}
