//! `Status` objects exactly as the API server writes them (kind, apiVersion, status, message,
//! reason, details, code), so clients are tested against real error shapes.

use serde_json::{json, Value};

/// A reply: status code, extra headers, JSON body.
#[derive(Debug, Clone)]
pub struct Reply {
    pub code: u16,
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl Reply {
    pub fn ok(body: Value) -> Reply {
        Reply {
            code: 200,
            headers: vec![],
            body,
        }
    }
    pub fn created(body: Value) -> Reply {
        Reply {
            code: 201,
            headers: vec![],
            body,
        }
    }
}

pub fn failure(code: u16, reason: &str, message: &str, details: Option<Value>) -> Reply {
    let mut body = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code
    });
    if let Some(d) = details {
        body["details"] = d;
    }
    Reply {
        code,
        headers: vec![],
        body,
    }
}

fn details(group: &str, plural: &str, name: &str) -> Value {
    json!({"name": name, "group": group, "kind": plural})
}

fn qualified(group: &str, plural: &str) -> String {
    if group.is_empty() {
        plural.to_string()
    } else {
        format!("{plural}.{group}")
    }
}

pub fn not_found(group: &str, plural: &str, name: &str) -> Reply {
    failure(
        404,
        "NotFound",
        &format!("{} \"{name}\" not found", qualified(group, plural)),
        Some(details(group, plural, name)),
    )
}

pub fn no_route() -> Reply {
    failure(
        404,
        "NotFound",
        "the server could not find the requested resource",
        Some(json!({})),
    )
}

pub fn already_exists(group: &str, plural: &str, name: &str) -> Reply {
    failure(
        409,
        "AlreadyExists",
        &format!("{} \"{name}\" already exists", qualified(group, plural)),
        Some(details(group, plural, name)),
    )
}

pub fn conflict(group: &str, plural: &str, name: &str) -> Reply {
    failure(
        409,
        "Conflict",
        &format!(
            "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
            qualified(group, plural)
        ),
        Some(details(group, plural, name)),
    )
}

/// 422 with causes `(field, message)`, worded like an admission webhook / schema rejection.
pub fn invalid(
    group: &str,
    kind: &str,
    plural: &str,
    name: &str,
    causes: &[(String, String)],
) -> Reply {
    let text: Vec<String> = causes
        .iter()
        .map(|(f, m)| format!("{f}: Invalid value: {m}"))
        .collect();
    let mut d = details(group, plural, name);
    d["kind"] = json!(kind);
    d["causes"] = causes
        .iter()
        .map(|(f, m)| json!({"reason": "FieldValueInvalid", "message": m, "field": f}))
        .collect();
    failure(
        422,
        "Invalid",
        &format!("{kind}.{group} \"{name}\" is invalid: {}", text.join(", ")),
        Some(d),
    )
}

pub fn bad_request(message: &str) -> Reply {
    failure(400, "BadRequest", message, None)
}

/// RBAC denial, in the API server's words.
pub fn forbidden(
    user: &str,
    verb: &str,
    group: &str,
    resource: &str,
    name: &str,
    ns: &str,
) -> Reply {
    let plural = resource.split('/').next().unwrap_or(resource);
    let what = if name.is_empty() {
        qualified(group, plural)
    } else {
        format!("{} \"{name}\"", qualified(group, plural))
    };
    failure(
        403,
        "Forbidden",
        &format!("{what} is forbidden: User \"{user}\" cannot {verb} resource \"{resource}\" in API group \"{group}\" in the namespace \"{ns}\""),
        Some(json!({"name": name, "group": group, "kind": plural})),
    )
}

pub fn unauthorized() -> Reply {
    failure(401, "Unauthorized", "Unauthorized", None)
}

pub fn unsupported_media_type(content_type: &str) -> Reply {
    failure(
        415,
        "UnsupportedMediaType",
        &format!("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got {content_type})"),
        None,
    )
}

/// 429 / 5xx as the API server (or its load balancer) sends them; `retry_after` adds the header.
pub fn server_error(code: u16, retry_after: Option<u64>) -> Reply {
    let (reason, message) = match code {
        429 => (
            "TooManyRequests",
            "the server has received too many requests and has asked us to try again later",
        ),
        503 => (
            "ServiceUnavailable",
            "the server is currently unable to handle the request",
        ),
        504 => (
            "Timeout",
            "the server was unable to return a response in the time allotted",
        ),
        _ => (
            "InternalError",
            "an error on the server has prevented the request from succeeding",
        ),
    };
    let d = retry_after.map(|s| json!({"retryAfterSeconds": s}));
    let mut r = failure(code, reason, message, d);
    if let Some(s) = retry_after {
        r.headers.push(("Retry-After".into(), s.to_string()));
    }
    r
}
