//! Azure Resource Manager for Microsoft.MachineLearningServices online endpoints and deployments,
//! api-version 2025-12-01, as the real service behaves for what mlcanary uses:
//! - bearer tokens checked (scope, expiry) -> 401 `ExpiredAuthenticationToken` / `InvalidAuthenticationToken`;
//! - endpoint PUT validates `traffic` (sums to 100, names existing deployments) and `mirrorTraffic`
//!   (at most 50), honours `If-Match` (412 `PreconditionFailed`), answers 200/201 with
//!   `Azure-AsyncOperation` + `Retry-After`;
//! - endpoint PATCH takes only `tags` (replacing the map) and `identity`: 202 with `Location`;
//! - deployment PUT walks provisioningState Creating/Updating -> Succeeded, or Failed when its
//!   model contains "broken"; DELETE answers 202 with `Location`; a deployment with traffic cannot
//!   be deleted;
//! - errors are `{"error":{"code","message"}}`; injected 429s carry `Retry-After`;
//! - every PUT/PATCH body is checked against the REST definitions of api-version 2025-12-01
//!   ([`super::spec`]): unknown or read-only properties and missing required ones get a 400.

use super::http::{Req, Resp};
use super::{Action, Lro, Op, World};
use serde_json::{json, Value};
use std::time::Instant;

pub const API_VERSION: &str = "2025-12-01";

pub fn arm_error(status: u16, code: &str, message: &str) -> Resp {
    Resp::json(status, json!({"error": {"code": code, "message": message}}))
}

/// 401 unless the bearer token was issued for `scope` and has not expired.
pub fn check_token(w: &World, req: &Req, scope: &str) -> Option<Resp> {
    let unauthorized = |code: &str, msg: &str| {
        Some(arm_error(401, code, msg).with(
            "WWW-Authenticate",
            "Bearer authorization_uri=\"https://login.microsoftonline.com/tenant\", error=\"invalid_token\"",
        ))
    };
    let Some(token) = req
        .header("authorization")
        .and_then(|h| h.strip_prefix("Bearer "))
    else {
        return unauthorized(
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is missing.",
        );
    };
    match w.tokens.iter().find(|t| t.token == token) {
        None => unauthorized("InvalidAuthenticationToken", "The access token is invalid."),
        Some(t) if t.scope != scope => unauthorized(
            "InvalidAuthenticationTokenAudience",
            "The access token has been obtained for wrong audience or resource.",
        ),
        Some(t) if t.expires <= Instant::now() => unauthorized(
            "ExpiredAuthenticationToken",
            "The access token expiry UTC time is earlier than current UTC time.",
        ),
        Some(_) => None,
    }
}

fn new_op(
    w: &mut World,
    polls: u32,
    outcome: Result<(), (String, String, String)>,
    action: Action,
) -> String {
    w.serial += 1;
    let id = format!("op-{}", w.serial);
    let not_before = Instant::now() + w.op_min_duration;
    w.ops.insert(
        id.clone(),
        Op {
            polls_left: polls,
            outcome,
            action,
            done: false,
            not_before,
        },
    );
    id
}

fn op_status_url(w: &World, id: &str) -> String {
    format!("{}/subscriptions/{}/providers/Microsoft.MachineLearningServices/locations/westeurope/mfeOperationsStatus/{id}?api-version={API_VERSION}", w.arm_base, w.subscription)
}

fn op_result_url(w: &World, id: &str) -> String {
    format!("{}/subscriptions/{}/providers/Microsoft.MachineLearningServices/locations/westeurope/mfeOperationResults/{id}?api-version={API_VERSION}", w.arm_base, w.subscription)
}

