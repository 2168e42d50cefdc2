//! Is an answer the object we asked for, and consistent with what we saw before?
//!
//! A proxy, a misrouted load balancer or a confused server can answer a GET with another object,
//! an empty one, or a stale copy; trusted blindly, such an answer turns a rollback into "nothing to
//! write" while the canary still serves. Every object read back (GET and PATCH answers of a single
//! named object) is checked here once, for every platform:
//! - identity against the request path: `apiVersion`, `kind` (against the path's plural),
//!   `metadata.name`, `metadata.namespace`;
//! - consistency against the last answer for the same object (the [`Ledger`]): the same `uid`
//!   (a changed one is believed only once two answers in a row agree: the object was recreated),
//!   a `generation` that never goes back, and the same spec for the same `resourceVersion` or the
//!   same `generation` (the API server bumps `generation` on every spec change of a custom
//!   resource, so an answer that edits the spec and keeps the metadata is a lie).
//!
//! What cannot be caught: a liar that fabricates a consistent newer object (new generation and
//! resourceVersion). Nothing short of a second channel could tell.

use super::path::parse_path;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Mutex;

/// Checks that `obj` is the object `path` names. Paths that are not a single named object
/// (collections, discovery) are not checked.
pub fn check_identity(path: &str, obj: &Value) -> Result<(), String> {
    let Some(info) = parse_path(path) else {
        return Ok(());
    };
    let Some(name) = &info.name else {
        return Ok(());
    };
    let api_version = match info.group.is_empty() {
        true => info.version.clone(),
        false => format!("{}/{}", info.group, info.version),
    };
    let got = |p: &str| obj.pointer(p).and_then(Value::as_str).unwrap_or("");
    let mut wrong = Vec::new();
    if got("/apiVersion") != api_version {
        wrong.push(format!(
            "apiVersion {:?} (asked {api_version:?})",
            got("/apiVersion")
        ));
    }
    if !kind_fits(got("/kind"), &info.plural) {
        wrong.push(format!("kind {:?} (asked {:?})", got("/kind"), info.plural));
    }
    if got("/metadata/name") != name {
        wrong.push(format!("name {:?} (asked {name:?})", got("/metadata/name")));
    }
    if let Some(ns) = &info.namespace {
        if got("/metadata/namespace") != ns {
            wrong.push(format!(
                "namespace {:?} (asked {ns:?})",
                got("/metadata/namespace")
            ));
        }
    }
    match wrong.is_empty() {
        true => Ok(()),
        false => Err(format!(
            "the answer is not the object asked for: {}",
            wrong.join(", ")
        )),
    }
}

/// `InferenceService` fits `inferenceservices`; English plurals as the API uses them
/// (`-s`, `-es`, `-y` -> `-ies`).
fn kind_fits(kind: &str, plural: &str) -> bool {
    let k = kind.to_ascii_lowercase();
    if k.is_empty() {
        return false;
    }
    plural == k
        || plural == format!("{k}s")
        || plural == format!("{k}es")
        || k.strip_suffix('y')
            .is_some_and(|stem| plural == format!("{stem}ies"))
}

/// What was last seen of one object.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    uid: String,
    resource_version: String,
    generation: Option<i64>,
    spec: String,
}

