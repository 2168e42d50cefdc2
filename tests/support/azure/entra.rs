//! Entra ID's token endpoint (`POST /{tenant}/oauth2/v2.0/token`, client credentials with a
//! secret or a JWT-bearer client assertion) and GitHub Actions' ID-token request endpoint.
//! Error answers carry `error`, `error_description` and `error_codes` as Entra's do.

use super::http::{Req, Resp};
use super::World;
use serde_json::json;
use std::time::{Duration, Instant};

pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
pub const AUDIENCE: &str = "api://AzureADTokenExchange";

fn entra_error(status: u16, error: &str, code: u32, description: &str) -> Resp {
    Resp::json(
        status,
        json!({"error": error, "error_description": format!("AADSTS{code}: {description}"),
            "error_codes": [code], "timestamp": "2026-01-01 00:00:00Z",
            "trace_id": "00000000-0000-0000-0000-000000000001",
            "correlation_id": "00000000-0000-0000-0000-000000000002"}),
    )
}

pub fn token(w: &mut World, req: &Req) -> Resp {
    let expected = format!("/{}/oauth2/v2.0/token", w.tenant);
    if req.method != "POST" || !req.path.ends_with("/oauth2/v2.0/token") {
        return Resp::json(404, json!({"error": "not_found"}));
    }
    if req.path != expected {
        return entra_error(400, "invalid_request", 90002, "Tenant not found.");
    }
    if !req
        .header("content-type")
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"))
    {
        return entra_error(
            400,
            "invalid_request",
            900144,
            "The request body must contain form fields.",
        );
    }
    let form = req.form();
    let field = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let mut recorded: Vec<(String, String)> = form
        .iter()
        .filter(|(k, _)| k != "client_secret" && k != "client_assertion")
        .cloned()
        .collect();
    recorded.sort();
    w.token_requests.push(recorded);
    if field("grant_type").as_deref() != Some("client_credentials") {
        return entra_error(
            400,
            "unsupported_grant_type",
            70003,
            "The app requested an unsupported grant type.",
        );
    }
    if field("client_id").as_deref() != Some(w.client_id.as_str()) {
        return entra_error(
            400,
            "unauthorized_client",
            700016,
            "Application not found in the directory.",
        );
    }
    let scope = field("scope").unwrap_or_default();
    if !w.scopes.contains(&scope) {
        return entra_error(
            400,
            "invalid_scope",
            1002012,
            "The provided value for scope is not valid.",
        );
    }
    match (
        field("client_secret"),
        field("client_assertion"),
        field("client_assertion_type"),
    ) {
        (Some(secret), None, None) => {
            if secret != w.client_secret {
                return entra_error(
                    401,
                    "invalid_client",
                    7000215,
                    "Invalid client secret provided.",
                );
            }
        }
        (None, Some(assertion), Some(kind)) => {
            if kind != ASSERTION_TYPE {
                return entra_error(400, "invalid_request", 50027, "Invalid JWT token.");
            }
            match w.oidc_issued.iter().find(|(t, _)| *t == assertion) {
                None => return entra_error(
                    400,
                    "invalid_client",
                    700211,
                    "No matching federated identity record found for presented assertion issuer.",
                ),
                Some((_, aud)) if aud != AUDIENCE => return entra_error(
                    400,
                    "invalid_client",
                    700212,
                    "No matching federated identity record found for presented assertion audience.",
                ),
                Some(_) => {}
            }
        }
        _ => {
            return entra_error(
                401,
                "invalid_client",
                7000216,
                "'client_assertion', 'client_secret' or 'request' is required.",
            )
        }
    }
    w.serial += 1;
    let token = format!("eyJ0eXAiOiJKV1Qi.fake-access-{}-{}", w.serial, scope.len());
    w.tokens.push(super::Issued {
        token: token.clone(),
        scope,
        expires: Instant::now() + Duration::from_secs(w.expires_in),
    });
    Resp::json(
        200,
        json!({"token_type": "Bearer", "expires_in": w.expires_in, "ext_expires_in": w.expires_in, "access_token": token}),
    )
}

/// GitHub Actions: `GET $ACTIONS_ID_TOKEN_REQUEST_URL&audience=...` with the request token.
pub fn github_id_token(w: &mut World, req: &Req) -> Resp {
    let expected = format!("Bearer {}", w.oidc_request_token);
    if req.header("authorization") != Some(expected.as_str()) {
        return Resp::json(401, json!({"message": "Bad credentials"}));
    }
    let audience = req.param("audience").unwrap_or("").to_string();
    w.serial += 1;
    let jwt = format!("eyJhbGciOiJSUzI1NiJ9.gh-oidc-{}.sig", w.serial);
    w.oidc_issued.push((jwt.clone(), audience));
    Resp::json(200, json!({"count": 1, "value": jwt}))
}