/// Advance an operation by one observation; apply its effect when it ends.
fn advance(w: &mut World, id: &str) {
    let Some(op) = w.ops.get_mut(id) else { return };
    if op.done || Instant::now() < op.not_before {
        return;
    }
    if op.polls_left > 0 {
        op.polls_left -= 1;
        return;
    }
    op.done = true;
    let (action, outcome) = (op.action.clone(), op.outcome.clone());
    match action {
        Action::Provisioned(path) => {
            let state = match &outcome {
                Ok(()) => "Succeeded".to_string(),
                Err((status, _, _)) => status.clone(),
            };
            if let Some(ep) = w.endpoints.get_mut(&path) {
                // The split takes effect when the operation succeeds. What a failed update
                // leaves in the body is not documented; the fake shows the split still served.
                match &outcome {
                    Ok(()) => {
                        let t = ep["properties"]["traffic"].clone();
                        w.serving.insert(path.clone(), t);
                    }
                    Err(_) => {
                        ep["properties"]["traffic"] =
                            w.serving.get(&path).cloned().unwrap_or(json!({}));
                    }
                }
            }
            if let Some(r) = w.endpoints.get_mut(&path).or(w.deployments.get_mut(&path)) {
                r["properties"]["provisioningState"] = json!(state);
                if let Err((_, code, message)) = &outcome {
                    r["properties"]["error"] = json!({"code": code, "message": message});
                }
            }
        }
        Action::Delete(path) => {
            w.deployments.remove(&path);
        }
    }
}

fn advance_for(w: &mut World, path: &str) {
    let ids: Vec<String> = w
        .ops
        .iter()
        .filter(|(_, o)| !o.done && o.action.path() == path)
        .map(|(k, _)| k.clone())
        .collect();
    for id in ids {
        advance(w, &id);
    }
}

/// `Retry-After` as the world says.
fn retry_after(w: &World, r: Resp) -> Resp {
    match w.retry_after {
        Some(secs) => r.with("Retry-After", &secs.to_string()),
        None => r,
    }
}

/// The answer to a write that started operation `id`, in the world's [`Lro`] style. `status`
/// is 200/201 for a PUT (updated/created), 202 for PATCH/DELETE.
fn accepted(w: &World, status: u16, body: Value, id: &str) -> Resp {
    let r = Resp::json(status, body);
    let r = match w.lro {
        Lro::AsyncOperation if status != 202 => {
            r.with("Azure-AsyncOperation", &op_status_url(w, id))
        }
        Lro::AsyncOperation | Lro::Location => r.with("Location", &op_result_url(w, id)),
        Lro::NoHeader => r,
    };
    retry_after(w, r)
}

/// An unfinished operation on `path` (409 for writes while it runs).
fn busy(w: &World, path: &str) -> bool {
    w.conflict_while_busy && w.ops.values().any(|o| !o.done && o.action.path() == path)
}

/// Status and message the service gives to a write while an operation runs. The exact text is
/// not documented; ARM's RPC says 409 Conflict with an `{"error":{...}}` body.
fn conflict() -> Resp {
    arm_error(
        409,
        "Conflict",
        "There is an operation in progress for this resource; retry when it has finished.",
    )
}

