//! Kubernetes errors in plain words. The API server answers failures with a `Status` object; we
//! keep its reason and message but lead with what the user must do (which RBAC rule is missing,
//! which object is absent), since a CI log reader should not need to know the API's vocabulary.

use super::path::parse_path;
use serde_json::Value;

/// Every way a Kubernetes call can fail.
#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    #[error("not found: {what} ({message})")]
    NotFound { what: String, message: String },
    #[error("conflict on {what}: {message}")]
    Conflict { what: String, message: String },
    #[error(
        "forbidden: the credentials lack RBAC permission to {verb} {resource}{}; grant verb \"{verb}\" on \
         resource \"{rbac_resource}\" (server said: {message})",
        namespace.as_ref().map(|n| format!(" in namespace {n}")).unwrap_or_default()
    )]
    Forbidden {
        verb: String,
        /// `plural.group`, with `/subresource` when there is one.
        resource: String,
        /// What to write in a Role rule's `resources:` (`plural` or `plural/status`).
        rbac_resource: String,
        namespace: Option<String>,
        message: String,
    },
    #[error("rejected as invalid: {what}: {message}{}", causes_text(causes))]
    Invalid {
        what: String,
        message: String,
        causes: Vec<String>,
    },
    #[error("Kubernetes API answered {code} {reason}: {message}")]
    Api {
        code: u16,
        reason: String,
        message: String,
    },
    #[error("cannot reach the Kubernetes API: {0}")]
    Transport(String),
    #[error("Kubernetes configuration: {0}")]
    Config(String),
    #[error("Kubernetes authentication: {0}")]
    Auth(String),
}

fn causes_text(causes: &[String]) -> String {
    if causes.is_empty() {
        String::new()
    } else {
        format!(" ({})", causes.join("; "))
    }
}

/// The Kubernetes verb RBAC checks for an HTTP method on a named object.
fn verb(method: &str, named: bool) -> &'static str {
    match method {
        "GET" if named => "get",
        "GET" => "list",
        "POST" => "create",
        "PUT" => "update",
        "PATCH" => "patch",
        "DELETE" => "delete",
        _ => "access",
    }
}

impl KubeError {
    /// Builds the error for a non-2xx answer to `method path`, from the Status body when there is one.
    pub fn from_response(code: u16, body: &[u8], method: &str, path: &str) -> KubeError {
        let status: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let field = |k: &str| {
            status
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let mut message = field("message");
        if message.is_empty() {
            message = String::from_utf8_lossy(body)
                .trim()
                .chars()
                .take(300)
                .collect();
        }
        let reason = field("reason");
        let info = parse_path(path).unwrap_or_default();
        let what = match (&info.name, &info.namespace) {
            (Some(n), Some(ns)) => format!("{} {n:?} in namespace {ns}", info.resource()),
            (Some(n), None) => format!("{} {n:?}", info.resource()),
            _ => path.split('?').next().unwrap_or(path).to_string(),
        };
        match code {
            404 => KubeError::NotFound { what, message },
            409 => KubeError::Conflict { what, message },
            403 => {
                let sub = info
                    .subresource
                    .as_ref()
                    .map(|s| format!("/{s}"))
                    .unwrap_or_default();
                KubeError::Forbidden {
                    verb: verb(method, info.name.is_some()).to_string(),
                    resource: format!("{}{sub}", info.resource()),
                    rbac_resource: format!("{}{sub}", info.plural),
                    namespace: info.namespace.clone(),
                    message,
                }
            }
            422 => {
                let causes = status
                    .pointer("/details/causes")
                    .and_then(Value::as_array)
                    .map(|cs| {
                        cs.iter()
                            .map(|c| {
                                let f = c.get("field").and_then(Value::as_str).unwrap_or("");
                                let m = c.get("message").and_then(Value::as_str).unwrap_or("");
                                if f.is_empty() {
                                    m.to_string()
                                } else {
                                    format!("{f}: {m}")
                                }
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                KubeError::Invalid {
                    what,
                    message,
                    causes,
                }
            }
            401 => KubeError::Auth(format!(
                "the API server rejected the credentials (401 Unauthorized): {message}"
            )),
            _ => KubeError::Api {
                code,
                reason: if reason.is_empty() {
                    "Error".into()
                } else {
                    reason
                },
                message,
            },
        }
    }

    /// Status codes worth another attempt: throttling and server-side trouble.
    pub fn retryable_status(code: u16) -> bool {
        matches!(code, 429 | 500 | 502 | 503 | 504)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATH: &str = "/apis/serving.kserve.io/v1beta1/namespaces/ml-prod/inferenceservices/fd";

    #[test]
    fn forbidden_names_verb_resource_and_namespace() {
        let body = br#"{"kind":"Status","apiVersion":"v1","status":"Failure","message":"inferenceservices.serving.kserve.io \"fd\" is forbidden: User \"system:serviceaccount:ci:deployer\" cannot patch resource \"inferenceservices\" in API group \"serving.kserve.io\" in the namespace \"ml-prod\"","reason":"Forbidden","code":403}"#;
        let e = KubeError::from_response(403, body, "PATCH", &format!("{PATH}?fieldManager=m"));
        let text = e.to_string();
        assert!(
            text.contains(
                "permission to patch inferenceservices.serving.kserve.io in namespace ml-prod"
            ),
            "{text}"
        );
        assert!(text.contains("resource \"inferenceservices\""), "{text}");
    }

    #[test]
    fn forbidden_on_status_names_the_subresource() {
        let e = KubeError::from_response(403, b"{}", "PATCH", &format!("{PATH}/status"));
        match e {
            KubeError::Forbidden {
                rbac_resource,
                verb,
                ..
            } => {
                assert_eq!(
                    (rbac_resource.as_str(), verb.as_str()),
                    ("inferenceservices/status", "patch")
                )
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn invalid_lists_the_causes() {
        let body = br#"{"kind":"Status","status":"Failure","reason":"Invalid","code":422,"message":"bad","details":{"causes":[{"field":"spec.predictors","message":"traffic must sum to 100"}]}}"#;
        let text = KubeError::from_response(422, body, "PATCH", PATH).to_string();
        assert!(
            text.contains("spec.predictors: traffic must sum to 100"),
            "{text}"
        );
    }

    #[test]
    fn non_status_bodies_still_give_a_message() {
        match KubeError::from_response(502, b"bad gateway", "GET", PATH) {
            KubeError::Api { code, message, .. } => {
                assert_eq!((code, message.as_str()), (502, "bad gateway"))
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            KubeError::from_response(404, b"", "GET", PATH),
            KubeError::NotFound { .. }
        ));
    }
}
