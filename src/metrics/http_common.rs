//! What the HTTP-based providers (Prometheus, plain HTTP JSON) share: extra request headers, the
//! bearer token read from a NAMED environment variable, turning ureq failures into
//! [`ProviderError`]s, and trimming error bodies. Kept here once so the providers stay small and
//! agree on one rule: a token is read at request time, sent, and never shown (not in `describe()`,
//! not in errors, not in logs).

use std::collections::BTreeMap;
use std::time::Duration;

use super::ProviderError;
use crate::clients::http::{agent, AgentOptions};

/// Longest error body quoted in an error message (an HTML error page can be huge).
const MAX_QUOTED_BODY: usize = 512;

/// Headers and bearer-token settings for one provider.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct RequestAuth {
    pub headers: BTreeMap<String, String>,
    /// The NAME of the environment variable that holds the token.
    pub bearer_token_env: Option<String>,
}

impl RequestAuth {
    /// Adds the configured headers and, when set, `Authorization: Bearer <token>` to a request.
    pub fn apply<B>(
        &self,
        mut req: ureq::RequestBuilder<B>,
    ) -> Result<ureq::RequestBuilder<B>, ProviderError> {
        for (name, value) in &self.headers {
            req = req.header(name.as_str(), value.as_str());
        }
        if let Some(var) = &self.bearer_token_env {
            let token = std::env::var(var).map_err(|_| {
                ProviderError::Config(format!(
                    "bearerTokenEnv names the environment variable {var}, which is not set \
                     (or not valid UTF-8)"
                ))
            })?;
            crate::report::redact::register(token.trim());
            req = req.header("Authorization", format!("Bearer {}", token.trim()));
        }
        Ok(req)
    }

    /// Header names (never values) and the token's variable name, for `describe()`.
    pub fn describe(&self) -> String {
        let mut parts: Vec<String> = self
            .headers
            .keys()
            .map(|name| format!("header {name}"))
            .collect();
        if let Some(var) = &self.bearer_token_env {
            parts.push(format!("bearer token from ${var}"));
        }
        if parts.is_empty() {
            String::new()
        } else {
            format!(" ({})", parts.join(", "))
        }
    }
}

/// The agent every HTTP provider uses: the shared TLS/timeout policy with the provider's timeout.
pub(crate) fn provider_agent(timeout: Duration) -> ureq::Agent {
    let defaults = AgentOptions::default();
    agent(&AgentOptions {
        timeout,
        connect_timeout: defaults.connect_timeout.min(timeout),
    })
}

/// A request that never got an HTTP answer (refused, reset, timed out, TLS failure). A request
/// that could not even be built (an invalid header name or value from config) is a config error.
pub(crate) fn transport_error(url: &str, err: &ureq::Error) -> ProviderError {
    if let ureq::Error::Http(e) = err {
        // `http::Error` names the problem ("invalid HTTP header value"), never the value itself.
        return ProviderError::Config(format!(
            "cannot build the request to {url} (check `headers`, `bearerTokenEnv` and the URL): {e}"
        ));
    }
    let message = match err {
        ureq::Error::Timeout(which) => format!("timed out ({which})"),
        other => other.to_string(),
    };
    ProviderError::Transport {
        url: url.to_string(),
        message,
    }
}

/// Reads a response body as text; a broken body is a transport problem.
pub(crate) fn read_body(
    url: &str,
    resp: &mut ureq::http::Response<ureq::Body>,
) -> Result<String, ProviderError> {
    resp.body_mut()
        .read_to_string()
        .map_err(|e| transport_error(url, &e))
}

/// At most [`MAX_QUOTED_BODY`] bytes of a body, cut on a character boundary, for error messages.
pub(crate) fn quote_body(body: &str) -> String {
    let body = body.trim();
    if body.len() <= MAX_QUOTED_BODY {
        return body.to_string();
    }
    let mut end = MAX_QUOTED_BODY;
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &body[..end])
}

/// The URL without its query string, for error messages (long PromQL or keys stay out of them).
pub(crate) fn without_query(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_names_headers_and_token_variable_but_no_values() {
        let auth = RequestAuth {
            headers: BTreeMap::from([("X-Scope-OrgID".to_string(), "tenant-a".to_string())]),
            bearer_token_env: Some("PROM_TOKEN".to_string()),
        };
        let text = auth.describe();
        assert_eq!(
            text,
            " (header X-Scope-OrgID, bearer token from $PROM_TOKEN)"
        );
        assert!(!text.contains("tenant-a"));
        assert_eq!(RequestAuth::default().describe(), "");
    }

    #[test]
    fn missing_token_variable_is_a_config_error_naming_the_variable() {
        let auth = RequestAuth {
            headers: BTreeMap::new(),
            bearer_token_env: Some("MLCANARY_TEST_SURELY_UNSET_TOKEN_VAR".to_string()),
        };
        let req = provider_agent(Duration::from_secs(1)).get("http://127.0.0.1:1/");
        let err = auth.apply(req).expect_err("an unset variable must fail");
        assert!(
            matches!(&err, ProviderError::Config(m) if m.contains("MLCANARY_TEST_SURELY_UNSET_TOKEN_VAR")),
            "{err:?}"
        );
    }

    #[test]
    fn quote_body_cuts_long_bodies_on_a_char_boundary() {
        let long = "é".repeat(400); // 800 bytes
        let quoted = quote_body(&long);
        assert!(quoted.ends_with("..."));
        assert!(quoted.len() <= MAX_QUOTED_BODY + 3);
        assert_eq!(quote_body("  short \n"), "short");
    }

    #[test]
    fn without_query_drops_the_query_string() {
        assert_eq!(
            without_query("http://p:9090/api/v1/query?query=up"),
            "http://p:9090/api/v1/query"
        );
        assert_eq!(without_query("http://p/x"), "http://p/x");
    }
}
