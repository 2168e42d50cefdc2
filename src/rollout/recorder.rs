//! A Kubernetes API that changes nothing: it keeps objects in memory, applies patches to them so
//! later reads stay consistent, and records every request. `run --dry-run` drives the real
//! platform code over it and prints the log: exactly what a live run would send (the request
//! line comes from the client's own builder, and objects carry a `resourceVersion` that every
//! stored write moves, as on an API server, so the write preconditions show too).

use crate::platform::k8s::{patch_request, KubeApi, PatchKind};
use crate::platform::{ApiRequest, PlatformError};
use serde_json::Value;
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
        self.rv += 1;
        if obj.is_object() {
            if !obj["metadata"].is_object() {
                obj["metadata"] = Value::Object(Default::default());
            }
            obj["metadata"]["resourceVersion"] = Value::String(self.rv.to_string());
        }
        self.objects.insert(path, obj.clone());
        obj
    }
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
        Ok(self.store(object.to_string(), obj))
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
