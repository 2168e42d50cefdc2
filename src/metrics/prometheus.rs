//! Prometheus provider: one instant query (`/api/v1/query`) per check, evaluated at `Query.end`.
//!
//! Why it is shaped this way:
//! - Values come back as STRINGS; `"NaN"` (e.g. 0/0 when no traffic) and an empty vector both mean
//!   "nothing to judge" and become [`Observation::NoData`] so the core applies `noData`. `"+Inf"` is
//!   a real answer (x/0 with errors but no successes) and is passed through as `Scalar(inf)`.
//! - A scalar guardrail needs exactly one series. Several series almost always mean a missing
//!   `sum(...)`, so that is an error telling the user to aggregate, never a silent `result[0]`.
//! - A histogram guardrail wants `sum by (le) (...)`: series are grouped by `le` into cumulative
//!   buckets sorted by bound (`+Inf` last).
//! - Long queries go as a form POST (same API, no URL length limits in proxies); short ones as GET,
//!   which is easier to read in access logs.
//! - HTTP 400/422 carry Prometheus' own `errorType`/`error`; they are surfaced verbatim as
//!   [`ProviderError::Query`] (the user's PromQL is wrong), other statuses as [`ProviderError::Http`].

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::http_common::{provider_agent, quote_body, read_body, transport_error, RequestAuth};
use super::{Bucket, Observation, Provider, ProviderError, Query, Shape};

/// Queries longer than this (bytes, before percent-encoding, which can triple it) are POSTed.
pub const POST_ABOVE_BYTES: usize = 2048;

/// Settings of one `type: prometheus` provider (config: `address`, `headers`, `bearerTokenEnv`).
#[derive(Debug, Clone, PartialEq)]
pub struct PrometheusOptions {
    /// Base URL, e.g. `http://prometheus.monitoring:9090` (a path prefix is kept).
    pub address: String,
    pub headers: BTreeMap<String, String>,
    /// The NAME of an environment variable holding a bearer token.
    pub bearer_token_env: Option<String>,
    /// Whole-request timeout.
    pub timeout: Duration,
}

/// A Prometheus HTTP API client answering instant queries.
#[derive(Debug)]
pub struct PrometheusProvider {
    endpoint: String,
    auth: RequestAuth,
    agent: ureq::Agent,
}

impl PrometheusProvider {
    pub fn new(opts: PrometheusOptions) -> Self {
        PrometheusProvider {
            endpoint: format!("{}/api/v1/query", opts.address.trim_end_matches('/')),
            auth: RequestAuth {
                headers: opts.headers,
                bearer_token_env: opts.bearer_token_env,
            },
            agent: provider_agent(opts.timeout),
        }
    }

    fn uses_post(query: &Query) -> bool {
        query.text.len() > POST_ABOVE_BYTES
    }

    fn params(query: &Query) -> Vec<(&'static str, String)> {
        let mut params = vec![("query", query.text.clone())];
        if query.end > 0 {
            params.push(("time", query.end.to_string()));
        }
        params
    }

    fn send(&self, query: &Query) -> Result<(u16, String), ProviderError> {
        let params = Self::params(query);
        let result = if Self::uses_post(query) {
            let req = self.auth.apply(self.agent.post(&self.endpoint))?;
            req.send_form(params.iter().map(|(k, v)| (*k, v.as_str())))
        } else {
            let mut req = self.auth.apply(self.agent.get(&self.endpoint))?;
            for (k, v) in &params {
                req = req.query(*k, v);
            }
            req.call()
        };
        let mut resp = result.map_err(|e| transport_error(&self.endpoint, &e))?;
        let status = resp.status().as_u16();
        let body = read_body(&self.endpoint, &mut resp)?;
        Ok((status, body))
    }
}

impl Provider for PrometheusProvider {
    fn fetch(&self, query: &Query) -> Result<Observation, ProviderError> {
        let (status, body) = self.send(query)?;
        interpret(&self.endpoint, status, &body, query.shape)
    }

    fn describe(&self, query: &Query) -> String {
        let method = if Self::uses_post(query) {
            "POST"
        } else {
            "GET"
        };
        let params: Vec<String> = Self::params(query)
            .into_iter()
            .map(|(k, v)| format!("{k}={}", v.split_whitespace().collect::<Vec<_>>().join(" ")))
            .collect();
        format!(
            "{method} {} {}{}",
            self.endpoint,
            params.join(" "),
            self.auth.describe()
        )
    }
}

/// `{"status", "data", "errorType", "error", "warnings"}` of every Prometheus API answer.
#[derive(Debug, Deserialize)]
struct ApiAnswer {
    status: String,
    #[serde(default)]
    data: Option<serde_json::Value>,
    #[serde(rename = "errorType", default)]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    warnings: Vec<String>,
}

/// `data` of an instant query.
#[derive(Debug, Deserialize)]
#[serde(tag = "resultType", content = "result", rename_all = "lowercase")]
enum QueryData {
    Vector(Vec<Sample>),
    Scalar((f64, String)),
    Matrix(serde::de::IgnoredAny),
    String(serde::de::IgnoredAny),
}

