//! Object storage and the API verbs over it: GET (object or list), POST create, PUT, PATCH (JSON
//! patch, merge patch, server-side apply), DELETE, the `/status` subresource and `dryRun=All`.
//! Semantics kept from the real API server: `resourceVersion` bumps on every write and is a
//! precondition when a write carries one; `generation` bumps only on spec changes; writes to the
//! main resource ignore `status` and writes to `/status` change only `status`.

use super::controllers;
use super::resources::{self, Resource};
use super::status::{self, Reply};
use super::{Request, State};
use serde_json::{json, Map, Value};

/// What a resource path addresses.
pub struct Target {
    pub res: &'static Resource,
    pub namespace: String,
    pub name: Option<String>,
    pub status: bool,
    /// Storage key: the object's path without `/status`.
    pub key: String,
}

pub fn parse_target(path: &str) -> Option<Target> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (g, v, ns, plural, name, sub) = match parts.as_slice() {
        ["apis", g, v, "namespaces", ns, plural] => (*g, *v, *ns, *plural, None, None),
        ["apis", g, v, "namespaces", ns, plural, name] => (*g, *v, *ns, *plural, Some(*name), None),
        ["apis", g, v, "namespaces", ns, plural, name, sub] => {
            (*g, *v, *ns, *plural, Some(*name), Some(*sub))
        }
        _ => return None,
    };
    if sub.is_some_and(|s| s != "status") {
        return None;
    }
    let res = resources::find(g, v, plural)?;
    let base = format!("/apis/{g}/{v}/namespaces/{ns}/{plural}");
    Some(Target {
        res,
        namespace: ns.to_string(),
        name: name.map(str::to_string),
        status: sub.is_some(),
        key: name.map(|n| format!("{base}/{n}")).unwrap_or(base),
    })
}

pub fn verb(method: &str, named: bool) -> &'static str {
    match (method, named) {
        ("GET", true) => "get",
        ("GET", false) => "list",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", _) => "delete",
        _ => "unknown",
    }
}

/// Everything except metadata and status: what bumps `generation`.
fn spec_part(obj: &Value) -> Value {
    let mut m = obj.as_object().cloned().unwrap_or_default();
    for k in ["metadata", "status", "apiVersion", "kind"] {
        m.remove(k);
    }
    Value::Object(m)
}

fn meta(obj: &Value, key: &str) -> Option<Value> {
    obj.get("metadata").and_then(|m| m.get(key)).cloned()
}

/// Strict field validation, top level only (we have no schemas): unknown top-level fields fail.
fn strict_check(obj: &Value) -> Result<(), Reply> {
    if let Some(m) = obj.as_object() {
        for k in m.keys() {
            if !["apiVersion", "kind", "metadata", "spec", "status"].contains(&k.as_str()) {
                return Err(status::bad_request(&format!(
                    "strict decoding error: unknown field \"{k}\""
                )));
            }
        }
    }
    Ok(())
}

fn record_manager(obj: &mut Value, manager: &str, operation: &str, sub: bool, api_version: &str) {
    let entry = json!({
        "manager": manager, "operation": operation, "apiVersion": api_version,
        "time": "2026-01-01T00:00:00Z", "fieldsType": "FieldsV1",
        "subresource": if sub { "status" } else { "" }
    });
    let mf = obj["metadata"]
        .as_object_mut()
        .map(|m| m.entry("managedFields").or_insert_with(|| json!([])));
    if let Some(Value::Array(list)) = mf {
        list.retain(|e| !(e["manager"] == manager && e["operation"] == operation));
        list.push(entry);
    }
}

pub fn handle(state: &mut State, req: &Request, t: &Target) -> Reply {
    let dry_run = req.param("dryRun") == Some("All");
    match (req.method.as_str(), &t.name) {
        ("GET", None) => list(state, t),
        ("GET", Some(_)) => {
            controllers::on_get(state, &t.key, t.res);
            match state.objects.get(&t.key) {
                Some(o) => Reply::ok(o.clone()),
                None => not_found(t),
            }
        }
        ("POST", None) => create(state, req, t, dry_run),
        ("PUT", Some(_)) => put(state, req, t, dry_run),
        ("PATCH", Some(_)) => patch(state, req, t, dry_run),
        ("DELETE", Some(_)) => match state.objects.get(&t.key).cloned() {
            Some(o) if dry_run => Reply::ok(o),
            Some(o) => {
                state.objects.remove(&t.key);
                state.side.remove(&t.key);
                Reply::ok(o)
            }
            None => not_found(t),
        },
        _ => status::failure(
            405,
            "MethodNotAllowed",
            &format!(
                "the server does not allow this method on the requested resource ({})",
                req.method
            ),
            None,
        ),
    }
}

fn not_found(t: &Target) -> Reply {
    status::not_found(t.res.group, t.res.plural, t.name.as_deref().unwrap_or(""))
}

