//! Azure Monitor metrics (`Microsoft.Insights/metrics`, api-version 2023-10-01) and the Log
//! Analytics query API (`POST /v1/workspaces/{id}/query`), in the answer shapes of the real
//! services: `value[].timeseries[].data[]` with `timeStamp` and the requested aggregation (absent
//! when there is no data for a minute), and `{"tables":[{"name","columns","rows"}]}`.
//! Azure Monitor errors are `{"code","message"}` at the top level; Log Analytics errors are
//! `{"error":{"code","message","innererror"}}`.

use super::http::{Req, Resp};
use super::World;
use serde_json::{json, Value};

pub fn metrics(w: &mut World, req: &Req) -> Resp {
    if let Some(r) = super::arm::check_token(w, req, &w.arm_scope.clone()) {
        return r;
    }
    let bad = |m: &str| Resp::json(400, json!({"code": "BadRequest", "message": m}));
    if req.param("api-version") != Some("2023-10-01") {
        return bad("The api-version is missing or not supported for metrics.");
    }
    let Some(timespan) = req
        .param("timespan")
        .filter(|t| t.contains('/') && t.ends_with('Z'))
    else {
        return bad("Invalid timespan: expected ISO-8601 start/end.");
    };
    if req.param("interval") != Some("PT1M") {
        return bad("Invalid interval.");
    }
    let metric = req.param("metricnames").unwrap_or("").to_string();
    let aggregation = req
        .param("aggregation")
        .unwrap_or("Average")
        .to_ascii_lowercase();
    let deployment = req
        .param("$filter")
        .and_then(|f| f.strip_prefix("deployment eq '"))
        .and_then(|f| f.strip_suffix('\''))
        .map(str::to_string);
    let resource = req
        .path
        .trim_end_matches("/providers/Microsoft.Insights/metrics")
        .to_string();
    if !w.endpoints.contains_key(&resource) {
        return Resp::json(
            404,
            json!({"code": "ResourceNotFound", "message": format!("The resource {resource} was not found.")}),
        );
    }
    let known: Vec<&String> = w.metric_points.keys().map(|(m, _)| m).collect();
    if !known.contains(&&metric) {
        return bad(&format!("Failed to find metric configuration for provider: Microsoft.MachineLearningServices, resource type: workspaces/onlineendpoints, metric: {metric}"));
    }
    let mut timeseries = Vec::new();
    for ((m, dep), points) in &w.metric_points {
        if *m != metric || deployment.as_ref().is_some_and(|d| d != dep) {
            continue;
        }
        let data: Vec<Value> = points
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let mut d = json!({"timeStamp": format!("2026-01-01T00:{i:02}:00Z")});
                if let Some(v) = p {
                    d[&aggregation] = json!(v);
                }
                d
            })
            .collect();
        timeseries.push(json!({"metadatavalues": [{"name": {"value": "deployment", "localizedValue": "deployment"}, "value": dep}], "data": data}));
    }
    Resp::json(
        200,
        json!({
        "cost": 0, "timespan": timespan, "interval": "PT1M",
        "value": [{"id": format!("{resource}/providers/Microsoft.Insights/metrics/{metric}"),
            "type": "Microsoft.Insights/metrics", "name": {"value": metric, "localizedValue": metric},
            "displayDescription": "", "unit": "Milliseconds", "timeseries": timeseries, "errorCode": "Success"}],
        "namespace": "Microsoft.MachineLearningServices/workspaces/onlineEndpoints", "resourceregion": "westeurope"}),
    )
}

pub fn log_query(w: &mut World, req: &Req) -> Resp {
    if let Some(r) = super::arm::check_token(w, req, &w.la_scope.clone()) {
        return r;
    }
    let err = |status: u16, code: &str, message: &str, inner: &str| {
        Resp::json(
            status,
            json!({"error": {"code": code, "message": message, "correlationId": "00000000-0000-0000-0000-000000000003", "innererror": {"code": inner, "message": message}}}),
        )
    };
    if req.method != "POST" {
        return err(405, "MethodNotAllowed", "Use POST.", "MethodNotAllowed");
    }
    let workspace = req.path.rsplit('/').nth(1).unwrap_or("").to_string();
    if workspace != w.la_workspace {
        return err(
            404,
            "WorkspaceNotFoundError",
            "The workspace could not be found",
            "WorkspaceNotFoundError",
        );
    }
    let Some(body) = req.json() else {
        return err(
            400,
            "BadArgumentError",
            "The request had some invalid properties",
            "InvalidJson",
        );
    };
    let query = body.get("query").and_then(Value::as_str).unwrap_or("");
    if query.is_empty() || query.contains("syntax error") {
        return err(
            400,
            "BadArgumentError",
            "The request had some invalid properties",
            "SyntaxError",
        );
    }
    if !body
        .get("timespan")
        .and_then(Value::as_str)
        .is_some_and(|t| t.contains('/'))
    {
        return err(
            400,
            "BadArgumentError",
            "Invalid timespan",
            "InvalidTimespan",
        );
    }
    w.la_queries.push(query.to_string());
    let named = w
        .la_by_deployment
        .iter()
        .find(|(d, _)| query.contains(&format!("'{d}'")) || query.contains(&format!("\"{d}\"")));
    let answer = named.map_or(&w.la_answer, |(_, a)| a).clone();
    Resp::json(200, answer)
}
