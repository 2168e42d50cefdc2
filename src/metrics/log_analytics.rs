//! `log-analytics`: a KQL query against a Log Analytics workspace (e.g. `AmlOnlineEndpointTrafficLog`).
//!
//! Scalar: the first numeric cell of the first row of the first table (so `summarize` results
//! work whatever the column is called). Histogram: a two-column table `(le, count)` of CUMULATIVE
//! counts, returned sorted by `le`; `+Inf` may be given as a string.

use super::azure_monitor::provider_error;
use super::{Bucket, Observation, Provider, ProviderError, Query, Shape};
use crate::clients::azure::arm::{error_parts, ArmClient};
use crate::clients::azure::timespan::timespan;
use crate::clients::azure::AzureError;
use serde_json::{json, Value};

/// Log Analytics query API (`POST {base}/v1/workspaces/{id}/query`).
#[derive(Debug, Clone)]
pub struct LogAnalytics {
    /// A client whose base URL is the Log Analytics endpoint and whose scope is its audience.
    client: ArmClient,
    workspace_id: String,
}

impl LogAnalytics {
    /// `client`: `ArmClient::new(agent, settings.log_analytics_url(), settings.log_analytics_scope(), ..)`.
    pub fn new(client: ArmClient, workspace_id: &str) -> Self {
        LogAnalytics {
            client,
            workspace_id: workspace_id.to_string(),
        }
    }

    pub fn url(&self) -> String {
        format!(
            "{}/v1/workspaces/{}/query",
            self.client.base(),
            self.workspace_id
        )
    }
}

/// The POST body.
pub fn request_body(query: &Query) -> Value {
    json!({"query": query.text, "timespan": timespan(query.start, query.end)})
}

fn number(cell: &Value) -> Option<f64> {
    match cell {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match s.as_str() {
            "+Inf" | "Infinity" | "inf" => Some(f64::INFINITY),
            _ => None,
        },
        _ => None,
    }
}

/// Turn a Log Analytics answer into an observation (see the module doc).
pub fn parse(body: &Value, shape: Shape) -> Result<Observation, ProviderError> {
    let table = body
        .get("tables")
        .and_then(Value::as_array)
        .and_then(|t| t.first())
        .ok_or_else(|| ProviderError::Shape("no `tables` in the Log Analytics answer".into()))?;
    let rows = table
        .get("rows")
        .and_then(Value::as_array)
        .ok_or_else(|| ProviderError::Shape("the first table has no `rows`".into()))?;
    match shape {
        Shape::Scalar => Ok(rows
            .first()
            .and_then(Value::as_array)
            .and_then(|r| r.iter().find_map(number))
            .filter(|v| !v.is_nan())
            .map_or(Observation::NoData, Observation::Scalar)),
        Shape::Histogram => {
            let mut buckets = Vec::with_capacity(rows.len());
            for row in rows {
                let cells = row.as_array().map(Vec::as_slice).unwrap_or_default();
                match cells {
                    [le, count] => match (number(le), number(count)) {
                        (Some(le), Some(count)) => buckets.push(Bucket { le, count }),
                        _ => {
                            return Err(ProviderError::Shape(format!(
                                "histogram row {row} is not two numbers (le, count)"
                            )))
                        }
                    },
                    _ => {
                        return Err(ProviderError::Shape(format!(
                            "histogram rows need exactly two columns (le, count), got {row}"
                        )))
                    }
                }
            }
            if buckets.is_empty() {
                return Ok(Observation::NoData);
            }
            buckets.sort_by(|a, b| a.le.total_cmp(&b.le));
            Ok(Observation::Histogram(buckets))
        }
    }
}

impl Provider for LogAnalytics {
    fn fetch(&self, query: &Query) -> Result<Observation, ProviderError> {
        let url = self.url();
        let resp = self
            .client
            .send("POST", &url, Some(&request_body(query)), &[])
            .map_err(|e| provider_error(&url, e))?;
        if !(200..300).contains(&resp.status) {
            let (code, message) = error_parts(&resp.body);
            return Err(provider_error(
                &url,
                AzureError::Api {
                    method: "POST".into(),
                    url: url.clone(),
                    status: resp.status,
                    code,
                    message,
                    request_id: resp.request_id.clone(),
                },
            ));
        }
        parse(&resp.body, query.shape)
    }

    fn describe(&self, query: &Query) -> String {
        format!("POST {} {}", self.url(), request_body(query))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(columns: Value, rows: Value) -> Value {
        json!({"tables": [{"name": "PrimaryResult", "columns": columns, "rows": rows}]})
    }

    #[test]
    fn first_numeric_cell_of_first_row() {
        let body = table(
            json!([{"name": "DeploymentName", "type": "string"}, {"name": "p99", "type": "real"}]),
            json!([["green", 182.5], ["blue", 90.0]]),
        );
        assert_eq!(
            parse(&body, Shape::Scalar).unwrap(),
            Observation::Scalar(182.5)
        );
        let empty = table(json!([{"name": "p99", "type": "real"}]), json!([]));
        assert_eq!(parse(&empty, Shape::Scalar).unwrap(), Observation::NoData);
        let nan = table(json!([{"name": "p99", "type": "real"}]), json!([["NaN"]]));
        assert_eq!(parse(&nan, Shape::Scalar).unwrap(), Observation::NoData);
    }

    #[test]
    fn two_column_table_is_a_sorted_histogram() {
        let body = table(
            json!([{"name": "le", "type": "real"}, {"name": "count", "type": "long"}]),
            json!([["+Inf", 10], [0.5, 4], [0.1, 1]]),
        );
        let Observation::Histogram(b) = parse(&body, Shape::Histogram).unwrap() else {
            panic!("not a histogram")
        };
        assert_eq!(
            b.iter().map(|b| b.le).collect::<Vec<_>>(),
            vec![0.1, 0.5, f64::INFINITY]
        );
        assert_eq!(b[2].count, 10.0);
        let three = table(json!([]), json!([[1, 2, 3]]));
        assert!(matches!(
            parse(&three, Shape::Histogram),
            Err(ProviderError::Shape(_))
        ));
    }

    #[test]
    fn body_has_query_and_iso_timespan() {
        let q = Query {
            text: "AmlOnlineEndpointTrafficLog | count".into(),
            shape: Shape::Scalar,
            start: 0,
            end: 60,
            aggregation: None,
            filter: None,
        };
        assert_eq!(
            request_body(&q),
            json!({"query": "AmlOnlineEndpointTrafficLog | count", "timespan": "1970-01-01T00:00:00Z/1970-01-01T00:01:00Z"})
        );
    }
}