fn list(state: &State, t: &Target) -> Reply {
    let prefix = format!("{}/", t.key);
    let items: Vec<Value> = state
        .objects
        .iter()
        .filter(|(k, _)| k.starts_with(&prefix) && !k[prefix.len()..].contains('/'))
        .map(|(_, v)| v.clone())
        .collect();
    Reply::ok(json!({
        "apiVersion": format!("{}/{}", t.res.group, t.res.version),
        "kind": format!("{}List", t.res.kind),
        "metadata": {"resourceVersion": state.rv.to_string()},
        "items": items
    }))
}

fn parse_body(req: &Request) -> Result<Value, Reply> {
    let parsed = if req.content_type.starts_with("application/apply-patch+yaml") {
        yaml_serde::from_str::<Value>(&req.body).map_err(|e| e.to_string())
    } else {
        serde_json::from_str::<Value>(&req.body).map_err(|e| e.to_string())
    };
    parsed.map_err(|e| status::bad_request(&format!("the request body could not be decoded: {e}")))
}

fn create(state: &mut State, req: &Request, t: &Target, dry_run: bool) -> Reply {
    let mut obj = match parse_body(req) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let Some(name) = meta(&obj, "name").and_then(|n| n.as_str().map(str::to_string)) else {
        return status::invalid(
            t.res.group,
            t.res.kind,
            t.res.plural,
            "",
            &[(
                "metadata.name".into(),
                "name or generateName is required".into(),
            )],
        );
    };
    let key = format!("{}/{name}", t.key);
    if state.objects.contains_key(&key) {
        return status::already_exists(t.res.group, t.res.plural, &name);
    }
    if let Err(r) = admit_new(state, t, &name, &mut obj, req) {
        return r;
    }
    obj["metadata"]["generation"] = json!(1);
    obj.as_object_mut().map(|m| m.remove("status"));
    commit(state, key, t.res, None, obj, dry_run, Reply::created)
}

fn put(state: &mut State, req: &Request, t: &Target, dry_run: bool) -> Reply {
    let Some(old) = state.objects.get(&t.key).cloned() else {
        return not_found(t);
    };
    let mut obj = match parse_body(req) {
        Ok(o) => o,
        Err(r) => return r,
    };
    if let Some(rv) = meta(&obj, "resourceVersion") {
        if Some(&rv) != old["metadata"].get("resourceVersion") {
            return status::conflict(t.res.group, t.res.plural, t.name.as_deref().unwrap_or(""));
        }
    }
    if t.status {
        let mut merged = old.clone();
        merged["status"] = obj.get("status").cloned().unwrap_or(Value::Null);
        obj = merged;
    } else {
        obj["status"] = old.get("status").cloned().unwrap_or(Value::Null);
    }
    finish_update(state, req, t, old, obj, "Update", dry_run)
}

fn patch(state: &mut State, req: &Request, t: &Target, dry_run: bool) -> Reply {
    let ct = req.content_type.split(';').next().unwrap_or("").trim();
    let name = t.name.clone().unwrap_or_default();
    let body = match ct {
        "application/json-patch+json"
        | "application/merge-patch+json"
        | "application/apply-patch+yaml" => match parse_body(req) {
            Ok(b) => b,
            Err(r) => return r,
        },
        other => return status::unsupported_media_type(other),
    };
    let existing = state.objects.get(&t.key).cloned();
    let is_apply = ct == "application/apply-patch+yaml";
    if is_apply && req.param("fieldManager").is_none_or(str::is_empty) {
        return status::bad_request("PATCH, fieldManager is required for apply requests");
    }
    let Some(old) = existing else {
        if is_apply && !t.status {
            // Server-side apply creates what does not exist.
            let mut obj = body;
            if let Err(r) = admit_new(state, t, &name, &mut obj, req) {
                return r;
            }
            obj["metadata"]["generation"] = json!(1);
            obj.as_object_mut().map(|m| m.remove("status"));
            record_manager(
                &mut obj,
                req.param("fieldManager").unwrap_or(""),
                "Apply",
                false,
                &api_version(t.res),
            );
            return commit(
                state,
                t.key.clone(),
                t.res,
                None,
                obj,
                dry_run,
                Reply::created,
            );
        }
        return not_found(t);
    };
    let mut new = old.clone();
    match ct {
        "application/json-patch+json" => {
            let ops: json_patch::Patch = match serde_json::from_value(body) {
                Ok(p) => p,
                Err(e) => {
                    return status::bad_request(&format!(
                        "the request body could not be decoded as a JSON patch: {e}"
                    ))
                }
            };
            if let Err(e) = json_patch::patch(&mut new, &ops) {
                return status::failure(
                    422,
                    "Invalid",
                    &format!("the server rejected our request due to an error in our request: {e}"),
                    None,
                );
            }
        }
        _ => {
            if let Some(rv) = meta(&body, "resourceVersion") {
                if Some(&rv) != old["metadata"].get("resourceVersion") {
                    return status::conflict(t.res.group, t.res.plural, &name);
                }
            }
            if is_apply && (body.get("apiVersion").is_none() || body.get("kind").is_none()) {
                return status::bad_request("apiVersion and kind must be set in an apply request");
            }
            json_patch::merge(&mut new, &body);
        }
    }
    if new["metadata"].get("resourceVersion") != old["metadata"].get("resourceVersion") {
        return status::conflict(t.res.group, t.res.plural, &name);
    }
    // The main resource ignores status; /status ignores everything else.
    if t.status {
        let status_part = new.get("status").cloned().unwrap_or(Value::Null);
        new = old.clone();
        new["status"] = status_part;
    } else {
        new["status"] = old.get("status").cloned().unwrap_or(Value::Null);
    }
    if new["status"].is_null() {
        new.as_object_mut().map(|m| m.remove("status"));
    }
    finish_update(
        state,
        req,
        t,
        old,
        new,
        if is_apply { "Apply" } else { "Update" },
        dry_run,
    )
}