pub fn handle(w: &mut World, req: &Req) -> Resp {
    w.client_request_ids.push(
        req.header("x-ms-client-request-id")
            .unwrap_or_default()
            .to_string(),
    );
    if let Some(r) = check_token(w, req, &w.arm_scope.clone()) {
        return r;
    }
    if w.throttles_to_inject > 0 {
        w.throttles_to_inject -= 1;
        return arm_error(429, "TooManyRequests", "The request is being throttled.")
            .with("Retry-After", "2");
    }
    if let Some(id) = req
        .path
        .rsplit_once("/mfeOperationsStatus/")
        .map(|(_, id)| id.to_string())
    {
        advance(w, &id);
        let Some(op) = w.ops.get(&id) else {
            return arm_error(404, "NotFound", "operation not found");
        };
        let mut body = json!({"id": req.path, "name": id, "status": "InProgress", "startTime": "2026-01-01T00:00:00Z"});
        if op.done {
            match &op.outcome {
                Ok(()) => body["status"] = json!("Succeeded"),
                Err((status, code, message)) => {
                    body["status"] = json!(status);
                    body["error"] = json!({"code": code, "message": message});
                }
            }
            return Resp::json(200, body);
        }
        return retry_after(w, Resp::json(200, body));
    }
    if let Some(id) = req
        .path
        .rsplit_once("/mfeOperationResults/")
        .map(|(_, id)| id.to_string())
    {
        advance(w, &id);
        return match w.ops.get(&id) {
            Some(op) if op.done => match &op.outcome {
                Ok(()) => Resp::json(200, Value::Null).with("Content-Type", "application/json"),
                // A Location poll of a failed operation answers the operation's error.
                Err((_, code, message)) => arm_error(400, code, message),
            },
            Some(_) => retry_after(
                w,
                Resp::json(202, Value::Null).with("Location", &op_result_url(w, &id)),
            ),
            None => arm_error(404, "NotFound", "operation not found"),
        };
    }
    if req.param("api-version") != Some(API_VERSION) {
        return arm_error(
            400,
            "InvalidApiVersionParameter",
            "The api-version is missing or not supported.",
        );
    }
    let path = req.path.clone();
    if req.method == "GET" && path.ends_with("/versions") {
        return list_versions(w, req, &path);
    }
    if let Some(ep) = path.strip_suffix("/listKeys") {
        return list_keys(w, req, ep);
    }
    let is_deployment = path.contains("/deployments/");
    if !path.contains("/providers/Microsoft.MachineLearningServices/workspaces/")
        || !path.contains("/onlineEndpoints/")
    {
        return arm_error(
            404,
            "ResourceNotFound",
            "The resource type could not be found.",
        );
    }
    match (req.method.as_str(), is_deployment) {
        ("GET", false) => {
            advance_for(w, &path);
            match w.endpoints.get(&path) {
                Some(ep) => {
                    let etag = w.etags.get(&path).copied().unwrap_or(0);
                    Resp::json(200, ep.clone()).with("ETag", &format!("\"{etag}\""))
                }
                None => arm_error(
                    404,
                    "ResourceNotFound",
                    "The online endpoint was not found.",
                ),
            }
        }
        ("GET", true) => {
            advance_for(w, &path);
            match w.deployments.get(&path) {
                Some(d) => Resp::json(200, d.clone()),
                None => arm_error(
                    404,
                    "ResourceNotFound",
                    "The online deployment was not found.",
                ),
            }
        }
        ("PUT", false) => put_endpoint(w, req, &path),
        ("PATCH", false) => patch_endpoint(w, req, &path),
        ("PUT", true) => put_deployment(w, req, &path),
        ("DELETE", true) => {
            let Some(d) = w.deployments.get(&path) else {
                return Resp {
                    status: 204,
                    headers: vec![],
                    body: String::new(),
                };
            };
            let name = d["name"].as_str().unwrap_or("").to_string();
            let ep_path = path.rsplit_once("/deployments/").unwrap().0.to_string();
            let live = w
                .endpoints
                .get(&ep_path)
                .and_then(|e| e.pointer(&format!("/properties/traffic/{name}")))
                .and_then(Value::as_u64)
                .unwrap_or(0);
            if live > 0 {
                return arm_error(400, "BadArgument", &format!("Deployment {name} has {live}% traffic; set its traffic to 0 before deleting it."));
            }
            let id = new_op(w, 1, Ok(()), Action::Delete(path.clone()));
            accepted(w, 202, Value::Null, &id)
        }
        _ => arm_error(
            405,
            "MethodNotAllowed",
            "The requested method is not supported.",
        ),
    }
}

fn sum(map: Option<&Value>) -> Result<(u64, Vec<String>), String> {
    let mut total = 0;
    let mut names = Vec::new();
    for (k, v) in map.and_then(Value::as_object).into_iter().flatten() {
        let n = v
            .as_u64()
            .ok_or_else(|| format!("traffic value for {k} is not a whole number"))?;
        total += n;
        names.push(k.clone());
    }
    Ok((total, names))
}