#[derive(Debug, Deserialize)]
struct Sample {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    /// Absent for native-histogram samples (they carry `histogram` instead).
    #[serde(default)]
    value: Option<(f64, String)>,
}

/// Turns one HTTP answer of `/api/v1/query` into an observation or an error.
fn interpret(
    url: &str,
    status: u16,
    body: &str,
    shape: Shape,
) -> Result<Observation, ProviderError> {
    let answer: ApiAnswer = match serde_json::from_str(body) {
        Ok(answer) => answer,
        Err(_) if !(200..300).contains(&status) => {
            return Err(ProviderError::Http {
                url: url.to_string(),
                status,
                message: quote_body(body),
            })
        }
        Err(e) => {
            return Err(ProviderError::Shape(format!(
                "not a Prometheus API answer ({e}): {}",
                quote_body(body)
            )))
        }
    };
    if answer.status != "success" || !(200..300).contains(&status) {
        let message = format!(
            "{}: {}",
            answer.error_type.as_deref().unwrap_or("error"),
            answer.error.as_deref().unwrap_or("(no error text)")
        );
        return Err(match status {
            // The query itself is wrong (bad_data) or failed to evaluate (execution).
            200..=299 | 400 | 422 => ProviderError::Query(message),
            _ => ProviderError::Http {
                url: url.to_string(),
                status,
                message,
            },
        });
    }
    for warning in &answer.warnings {
        log::warn!("Prometheus warning: {warning}");
    }
    let data = answer
        .data
        .ok_or_else(|| ProviderError::Shape("a successful answer without `data`".into()))?;
    let data: QueryData = serde_json::from_value(data)
        .map_err(|e| ProviderError::Shape(format!("unexpected `data` of an instant query: {e}")))?;
    match (data, shape) {
        (QueryData::Scalar((_, value)), Shape::Scalar) => Ok(observe(parse_value(&value)?)),
        (QueryData::Vector(samples), Shape::Scalar) => single_series(samples),
        (QueryData::Vector(samples), Shape::Histogram) => buckets(samples),
        (QueryData::Scalar(_), Shape::Histogram) => Err(ProviderError::Shape(
            "a histogram guardrail needs series with an `le` label (e.g. `sum by (le) (rate(x_bucket[5m]))`), \
             the query returned a scalar"
                .into(),
        )),
        (QueryData::Matrix(_), _) => Err(ProviderError::Shape(
            "the query returned a range vector (matrix); wrap it in a function such as rate() or \
             avg_over_time() so it answers an instant vector"
                .into(),
        )),
        (QueryData::String(_), _) => Err(ProviderError::Shape(
            "the query returned a string, not a number".into(),
        )),
    }
}

/// A scalar guardrail: no series -> NoData, one series -> its value, more -> "aggregate it".
fn single_series(samples: Vec<Sample>) -> Result<Observation, ProviderError> {
    match samples.as_slice() {
        [] => Ok(Observation::NoData),
        [one] => Ok(observe(sample_value(one)?)),
        many => {
            let shown: Vec<String> = many.iter().take(3).map(|s| labels(&s.metric)).collect();
            let more = if many.len() > 3 { ", ..." } else { "" };
            Err(ProviderError::Shape(format!(
                "the query returned {} series ({}{more}); a guardrail needs one number: aggregate it, \
                 e.g. sum(...) or max(...)",
                many.len(),
                shown.join(", ")
            )))
        }
    }
}

/// A histogram guardrail: one series per `le` bound, sorted, cumulative as Prometheus keeps them.
fn buckets(samples: Vec<Sample>) -> Result<Observation, ProviderError> {
    if samples.is_empty() {
        return Ok(Observation::NoData);
    }
    let mut by_le: BTreeMap<String, f64> = BTreeMap::new();
    let mut out = Vec::with_capacity(samples.len());
    for sample in &samples {
        let le_text = sample.metric.get("le").ok_or_else(|| {
            ProviderError::Shape(format!(
                "a histogram guardrail needs an `le` label on every series, {} has none; \
                 aggregate it with `sum by (le) (...)` over the `_bucket` series",
                labels(&sample.metric)
            ))
        })?;
        let le = parse_value(le_text)
            .ok()
            .filter(|v| !v.is_nan())
            .ok_or_else(|| {
                ProviderError::Shape(format!("`le` label {le_text:?} is not a number"))
            })?;
        let count = sample_value(sample)?;
        if by_le.insert(le_text.clone(), count).is_some() {
            return Err(ProviderError::Shape(format!(
                "several series have le={le_text:?}; aggregate it with `sum by (le) (...)` so there is \
                 one series per bucket"
            )));
        }
        if count.is_nan() {
            return Ok(Observation::NoData);
        }
        out.push(Bucket { le, count });
    }
    out.sort_by(|a, b| a.le.total_cmp(&b.le));
    if out.windows(2).any(|w| w[0].le == w[1].le) {
        return Err(ProviderError::Shape(
            "two `le` labels name the same bound; aggregate it with `sum by (le) (...)`".into(),
        ));
    }
    Ok(Observation::Histogram(out))
}