fn api_version(r: &Resource) -> String {
    format!("{}/{}", r.group, r.version)
}

/// Fills server-owned metadata on a new object and runs admission.
fn admit_new(
    state: &mut State,
    t: &Target,
    name: &str,
    obj: &mut Value,
    req: &Request,
) -> Result<(), Reply> {
    if !obj.is_object() {
        return Err(status::bad_request("the request body must be an object"));
    }
    if req.param("fieldValidation") == Some("Strict") {
        strict_check(obj)?;
    }
    obj["apiVersion"] = json!(api_version(t.res));
    obj["kind"] = json!(t.res.kind);
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = json!({});
    }
    let m = &mut obj["metadata"];
    m["name"] = json!(name);
    m["namespace"] = json!(t.namespace);
    state.uid += 1;
    m["uid"] = json!(format!("00000000-0000-4000-8000-{:012}", state.uid));
    m["creationTimestamp"] = json!("2026-01-01T00:00:00Z");
    controllers::admit(t.res, obj)
        .map_err(|causes| status::invalid(t.res.group, t.res.kind, t.res.plural, name, &causes))
}

fn finish_update(
    state: &mut State,
    req: &Request,
    t: &Target,
    old: Value,
    mut new: Value,
    op: &str,
    dry_run: bool,
) -> Reply {
    if req.param("fieldValidation") == Some("Strict") {
        if let Err(r) = strict_check(&new) {
            return r;
        }
    }
    if let Err(causes) = controllers::admit(t.res, &new) {
        return status::invalid(
            t.res.group,
            t.res.kind,
            t.res.plural,
            t.name.as_deref().unwrap_or(""),
            &causes,
        );
    }
    if spec_part(&new) != spec_part(&old) {
        let g = old["metadata"]["generation"].as_i64().unwrap_or(1);
        new["metadata"]["generation"] = json!(g + 1);
    }
    if let Some(m) = req.param("fieldManager") {
        record_manager(&mut new, m, op, t.status, &api_version(t.res));
    }
    commit(
        state,
        t.key.clone(),
        t.res,
        Some(old),
        new,
        dry_run,
        Reply::ok,
    )
}

/// Bumps resourceVersion, stores (unless dry run), runs the controller, answers.
fn commit(
    state: &mut State,
    key: String,
    res: &'static Resource,
    old: Option<Value>,
    mut obj: Value,
    dry_run: bool,
    reply: fn(Value) -> Reply,
) -> Reply {
    if dry_run {
        return reply(obj);
    }
    state.rv += 1;
    obj["metadata"]["resourceVersion"] = json!(state.rv.to_string());
    state.objects.insert(key.clone(), obj);
    controllers::after_write(state, &key, res, old.as_ref());
    reply(state.objects[&key].clone())
}

/// Used by `KubeServer::insert`: stores an object as if created, without admission.
pub fn seed(state: &mut State, path: &str, mut obj: Value) {
    let t = parse_target(path).expect("a namespaced custom resource path");
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = Value::Object(Map::new());
    }
    obj["apiVersion"] = json!(api_version(t.res));
    obj["kind"] = json!(t.res.kind);
    obj["metadata"]["name"] = json!(t.name.clone().unwrap_or_default());
    obj["metadata"]["namespace"] = json!(t.namespace);
    if obj["metadata"].get("generation").is_none() {
        // Replacing a stored object is a write: a changed spec bumps generation, as the API
        // server does (clients may rely on "same generation, same spec").
        let generation = match state.objects.get(&t.key) {
            Some(old) => {
                let g = old["metadata"]["generation"].as_i64().unwrap_or(1);
                g + i64::from(spec_part(old) != spec_part(&obj))
            }
            None => 1,
        };
        obj["metadata"]["generation"] = json!(generation);
    }
    state.rv += 1;
    obj["metadata"]["resourceVersion"] = json!(state.rv.to_string());
    let has_status = obj.get("status").is_some();
    state.objects.insert(t.key.clone(), obj);
    // A seeded status is taken as given; otherwise the controller initialises it.
    if !has_status {
        controllers::on_write(state, &t.key, t.res, None);
    }
}