/// A write to an endpoint: 409 while an operation on it runs; an injected concurrent change
/// (the ETag moves just before the write); 412 when `If-Match` names another ETag.
fn preconditions(w: &mut World, req: &Req, path: &str, patch: bool) -> Option<Resp> {
    if busy(w, path) {
        return Some(conflict());
    }
    let injected = if patch {
        &mut w.patch_conflicts_to_inject
    } else {
        &mut w.conflicts_to_inject
    };
    if *injected > 0 {
        *injected -= 1;
        *w.etags.entry(path.to_string()).or_insert(0) += 1;
    }
    let current = w.etags.get(path).copied().unwrap_or(0);
    match req.header("if-match") {
        Some(m) if m != "*" && m != format!("\"{current}\"") => Some(arm_error(
            412,
            "PreconditionFailed",
            "The specified precondition 'If-Match' failed: the resource was modified.",
        )),
        _ => None,
    }
}

fn put_endpoint(w: &mut World, req: &Req, path: &str) -> Resp {
    w.endpoint_put_if_match
        .push(req.header("if-match").map(str::to_string));
    if let Some(refused) = preconditions(w, req, path, false) {
        return refused;
    }
    let Some(body) = req.json() else {
        return arm_error(
            400,
            "InvalidRequestContent",
            "The request content was invalid and could not be deserialized.",
        );
    };
    if body.get("location").and_then(Value::as_str).is_none() {
        return arm_error(
            400,
            "LocationRequired",
            "The location property is required for this definition.",
        );
    }
    if let Some(r) = super::spec::refuse("OnlineEndpoint", &body) {
        return r;
    }
    let props = &body["properties"];
    let (traffic, names) = match sum(props.get("traffic")) {
        Ok(x) => x,
        Err(e) => return arm_error(400, "BadArgument", &e),
    };
    if traffic != 100 && traffic != 0 {
        return arm_error(
            400,
            "BadArgument",
            &format!("Traffic values must sum to 100 (or 0); got {traffic}."),
        );
    }
    let (mirror, mirror_names) = match sum(props.get("mirrorTraffic")) {
        Ok(x) => x,
        Err(e) => return arm_error(400, "BadArgument", &e),
    };
    if mirror > 50 {
        return arm_error(
            400,
            "BadArgument",
            &format!("Mirror traffic must be at most 50; got {mirror}."),
        );
    }
    for name in names.iter().chain(mirror_names.iter()) {
        let dep = w.deployments.get(&format!("{path}/deployments/{name}"));
        let state = dep
            .and_then(|d| d.pointer("/properties/provisioningState"))
            .and_then(Value::as_str);
        if state != Some("Succeeded") {
            return arm_error(
                400,
                "BadArgument",
                &format!("Deployment {name} does not exist or is not in a Succeeded state."),
            );
        }
    }
    for name in &mirror_names {
        if props["traffic"]
            .get(name)
            .and_then(Value::as_u64)
            .unwrap_or(0)
            > 0
        {
            return arm_error(
                400,
                "BadArgument",
                &format!("Deployment {name} cannot receive both live and mirror traffic."),
            );
        }
    }
    let existed = w.endpoints.contains_key(path);
    let name = path.rsplit('/').next().unwrap_or("").to_string();
    let mut stored = body.clone();
    stored["id"] = json!(path);
    stored["name"] = json!(name);
    stored["type"] = json!("Microsoft.MachineLearningServices/workspaces/onlineEndpoints");
    stored["properties"]["provisioningState"] = json!("Updating");
    stored["properties"]["scoringUri"] = json!(format!(
        "https://{name}.westeurope.inference.ml.azure.com/score"
    ));
    w.endpoints.insert(path.to_string(), stored.clone());
    *w.etags.entry(path.to_string()).or_insert(0) += 1;
    let polls = w.endpoint_polls;
    let outcome = if w.endpoint_op_failures.is_empty() {
        Ok(())
    } else {
        Err(w.endpoint_op_failures.remove(0))
    };
    let id = new_op(w, polls, outcome, Action::Provisioned(path.to_string()));
    accepted(w, if existed { 200 } else { 201 }, stored, &id)
}

