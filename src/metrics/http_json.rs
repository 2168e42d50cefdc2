//! `type: http` provider: GET a URL, take one number out of the JSON answer with a JSON pointer.
//!
//! For any in-house metrics service that is not Prometheus. The URL is a template in config
//! (`url: https://metrics.example.com/v1/{{ canary.name }}/error-rate`); the caller renders it and
//! passes it as `Query.text`, so this provider never sees templates. `valuePath` is an RFC 6901 JSON
//! pointer. A JSON number or a numeric string (many services quote numbers to keep precision) is
//! accepted; `null` or a missing path means the service has nothing yet -> [`Observation::NoData`].

use std::collections::BTreeMap;
use std::time::Duration;

use super::http_common::{
    provider_agent, quote_body, read_body, transport_error, without_query, RequestAuth,
};
use super::{Observation, Provider, ProviderError, Query, Shape};

/// Settings of one `type: http` provider. The URL itself comes rendered in `Query.text`.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpJsonOptions {
    /// JSON pointer to the number, e.g. `/data/value` (config `valuePath`; empty = the whole answer).
    pub value_path: String,
    pub headers: BTreeMap<String, String>,
    /// The NAME of an environment variable holding a bearer token.
    pub bearer_token_env: Option<String>,
    /// Whole-request timeout.
    pub timeout: Duration,
}

/// GETs a rendered URL and reads one number from its JSON answer.
#[derive(Debug)]
pub struct HttpJsonProvider {
    value_path: String,
    auth: RequestAuth,
    agent: ureq::Agent,
}

impl HttpJsonProvider {
    pub fn new(opts: HttpJsonOptions) -> Self {
        HttpJsonProvider {
            value_path: opts.value_path,
            auth: RequestAuth {
                headers: opts.headers,
                bearer_token_env: opts.bearer_token_env,
            },
            agent: provider_agent(opts.timeout),
        }
    }
}

impl Provider for HttpJsonProvider {
    fn fetch(&self, query: &Query) -> Result<Observation, ProviderError> {
        if query.shape == Shape::Histogram {
            return Err(ProviderError::Config(
                "the http provider answers single numbers only; use a prometheus provider for \
                 histogram guardrails"
                    .into(),
            ));
        }
        if !self.value_path.is_empty() && !self.value_path.starts_with('/') {
            return Err(ProviderError::Config(format!(
                "valuePath {:?} is not a JSON pointer: it must start with '/' (e.g. /data/value)",
                self.value_path
            )));
        }
        let url = query.text.trim();
        let shown = without_query(url);
        let req = self
            .auth
            .apply(self.agent.get(url).header("Accept", "application/json"))?;
        let mut resp = req.call().map_err(|e| transport_error(shown, &e))?;
        let status = resp.status().as_u16();
        let body = read_body(shown, &mut resp)?;
        if !(200..300).contains(&status) {
            return Err(ProviderError::Http {
                url: shown.to_string(),
                status,
                message: quote_body(&body),
            });
        }
        let json: serde_json::Value = serde_json::from_str(&body).map_err(|e| {
            ProviderError::Shape(format!(
                "{shown} did not answer JSON ({e}): {}",
                quote_body(&body)
            ))
        })?;
        extract(&json, &self.value_path)
    }

    fn describe(&self, query: &Query) -> String {
        format!(
            "GET {} -> {}{}",
            query.text.trim(),
            if self.value_path.is_empty() {
                "/"
            } else {
                &self.value_path
            },
            self.auth.describe()
        )
    }
}

/// The number at `pointer`: null/missing -> NoData, numbers and numeric strings -> Scalar.
fn extract(json: &serde_json::Value, pointer: &str) -> Result<Observation, ProviderError> {
    use serde_json::Value;
    match json.pointer(pointer) {
        None | Some(Value::Null) => Ok(Observation::NoData),
        Some(Value::Number(n)) => n
            .as_f64()
            .map(Observation::Scalar)
            .ok_or_else(|| ProviderError::Shape(format!("{n} at {pointer} is not a float"))),
        Some(Value::String(s)) => match s.trim() {
            "" | "NaN" | "nan" => Ok(Observation::NoData),
            "+Inf" | "Inf" | "inf" | "+inf" => Ok(Observation::Scalar(f64::INFINITY)),
            "-Inf" | "-inf" => Ok(Observation::Scalar(f64::NEG_INFINITY)),
            text => text.parse::<f64>().map(Observation::Scalar).map_err(|_| {
                ProviderError::Shape(format!("{text:?} at {pointer} is not a number"))
            }),
        },
        Some(other) => Err(ProviderError::Shape(format!(
            "expected a number at {pointer}, found {}",
            quote_body(&other.to_string())
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_and_numeric_strings_are_scalars() {
        let doc = json!({"data": {"value": 0.25, "quoted": " 1e-3 ", "inf": "+Inf"}});
        assert_eq!(
            extract(&doc, "/data/value").unwrap(),
            Observation::Scalar(0.25)
        );
        assert_eq!(
            extract(&doc, "/data/quoted").unwrap(),
            Observation::Scalar(0.001)
        );
        assert_eq!(
            extract(&doc, "/data/inf").unwrap(),
            Observation::Scalar(f64::INFINITY)
        );
    }

    #[test]
    fn null_missing_and_nan_are_no_data() {
        let doc = json!({"data": {"value": null, "nan": "NaN"}});
        assert_eq!(extract(&doc, "/data/value").unwrap(), Observation::NoData);
        assert_eq!(extract(&doc, "/data/absent").unwrap(), Observation::NoData);
        assert_eq!(extract(&doc, "/data/nan").unwrap(), Observation::NoData);
    }

    #[test]
    fn arrays_indexes_and_escaped_keys_follow_rfc6901() {
        let doc = json!({"series": [{"a/b": 3}]});
        assert_eq!(
            extract(&doc, "/series/0/a~1b").unwrap(),
            Observation::Scalar(3.0)
        );
        assert_eq!(extract(&json!(7), "").unwrap(), Observation::Scalar(7.0));
    }

    #[test]
    fn objects_booleans_and_words_are_shape_errors() {
        let doc = json!({"v": {"x": 1}, "b": true, "w": "high"});
        for path in ["/v", "/b", "/w"] {
            let err = extract(&doc, path).unwrap_err();
            assert!(matches!(err, ProviderError::Shape(_)), "{path}: {err:?}");
        }
    }
}
