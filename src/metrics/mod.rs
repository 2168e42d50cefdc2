//! Metric providers: one file per back-end behind [`Provider`]. A provider fetches RAW values only;
//! judging (zones, ratios, PSI, sequential tests) happens in `core`, never here.

pub mod azure_monitor;
pub mod build;
pub mod log_analytics;

use thiserror::Error;

pub use crate::core::observation::{Bucket, Observation, Shape};

/// A fully rendered query ready to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// The query text after template rendering (PromQL, KQL, a metric name, ...).
    pub text: String,
    pub shape: Shape,
    /// Evaluation window in unix seconds: `end` is "now"; `start` is the stage start
    /// (Azure providers send it as `timespan`; Prometheus evaluates at `end`).
    pub start: i64,
    pub end: i64,
    /// Azure Monitor aggregation (Average, Maximum, ...), when the guardrail sets one.
    pub aggregation: Option<String>,
    /// Azure Monitor `$filter`, already rendered.
    pub filter: Option<String>,
}

/// Why a provider could not answer. Counted against `errorLimit` by the core.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum ProviderError {
    #[error("cannot reach {url}: {message}")]
    Transport { url: String, message: String },
    #[error("{url} answered HTTP {status}: {message}")]
    Http {
        url: String,
        status: u16,
        message: String,
    },
    #[error("the query failed: {0}")]
    Query(String),
    #[error("unexpected answer: {0}")]
    Shape(String),
    #[error("{0}")]
    Config(String),
}

impl From<&ProviderError> for crate::core::judgement::FetchError {
    fn from(e: &ProviderError) -> Self {
        use crate::core::judgement::FetchKind as K;
        let kind = match e {
            ProviderError::Transport { .. } => K::Unreachable,
            ProviderError::Http { status, .. } if *status == 429 || *status >= 500 => {
                K::Unreachable
            }
            ProviderError::Http { .. } | ProviderError::Query(_) | ProviderError::Config(_) => {
                K::Refused
            }
            ProviderError::Shape(_) => K::BadAnswer,
        };
        crate::core::judgement::FetchError::new(kind, e.to_string())
    }
}

/// A named metric source.
pub trait Provider {
    /// Run one query and return the raw answer.
    fn fetch(&self, query: &Query) -> Result<Observation, ProviderError>;
    /// One line saying what request `fetch` would send (method, URL, parameters), for dry runs and
    /// reports. Must not contain secrets.
    fn describe(&self, query: &Query) -> String;
    /// A failure that makes every judgement on this provider a critical failure (the prediction
    /// comparison's unreachable version: retrying cannot help, the phase fails with this reason).
    fn fatal(&self) -> Option<String> {
        None
    }
    /// Why answers from this provider are not judged (a dry run's [`describing::Describing`]
    /// sends nothing, so there is nothing to judge); `None` for every provider that fetches.
    fn unjudged(&self) -> Option<&'static str> {
        None
    }
}

pub mod describing;

pub(crate) mod http_common;
pub mod http_json;
pub mod prometheus;

#[cfg(test)]
mod fetch_error_tests {
    use super::ProviderError as P;
    use crate::core::judgement::{FetchError, FetchKind as K};

    /// The loop is told why a query has no answer by kind, from the provider's typed error.
    #[test]
    fn provider_errors_keep_their_kind() {
        let http = |status| P::Http {
            url: "http://p/api/v1/query".into(),
            status,
            message: "m".into(),
        };
        let cases = [
            (
                P::Transport {
                    url: "http://p".into(),
                    message: "refused".into(),
                },
                K::Unreachable,
            ),
            (http(503), K::Unreachable),
            (http(429), K::Unreachable),
            (http(400), K::Refused),
            (P::Query("parse error".into()), K::Refused),
            (P::Config("no token".into()), K::Refused),
            (P::Shape("not a vector".into()), K::BadAnswer),
        ];
        for (e, kind) in cases {
            let f = FetchError::from(&e);
            assert_eq!(f.kind, kind, "{e}");
            assert_eq!(f.message, e.to_string());
        }
    }
}