fn put_deployment(w: &mut World, req: &Req, path: &str) -> Resp {
    let ep_path = path.rsplit_once("/deployments/").unwrap().0;
    if !w.endpoints.contains_key(ep_path) {
        return arm_error(
            404,
            "ResourceNotFound",
            "The online endpoint was not found.",
        );
    }
    let Some(body) = req.json() else {
        return arm_error(
            400,
            "InvalidRequestContent",
            "The request content was invalid and could not be deserialized.",
        );
    };
    let props = &body["properties"];
    if body.get("location").and_then(Value::as_str).is_none() {
        return arm_error(
            400,
            "LocationRequired",
            "The location property is required for this definition.",
        );
    }
    if let Some(r) = super::spec::refuse("OnlineDeployment", &body) {
        return r;
    }
    if props.get("endpointComputeType").and_then(Value::as_str) != Some("Managed") {
        return arm_error(
            400,
            "BadArgument",
            "properties.endpointComputeType must be Managed for a managed online deployment.",
        );
    }
    let Some(model) = props.get("model").and_then(Value::as_str) else {
        return arm_error(400, "BadArgument", "properties.model is required.");
    };
    // The swagger says only "The URI path to the model" / "ARM resource ID or AssetId of the
    // environment"; whether the service expands the short `azureml:NAME:VERSION` itself is not
    // documented. The Azure ML SDK and the REST samples send ARM ids (or azureml:// registry
    // references), so the fake takes only those, and checks the version exists when it knows it.
    for (key, value) in [
        ("model", Some(model)),
        (
            "environmentId",
            props.get("environmentId").and_then(Value::as_str),
        ),
    ] {
        let Some(v) = value else { continue };
        if !(v.starts_with("/subscriptions/") || v.starts_with("azureml://")) {
            return arm_error(
                400,
                "BadArgument",
                &format!("properties.{key} '{v}' is not a valid asset id."),
            );
        }
    }
    if props.get("environmentId").is_some_and(|e| !e.is_string()) {
        return arm_error(
            400,
            "BadArgument",
            "properties.environmentId must be a string.",
        );
    }
    let existed = w.deployments.contains_key(path);
    let name = path.rsplit('/').next().unwrap_or("").to_string();
    let mut stored = body.clone();
    stored["id"] = json!(path);
    stored["name"] = json!(name);
    stored["type"] =
        json!("Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments");
    stored["properties"]["provisioningState"] =
        json!(if existed { "Updating" } else { "Creating" });
    let outcome = if model.contains("broken") {
        Err(("Failed".to_string(), "DeploymentFailed".to_string(), format!("Deployment {name} failed: the container for model {model} crashed during startup (exit code 1).")))
    } else {
        Ok(())
    };
    w.deployments.insert(path.to_string(), stored.clone());
    let polls = w.deployment_polls;
    let id = new_op(w, polls, outcome, Action::Provisioned(path.to_string()));
    accepted(w, if existed { 200 } else { 201 }, stored, &id)
}