fn seen_of(obj: &Value) -> Seen {
    let meta = |k: &str| {
        obj.pointer(&format!("/metadata/{k}"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let mut spec = obj.clone();
    if let Some(m) = spec.as_object_mut() {
        for k in ["metadata", "status", "apiVersion", "kind"] {
            m.remove(k);
        }
    }
    Seen {
        uid: meta("uid"),
        resource_version: meta("resourceVersion"),
        generation: obj.pointer("/metadata/generation").and_then(Value::as_i64),
        spec: spec.to_string(),
    }
}

/// The last consistent answer per object path (the client's memory of each object).
#[derive(Debug, Default)]
pub struct Ledger {
    seen: Mutex<HashMap<String, Seen>>,
}

/// The object a path addresses (query and subresource dropped), or `None` for other paths.
fn object_key(path: &str) -> Option<String> {
    let info = parse_path(path)?;
    let name = info.name?;
    Some(format!(
        "{}/{}/{}/{}/{name}",
        info.group,
        info.version,
        info.namespace.unwrap_or_default(),
        info.plural
    ))
}

impl Ledger {
    /// Checks identity and consistency of an answer for `path` and remembers it when it holds.
    pub fn observe(&self, path: &str, obj: &Value) -> Result<(), String> {
        check_identity(path, obj)?;
        let Some(key) = object_key(path) else {
            return Ok(());
        };
        let now = seen_of(obj);
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let Some(before) = seen.get(&key) else {
            seen.insert(key, now);
            return Ok(());
        };
        if !before.uid.is_empty() && !now.uid.is_empty() && before.uid != now.uid {
            let msg = format!(
                "the answer has uid {} where the object had uid {}: another object, or it was recreated (believed once confirmed)",
                now.uid, before.uid
            );
            seen.insert(key, now);
            return Err(msg);
        }
        if let (Some(b), Some(n)) = (before.generation, now.generation) {
            if n < b {
                return Err(format!("stale answer: generation {n}, already saw {b}"));
            }
            if n == b && before.spec != now.spec {
                return Err(format!(
                    "inconsistent answer: the spec differs from what generation {n} held"
                ));
            }
        }
        if !now.resource_version.is_empty()
            && now.resource_version == before.resource_version
            && before.spec != now.spec
        {
            return Err(format!(
                "inconsistent answer: the spec differs from what resourceVersion {} held",
                now.resource_version
            ));
        }
        seen.insert(key, now);
        Ok(())
    }

    /// Forgets an object (after it was deleted).
    pub fn forget(&self, path: &str) {
        if let Some(key) = object_key(path) {
            self.seen
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const P: &str = "/apis/serving.kserve.io/v1beta1/namespaces/ml/inferenceservices/fd";

    fn isvc(name: &str, uid: &str, rv: &str, generation: i64, pct: u32) -> Value {
        json!({"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
            "metadata": {"name": name, "namespace": "ml", "uid": uid, "resourceVersion": rv, "generation": generation},
            "spec": {"predictor": {"canaryTrafficPercent": pct}}, "status": {"x": rv}})
    }

    #[test]
    fn identity_is_checked_against_the_path() {
        assert!(check_identity(P, &isvc("fd", "u", "1", 1, 10)).is_ok());
        assert!(check_identity(&format!("{P}/status?x=1"), &isvc("fd", "u", "1", 1, 10)).is_ok());
        let e = check_identity(P, &isvc("other", "u", "1", 1, 10)).unwrap_err();
        assert!(e.contains("name \"other\""), "{e}");
        let e = check_identity(P, &json!({})).unwrap_err();
        assert!(
            e.contains("apiVersion") && e.contains("kind") && e.contains("namespace"),
            "{e}"
        );
        let mut svc = isvc("fd", "u", "1", 1, 10);
        svc["kind"] = json!("Service");
        assert!(check_identity(P, &svc).is_err());
        // Collections and discovery are not single objects.
        assert!(check_identity("/apis/serving.kserve.io/v1beta1", &json!({})).is_ok());
        assert!(check_identity(
            "/apis/serving.kserve.io/v1beta1/namespaces/ml/inferenceservices",
            &json!({})
        )
        .is_ok());
    }

    #[test]
    fn plurals_fit_their_kinds() {
        for (k, p) in [
            ("InferenceService", "inferenceservices"),
            ("Ingress", "ingresses"),
            ("NetworkPolicy", "networkpolicies"),
            ("Rollout", "rollouts"),
            ("Experiment", "experiments"),
        ] {
            assert!(kind_fits(k, p), "{k} {p}");
        }
        assert!(!kind_fits("Rollout", "experiments"));
        assert!(!kind_fits("", "rollouts"));
    }

    #[test]
    fn a_changed_spec_under_the_same_generation_or_version_is_refused() {
        let l = Ledger::default();
        l.observe(P, &isvc("fd", "u1", "5", 2, 10)).unwrap();
        // Status-only change: new resourceVersion, same generation and spec.
        l.observe(P, &isvc("fd", "u1", "6", 2, 10)).unwrap();
        // A stale or edited copy claiming 0% at the same generation.
        assert!(l.observe(P, &isvc("fd", "u1", "7", 2, 0)).is_err());
        assert!(l.observe(P, &isvc("fd", "u1", "6", 3, 0)).is_err());
        // Going back in generation.
        assert!(l.observe(P, &isvc("fd", "u1", "4", 1, 10)).is_err());
        // A real spec change.
        l.observe(P, &isvc("fd", "u1", "8", 3, 0)).unwrap();
    }

    #[test]
    fn a_new_uid_is_believed_once_confirmed() {
        let l = Ledger::default();
        l.observe(P, &isvc("fd", "u1", "5", 2, 10)).unwrap();
        assert!(l.observe(P, &isvc("fd", "u2", "9", 1, 0)).is_err());
        l.observe(P, &isvc("fd", "u2", "9", 1, 0)).unwrap();
        l.forget(P);
        l.observe(P, &isvc("fd", "u3", "1", 1, 0)).unwrap();
    }
}
