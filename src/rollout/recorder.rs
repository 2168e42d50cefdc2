//! A Kubernetes API that changes nothing: it keeps objects in memory, applies patches to them so
//! later reads stay consistent, and records every request. `run --dry-run` drives the real
//! platform code over it and prints the log: exactly what a live run would send (the request
//! line comes from the client's own builder, and objects carry a `resourceVersion` that every
//! stored write moves, as on an API server, so the write preconditions show too).
//!
//! So that the requests shown are those a live run sends at each step, the recorder also plays
//! the controllers whose status the drivers decide from, minimally and at once: `generation`
//! moves on spec changes, an Argo Rollout walks its canary steps to the next pause
//! (`pauseConditions` + `controllerPause`, a cleared pause completes its step, `promoteFull`
//! and `abort` end the update), and a Seldon v2 Model or Experiment is Ready for the generation
//! just written. Without it the live code would wait for a pause or a Ready that never comes,
//! and the dry run would not list the pause releases and the Experiment's removal.

use crate::platform::k8s::{patch_request, KubeApi, PatchKind};
use crate::platform::{ApiRequest, PlatformError};
use serde_json::{json, Value};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

/// Shared request log.
pub type RequestLog = Rc<RefCell<Vec<ApiRequest>>>;

pub struct RecordingKube {
    objects: BTreeMap<String, Value>,
    log: RequestLog,
    field_manager: String,
    /// The last resourceVersion handed out.
    rv: u64,
}

impl RecordingKube {
    pub fn new(field_manager: &str, log: RequestLog) -> RecordingKube {
        RecordingKube {
            objects: BTreeMap::new(),
            log,
            field_manager: field_manager.to_string(),
            rv: 0,
        }
    }
    /// Pretend an object already exists (the stable version a canary needs).
    pub fn seed(&mut self, path: String, obj: Value) {
        self.store(path, obj);
    }
    /// Keep `obj` at `path` with a new resourceVersion (an opaque string, as the API's).
    fn store(&mut self, path: String, mut obj: Value) -> Value {
        let generation = self
            .objects
            .get(&path)
            .map(|old| {
                let g = old["metadata"]["generation"].as_i64().unwrap_or(1);
                g + i64::from(spec_of(old) != spec_of(&obj))
            })
            .unwrap_or(1);
        self.rv += 1;
        if obj.is_object() {
            if !obj["metadata"].is_object() {
                obj["metadata"] = Value::Object(Default::default());
            }
            obj["metadata"]["resourceVersion"] = Value::String(self.rv.to_string());
            obj["metadata"]["generation"] = generation.into();
        }
        self.objects.insert(path, obj.clone());
        obj
    }
}

/// Everything but metadata and status: what moves `generation`.
fn spec_of(obj: &Value) -> Value {
    let mut m = obj.as_object().cloned().unwrap_or_default();
    for k in ["metadata", "status"] {
        m.remove(k);
    }
    Value::Object(m)
}

/// The controller's reaction to a stored write, at once (see the module docs).
fn react(obj: &mut Value) {
    let generation = obj["metadata"]["generation"].as_i64().unwrap_or(1);
    match obj["kind"].as_str() {
        Some("Rollout") => argo_steps(obj, generation),
        Some("Model") | Some("Experiment") => {
            let ready = |t: &str| json!({"type": t, "status": "True"});
            obj["status"] = json!({
                "observedGeneration": generation,
                "conditions": [ready("ModelReady"), ready("Ready")],
            });
        }
        _ => {}
    }
}

/// Argo Rollouts' canary walk (`rollout/canary.go`, `pause.go`), reduced to what the drive-mode
/// driver reads: the step index, the pause state and the end of the update.
fn argo_steps(obj: &mut Value, generation: i64) {
    let steps = obj["spec"]["strategy"]["canary"]["steps"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if !obj["status"].is_object() {
        obj["status"] = json!({});
    }
    let st = &mut obj["status"];
    st["observedGeneration"] = json!(generation.to_string());
    for (k, v) in [
        ("currentPodHash", "<canary-revision>"),
        ("stableRS", "<stable-revision>"),
    ] {
        if !st[k].is_string() {
            st[k] = json!(v);
        }
    }
    if st["abort"] == true {
        st["phase"] = json!("Degraded");
        return;
    }
    let paused = st["pauseConditions"]
        .as_array()
        .is_some_and(|a| !a.is_empty());
    let mut idx = st["currentStepIndex"].as_u64().unwrap_or(0) as usize;
    if st["controllerPause"] == true && !paused {
        idx += 1; // the cleared pause completes its step
        st["controllerPause"] = json!(false);
    }
    if st["promoteFull"] != true {
        while idx < steps.len() {
            if steps[idx].get("pause").is_some() {
                st["currentStepIndex"] = json!(idx);
                if !paused || st["controllerPause"] != true {
                    st["pauseConditions"] = json!([{"reason": "CanaryPauseStep"}]);
                    st["controllerPause"] = json!(true);
                }
                st["phase"] = json!("Paused");
                return;
            }
            idx += 1;
        }
    }
    st["currentStepIndex"] = json!(steps.len());
    st["stableRS"] = st["currentPodHash"].clone();
    st["pauseConditions"] = Value::Null;
    st["controllerPause"] = json!(false);
    st["promoteFull"] = Value::Null;
    st["phase"] = json!("Healthy");
}

impl KubeApi for RecordingKube {
    fn get(&mut self, path: &str) -> Result<Option<Value>, PlatformError> {
        self.log.borrow_mut().push(ApiRequest {
            method: "GET".into(),
            path: path.to_string(),
            content_type: None,
            body: None,
        });
        Ok(self.objects.get(path).cloned())
    }

    fn patch(
        &mut self,
        path: &str,
        kind: &PatchKind,
        body: &Value,
        dry_run: bool,
    ) -> Result<Value, PlatformError> {
        self.log.borrow_mut().push(patch_request(
            path,
            kind,
            body,
            dry_run,
            &self.field_manager,
        ));
        // A `/status` write changes the object itself, as on an API server.
        let object = path.strip_suffix("/status").unwrap_or(path);
        let mut obj = self.objects.get(object).cloned().unwrap_or(Value::Null);
        match kind {
            PatchKind::Json => {
                let p: json_patch::Patch = serde_json::from_value(body.clone())
                    .map_err(|e| PlatformError::Other(format!("invalid JSON patch: {e}")))?;
                json_patch::patch(&mut obj, &p).map_err(|e| PlatformError::Api {
                    request: format!("PATCH {path}"),
                    message: format!("the JSON patch does not apply: {e}"),
                })?;
            }
            PatchKind::Merge | PatchKind::Apply { .. } => json_patch::merge(&mut obj, body),
        }
        if dry_run {
            return Ok(obj);
        }
        let mut stored = self.store(object.to_string(), obj);
        react(&mut stored);
        self.objects.insert(object.to_string(), stored.clone());
        Ok(stored)
    }

    fn delete(&mut self, path: &str) -> Result<(), PlatformError> {
        self.log.borrow_mut().push(ApiRequest {
            method: "DELETE".into(),
            path: path.to_string(),
            content_type: None,
            body: None,
        });
        self.objects.remove(path);
        Ok(())
    }

    fn field_manager(&self) -> &str {
        &self.field_manager
    }
}
