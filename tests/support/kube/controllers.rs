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
    /// Seldon v1: how the operator routes between predictors (its environment).
    pub routing: super::seldon::Routing,
    /// `Some`: the routing objects the controller wants now (Seldon v1's VirtualService or
    /// Ambassador Mappings, each with an ownerReference to the parent): [`run`] creates or
    /// updates them and deletes the parent's other ones.
    pub children: Option<Vec<Value>>,
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
    let routing = state.seldon_routing;
    let side = state.side.entry(key.to_string()).or_default();
    side.real_time = real_time;
    side.routing = routing;
    f(&mut obj, side, ready_after);
    let children = side.children.take();
    if state.objects.get(key) != Some(&obj) {
        state.rv += 1;
        obj["metadata"]["resourceVersion"] = Value::String(state.rv.to_string());
        state.objects.insert(key.to_string(), obj);
    }
    if let Some(children) = children {
        sync_children(state, key, children);
    }
}

fn child_key(child: &Value) -> Option<String> {
    let (api, kind) = (child["apiVersion"].as_str(), child["kind"].as_str());
    let res = super::resources::RESOURCES.iter().find(|r| {
        Some(r.kind) == kind && api == Some(format!("{}/{}", r.group, r.version).as_str())
    })?;
    Some(format!(
        "/apis/{}/{}/namespaces/{}/{}/{}",
        res.group,
        res.version,
        child["metadata"]["namespace"].as_str().unwrap_or(""),
        res.plural,
        child["metadata"]["name"].as_str().unwrap_or("")
    ))
}

/// Creates or updates (spec) the routing objects of the parent at `key` and deletes its other
/// ones (the operator's `cleanUnusedVirtualServices` / `cleanUnusedAmbassadorMappings`).
fn sync_children(state: &mut State, key: &str, children: Vec<Value>) {
    let Some(parent) = state.objects.get(key) else {
        return;
    };
    let owner = serde_json::json!({
        "apiVersion": parent["apiVersion"], "kind": parent["kind"],
        "name": parent["metadata"]["name"], "uid": parent["metadata"]["uid"], "controller": true
    });
    let ns = format!(
        "/namespaces/{}/",
        parent["metadata"]["namespace"].as_str().unwrap_or("")
    );
    let owned = |o: &Value| {
        o["metadata"]["ownerReferences"]
            .as_array()
            .is_some_and(|refs| {
                refs.iter()
                    .any(|r| r["kind"] == owner["kind"] && r["name"] == owner["name"])
            })
    };
    let mut wanted = Vec::new();
    for mut child in children {
        let Some(k) = child_key(&child) else { continue };
        wanted.push(k.clone());
        let old = state.objects.get(&k);
        if old.is_some_and(|o| o["spec"] == child["spec"]) {
            continue;
        }
        let generation = old.map_or(1, |o| generation(o) + 1);
        state.rv += 1;
        child["metadata"]["resourceVersion"] = Value::String(state.rv.to_string());
        child["metadata"]["generation"] = generation.into();
        child["metadata"]["ownerReferences"] = serde_json::json!([owner.clone()]);
        state.objects.insert(k, child);
    }
    state.objects.retain(|k, o| {
        wanted.contains(k)
            || !k.contains(&ns)
            || !owned(o)
            || !matches!(o["kind"].as_str(), Some("VirtualService" | "Mapping"))
    });
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