fn sample_value(sample: &Sample) -> Result<f64, ProviderError> {
    let (_, value) = sample.value.as_ref().ok_or_else(|| {
        ProviderError::Shape(
            "a series without a float value (a native histogram?); query the classic `_bucket` series"
                .into(),
        )
    })?;
    parse_value(value)
}

/// NaN means "nothing to judge"; infinities are real answers.
fn observe(value: f64) -> Observation {
    if value.is_nan() {
        Observation::NoData
    } else {
        Observation::Scalar(value)
    }
}

/// Prometheus' float text: Go's strconv format plus `NaN`, `+Inf`, `-Inf`.
fn parse_value(text: &str) -> Result<f64, ProviderError> {
    match text {
        "NaN" => Ok(f64::NAN),
        "+Inf" | "Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        other => other
            .parse::<f64>()
            .map_err(|_| ProviderError::Shape(format!("{other:?} is not a number"))),
    }
}

/// `{a="1", b="2"}` for error messages.
fn labels(metric: &BTreeMap<String, String>) -> String {
    let inner: Vec<String> = metric.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", inner.join(", "))
}

#[cfg(test)]
mod tests {
    //! Answer-parsing edge cases that a real server cannot be made to produce on demand
    //! (non-JSON gateway pages, matrix answers to an instant query are covered by the real-server
    //! tests in tests/e2e/prometheus_provider.rs).
    use super::*;

    const URL: &str = "http://prom:9090/api/v1/query";

    fn vector(samples: &str) -> String {
        format!(r#"{{"status":"success","data":{{"resultType":"vector","result":[{samples}]}}}}"#)
    }

    #[test]
    fn gateway_html_error_page_is_an_http_error_with_the_body_quoted() {
        let err = interpret(URL, 502, "<html>Bad Gateway</html>", Shape::Scalar).unwrap_err();
        assert_eq!(
            err,
            ProviderError::Http {
                url: URL.into(),
                status: 502,
                message: "<html>Bad Gateway</html>".into()
            }
        );
    }

    #[test]
    fn service_unavailable_with_prometheus_error_body_keeps_the_error_text() {
        let body = r#"{"status":"error","errorType":"timeout","error":"query timed out in expression evaluation"}"#;
        let err = interpret(URL, 503, body, Shape::Scalar).unwrap_err();
        assert!(
            matches!(&err, ProviderError::Http { status: 503, message, .. }
                if message == "timeout: query timed out in expression evaluation"),
            "{err:?}"
        );
    }

    #[test]
    fn duplicate_le_after_partial_aggregation_says_aggregate() {
        let body = vector(
            r#"{"metric":{"le":"0.5","pod":"a"},"value":[1,"1"]},{"metric":{"le":"0.5","pod":"b"},"value":[1,"2"]}"#,
        );
        let err = interpret(URL, 200, &body, Shape::Histogram).unwrap_err();
        assert!(err.to_string().contains("aggregate it"), "{err}");
    }

    #[test]
    fn equivalent_le_spellings_are_one_bound() {
        let body = vector(
            r#"{"metric":{"le":"1"},"value":[1,"1"]},{"metric":{"le":"1.0"},"value":[1,"2"]}"#,
        );
        let err = interpret(URL, 200, &body, Shape::Histogram).unwrap_err();
        assert!(err.to_string().contains("same bound"), "{err}");
    }

    #[test]
    fn native_histogram_sample_is_a_shape_error() {
        let body = vector(r#"{"metric":{},"histogram":[1,{"count":"3","sum":"1"}]}"#);
        let err = interpret(URL, 200, &body, Shape::Scalar).unwrap_err();
        assert!(err.to_string().contains("native histogram"), "{err}");
    }

    #[test]
    fn negative_infinity_passes_through() {
        let body = vector(r#"{"metric":{},"value":[1,"-Inf"]}"#);
        assert_eq!(
            interpret(URL, 200, &body, Shape::Scalar).unwrap(),
            Observation::Scalar(f64::NEG_INFINITY)
        );
    }

    #[test]
    fn describe_shows_method_endpoint_and_params_without_the_token() {
        let p = PrometheusProvider::new(PrometheusOptions {
            address: "http://prom:9090/".into(),
            headers: BTreeMap::new(),
            bearer_token_env: Some("PROM_TOKEN".into()),
            timeout: Duration::from_secs(5),
        });
        let q = Query {
            text: "sum(rate(x[2m]))\n  / sum(rate(y[2m]))".into(),
            shape: Shape::Scalar,
            start: 100,
            end: 200,
            aggregation: None,
            filter: None,
        };
        assert_eq!(
            p.describe(&q),
            "GET http://prom:9090/api/v1/query query=sum(rate(x[2m])) / sum(rate(y[2m])) time=200 \
             (bearer token from $PROM_TOKEN)"
        );
        let long = Query {
            text: "x".repeat(POST_ABOVE_BYTES + 1),
            ..q
        };
        assert!(p.describe(&long).starts_with("POST "));
    }
}