/// PATCH takes `tags` (replacing the whole map) and `identity`, nothing else; 202 with `Location`.
fn patch_endpoint(w: &mut World, req: &Req, path: &str) -> Resp {
    if !w.endpoints.contains_key(path) {
        return arm_error(
            404,
            "ResourceNotFound",
            "The online endpoint was not found.",
        );
    }
    w.endpoint_patch_if_match
        .push(req.header("if-match").map(str::to_string));
    if let Some(refused) = preconditions(w, req, path, true) {
        return refused;
    }
    let Some(Value::Object(body)) = req.json() else {
        return arm_error(
            400,
            "InvalidRequestContent",
            "The request content was invalid and could not be deserialized.",
        );
    };
    if let Some(r) = super::spec::refuse(
        "PartialMinimalTrackedResourceWithIdentity",
        &Value::Object(body.clone()),
    ) {
        return r;
    }
    if let Some(k) = body.keys().find(|k| *k != "tags" && *k != "identity") {
        return arm_error(
            400,
            "BadArgument",
            &format!("{k} cannot be updated with PATCH; only tags and identity can."),
        );
    }
    let ep = w.endpoints.get_mut(path).unwrap();
    for (k, v) in body {
        ep[k.as_str()] = v;
    }
    ep["properties"]["provisioningState"] = json!("Updating");
    *w.etags.entry(path.to_string()).or_insert(0) += 1;
    let polls = w.endpoint_polls;
    let id = new_op(w, polls, Ok(()), Action::Provisioned(path.to_string()));
    let body = match w.lro {
        Lro::NoHeader => w.endpoints[path].clone(),
        _ => Value::Null,
    };
    let status = if w.lro == Lro::NoHeader { 200 } else { 202 };
    accepted(w, status, body, &id)
}

/// `GET {workspace}/{models|environments}/NAME/versions` with `$orderBy` (`CreatedAtDesc`,
/// `CreatedAtAsc`) and `$top`, as the SDK's `_get_latest` asks (azure-ai-ml `_asset_utils.py`).
fn list_versions(w: &World, req: &Req, path: &str) -> Resp {
    let Some((ws, tail)) = path
        .split_once("/models/")
        .map(|(a, b)| (a, format!("models/{b}")))
        .or_else(|| {
            path.split_once("/environments/")
                .map(|(a, b)| (a, format!("environments/{b}")))
        })
    else {
        return arm_error(
            404,
            "ResourceNotFound",
            "The resource type could not be found.",
        );
    };
    let key = tail.trim_end_matches("/versions").to_string();
    let Some(versions) = w.asset_versions.get(&key) else {
        return Resp::json(200, json!({"value": []}));
    };
    let mut v = versions.clone();
    match req.param("$orderBy") {
        Some("CreatedAtDesc") => v.sort_by(|a, b| b.1.cmp(&a.1)),
        Some("CreatedAtAsc") => v.sort_by(|a, b| a.1.cmp(&b.1)),
        _ => {}
    }
    if let Some(top) = req.param("$top").and_then(|t| t.parse::<usize>().ok()) {
        v.truncate(top);
    }
    let value: Vec<Value> = v
        .iter()
        .map(|(ver, created)| {
            json!({"id": format!("{ws}/{key}/versions/{ver}"), "name": ver,
                "type": "Microsoft.MachineLearningServices/workspaces/models/versions",
                "systemData": {"createdAt": created}, "properties": {}})
        })
        .collect();
    Resp::json(200, json!({ "value": value }))
}

/// The key of every fake online endpoint (`POST .../onlineEndpoints/NAME/listKeys`).
pub const ENDPOINT_KEY: &str = "aml-endpoint-primary-key-DoNotPrint";

/// `POST .../onlineEndpoints/{name}/listKeys` (EndpointAuthKeys: primaryKey, secondaryKey): key
/// auth endpoints only; ARM answers 400 for an `AMLToken`/`AADToken` endpoint.
fn list_keys(w: &mut World, req: &Req, ep: &str) -> Resp {
    if req.method != "POST" {
        return arm_error(
            405,
            "MethodNotAllowed",
            "The requested method is not supported.",
        );
    }
    match w.endpoints.get(ep) {
        None => arm_error(
            404,
            "ResourceNotFound",
            "The online endpoint was not found.",
        ),
        Some(e)
            if e["properties"]["authMode"]
                .as_str()
                .is_some_and(|m| m != "Key") =>
        {
            arm_error(
                400,
                "BadArgument",
                "Keys are only available for endpoints with authMode Key.",
            )
        }
        Some(_) => Resp::json(
            200,
            json!({"primaryKey": ENDPOINT_KEY, "secondaryKey": format!("{ENDPOINT_KEY}-2")}),
        ),
    }
}
