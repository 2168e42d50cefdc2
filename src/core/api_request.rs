//! One request sent to a platform's API, as reports and `run --dry-run` list it. Platforms build
//! it; the run record (`report/`) keeps it, so it is vocabulary below both.

/// One request a platform sends (or, in a dry run, would send). Reports and `run --dry-run` print these.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ApiRequest {
    pub method: String,
    /// Path and query string, relative to the API server / ARM base URL.
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<serde_json::Value>,
}
