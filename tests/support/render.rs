//! Shared by the render_* tests: the context the lead builds from the config (per platform), and
//! JSON-schema validation against tests/crd-schemas/<kind>.json.
#![allow(dead_code)]

use serde_json::{json, Value};

/// The documented example context, with `target` replaced for `platform`.
pub fn ctx(platform: &str) -> Value {
    let target = match platform {
        "kserve" => {
            json!({"platform": "kserve", "namespace": "ml-prod", "resource": "fraud-detector"})
        }
        "seldon" => {
            json!({"platform": "seldon", "namespace": "ml-prod", "resource": "fraud-detector",
                           "stablePredictor": "main", "canaryPredictor": "canary",
                           "stableModelUri": "s3://models/fraud-detector-v1/"})
        }
        "seldon-v2" => {
            json!({"platform": "seldon-v2", "namespace": "ml-prod", "resource": "fraud-detector",
                              "stableModel": "fraud-v1", "canaryModel": "fraud-v2"})
        }
        "argo-drive" | "argo-watch" => json!({"platform": "argo-rollouts", "namespace": "ml-prod",
            "resource": "fraud-detector", "mode": if platform == "argo-watch" { "watch" } else { "drive" },
            "image": "ghcr.io/acme/fraud-server:1.4.2", "replicas": 3, "containerPort": 8080}),
        "azureml" => {
            json!({"platform": "azureml", "subscriptionId": "00000000-0000-0000-0000-000000000000",
            "resourceGroup": "ml-rg", "workspace": "ml-ws", "endpoint": "fraud-endpoint",
            "stableDeployment": "blue", "canaryDeployment": "green", "location": "westeurope",
            "deployment": {"model": "azureml:fraud-detector:2", "environment": "azureml:sklearn-env:1",
                           "instanceType": "Standard_DS2_v2", "instanceCount": 1}})
        }
        other => panic!("no context for {other}"),
    };
    let prom = json!({"name": "prom", "type": "prometheus", "address": "http://prometheus.monitoring:9090"});
    json!({
        "name": "fraud-detector",
        "model": {"uri": "s3://models/fraud-detector-v2/", "format": "sklearn", "version": "v2"},
        "target": target,
        "namespace": "ml-prod", "resource": "fraud-detector",
        "stage": {"index": 0, "weight": 5, "pause": "5m", "pauseSeconds": 300, "start": 0, "elapsed": "0s"},
        "stages": [
            {"index": 0, "weight": 5, "pause": "5m", "pauseSeconds": 300},
            {"index": 1, "weight": 25, "pause": "10m", "pauseSeconds": 600},
            {"index": 2, "weight": 100, "pause": "0s", "pauseSeconds": 0}],
        "shadow": null,
        "canary": {"name": "fraud-detector-canary", "revision": null},
        "stable": {"name": "fraud-detector", "revision": null},
        "analysis": {"interval": "1m", "intervalSeconds": 60, "warmup": "30s", "warmupSeconds": 30,
                     "failureLimit": 0, "inconclusiveLimit": 3, "errorLimit": 4, "checksPerStage": 5},
        "guardrails": [
            {"name": "error-rate", "provider": prom, "kind": "threshold",
             "query": "sum(rate(requests_total{code=~\"5..\"}[2m])) / sum(rate(requests_total[2m]))",
             "baseline": null, "psi": null,
             "promote": {"op": "<", "value": 0.005, "relative": false, "text": "< 0.5%"},
             "rollback": {"op": ">", "value": 0.01, "relative": false, "text": "> 1%"},
             "dryRun": false, "critical": true},
            {"name": "latency-p99", "provider": prom, "kind": "baseline",
             "query": "histogram_quantile(0.99, sum by (le) (rate(latency_bucket{revision=\"canary\"}[2m])))",
             "baseline": "histogram_quantile(0.99, sum by (le) (rate(latency_bucket{revision=\"stable\"}[2m])))",
             "psi": null,
             "promote": {"op": "<", "value": 1.1, "relative": true, "text": "< 1.1x"},
             "rollback": {"op": ">", "value": 1.2, "relative": true, "text": "> 1.2x"},
             "dryRun": true, "critical": false},
            {"name": "prediction-drift", "provider": prom, "kind": "psi", "query": null, "baseline": null,
             "psi": {"query": "a", "baseline": "b"},
             "promote": {"op": "<", "value": 0.1, "relative": false, "text": "< 0.1"},
             "rollback": {"op": ">", "value": 0.2, "relative": false, "text": "> 0.2"},
             "dryRun": false, "critical": false}],
        "env": {}
    })
}

/// The same context in the shadow phase: shadow configured, stage weight 0.
pub fn shadow_ctx(platform: &str) -> Value {
    let mut c = ctx(platform);
    c["shadow"] = json!({"percent": 10, "duration": "30m", "durationSeconds": 1800});
    c["stage"] = json!({"index": 0, "weight": 0, "pause": "30m", "pauseSeconds": 1800, "start": 0, "elapsed": "0s"});
    c
}

/// Validates `value` against tests/crd-schemas/<file>; returns the error messages.
pub fn schema_errors(file: &str, value: &Value) -> Vec<String> {
    let path = format!("{}/tests/crd-schemas/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let schema: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    let validator = jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{path}: {e}"));
    validator
        .iter_errors(value)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}
