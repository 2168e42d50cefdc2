//! Every built-in template rendered from the documented context: insta snapshots, validation against
//! schemas written from the upstream CRDs (tests/crd-schemas), and the platforms' own admission rules
//! (Seldon traffic sums, Azure traffic/mirrorTraffic sums, Argo step shapes).

use crate::support::render as render_support;

use mlcanary::render::{argo_unsupported, to_yaml_stream, Manifest, Renderer};
use render_support::{ctx, schema_errors, shadow_ctx};
use serde_json::{json, Value};

fn render(c: &Value) -> Vec<Manifest> {
    Renderer::new(None).unwrap().manifests(c).unwrap()
}

fn at_weight(mut c: Value, weight: i64) -> Value {
    c["stage"]["weight"] = json!(weight);
    c
}

/// Every case the snapshots and schema checks cover: (snapshot name, context).
fn cases() -> Vec<(&'static str, Value)> {
    let mut live_seldon = ctx("seldon");
    live_seldon["stable"]["predictor"] = json!({"name": "main", "replicas": 2, "traffic": 100,
        "graph": {"name": "classifier", "implementation": "SKLEARN_SERVER", "modelUri": "s3://models/fraud-detector-v1/"},
        "componentSpecs": [{"spec": {"containers": [{"name": "classifier", "resources": {"requests": {"cpu": "1"}}}]}}]});
    vec![
        ("kserve", ctx("kserve")),
        ("kserve-promoted", at_weight(ctx("kserve"), 100)),
        ("seldon", ctx("seldon")),
        ("seldon-live-stable", live_seldon),
        ("seldon-shadow", shadow_ctx("seldon")),
        ("seldon-v2", ctx("seldon-v2")),
        ("seldon-v2-shadow", shadow_ctx("seldon-v2")),
        ("argo-drive", ctx("argo-drive")),
        ("argo-watch", ctx("argo-watch")),
        ("azureml", ctx("azureml")),
        ("azureml-shadow", shadow_ctx("azureml")),
    ]
}

#[test]
fn snapshots_of_every_template() {
    for (name, c) in cases() {
        insta::assert_snapshot!(name, to_yaml_stream(&render(&c)));
    }
}

#[test]
fn plans_render_the_expected_objects_in_apply_order() {
    let kinds = |c: &Value| {
        render(c)
            .iter()
            .map(|m| format!("{}/{}", m.kind, m.name))
            .collect::<Vec<_>>()
    };
    assert_eq!(kinds(&ctx("kserve")), ["InferenceService/fraud-detector"]);
    assert_eq!(kinds(&ctx("seldon")), ["SeldonDeployment/fraud-detector"]);
    assert_eq!(
        kinds(&ctx("seldon-v2")),
        ["Model/fraud-v2", "Experiment/fraud-detector"]
    );
    assert_eq!(kinds(&ctx("argo-drive")), ["Rollout/fraud-detector"]);
    assert_eq!(
        kinds(&ctx("argo-watch")),
        [
            "AnalysisTemplate/fraud-detector-guardrails",
            "Rollout/fraud-detector"
        ]
    );
    assert_eq!(
        kinds(&ctx("azureml")),
        ["AzureMLDeployment/green", "AzureMLEndpoint/fraud-endpoint"]
    );
    let mut no_deployment = ctx("azureml");
    no_deployment["target"]
        .as_object_mut()
        .unwrap()
        .remove("deployment");
    assert_eq!(kinds(&no_deployment), ["AzureMLEndpoint/fraud-endpoint"]);
    let azure = render(&ctx("azureml"));
    assert!(azure
        .iter()
        .all(|m| m.api_version == "2025-12-01" && !m.is_kubernetes()));
}

#[test]
fn kubernetes_objects_are_valid_against_the_crd_schemas() {
    for (name, c) in cases() {
        for m in render(&c).iter().filter(|m| m.is_kubernetes()) {
            let errors = schema_errors(&format!("{}.json", m.kind), &m.value);
            assert!(
                errors.is_empty(),
                "{name}: {} {}: {errors:#?}",
                m.kind,
                m.name
            );
        }
    }
}

#[test]
fn schemas_reject_misspelled_fields_and_missing_required_ones() {
    for (name, c) in cases() {
        for m in render(&c).iter().filter(|m| m.is_kubernetes()) {
            let schema = format!("{}.json", m.kind);
            let mut typo = m.value.clone();
            typo["spec"]["stratgey"] = json!(1);
            assert!(
                !schema_errors(&schema, &typo).is_empty(),
                "{name}: {} accepts an unknown spec field",
                m.kind
            );
            let mut no_name = m.value.clone();
            no_name["metadata"].as_object_mut().unwrap().remove("name");
            assert!(
                !schema_errors(&schema, &no_name).is_empty(),
                "{name}: {} accepts no metadata.name",
                m.kind
            );
        }
    }
    // Deeper structural fields, one per schema.
    let isvc = render(&ctx("kserve")).remove(0);
    let mut bad = isvc.value.clone();
    bad["spec"]["predictor"]["canaryTrafficPercnt"] = json!(5);
    assert!(!schema_errors("InferenceService.json", &bad).is_empty());
    let mut bad = isvc.value.clone();
    bad["spec"]["predictor"]["canaryTrafficPercent"] = json!("5");
    assert!(!schema_errors("InferenceService.json", &bad).is_empty());
    let rollout = render(&ctx("argo-drive")).remove(0);
    let mut bad = rollout.value.clone();
    bad["spec"]["strategy"]["canary"]["steps"][0] = json!({"setWeight": 5, "pause": {}});
    assert!(
        !schema_errors("Rollout.json", &bad).is_empty(),
        "one action per step"
    );
    let at = render(&ctx("argo-watch")).remove(0);
    let mut bad = at.value.clone();
    bad["spec"]["metrics"][0]["provider"]["prometheus"]["adress"] = json!("x");
    assert!(!schema_errors("AnalysisTemplate.json", &bad).is_empty());
    let sdep = render(&ctx("seldon")).remove(0);
    let mut bad = sdep.value.clone();
    bad["spec"]["predictors"][1]["graph"]
        .as_object_mut()
        .unwrap()
        .remove("name");
    assert!(!schema_errors("SeldonDeployment.json", &bad).is_empty());
}

fn seldon_admission(value: &Value) -> Result<(), String> {
    let predictors = value["spec"]["predictors"].as_array().unwrap();
    let shadows = predictors
        .iter()
        .filter(|p| p["shadow"] == json!(true))
        .count();
    let live: Vec<_> = predictors
        .iter()
        .filter(|p| p["shadow"] != json!(true))
        .collect();
    if shadows > 1 {
        return Err("more than one shadow".into());
    }
    let sum: i64 = live
        .iter()
        .map(|p| p["traffic"].as_i64().unwrap_or(0))
        .sum();
    if live.len() > 1 && sum != 100 {
        return Err(format!("traffic sums to {sum}"));
    }
    Ok(())
}

#[test]
fn seldon_v1_traffic_follows_the_stage_and_passes_admission_rules() {
    for weight in [0, 5, 25, 50] {
        let m = render(&at_weight(ctx("seldon"), weight)).remove(0);
        seldon_admission(&m.value).unwrap();
        let p = &m.value["spec"]["predictors"];
        assert_eq!(
            (p[0]["name"].as_str(), p[0]["traffic"].as_i64()),
            (Some("main"), Some(100 - weight))
        );
        assert_eq!(
            (p[1]["name"].as_str(), p[1]["traffic"].as_i64()),
            (Some("canary"), Some(weight))
        );
        assert_eq!(p[1]["graph"]["modelUri"], "s3://models/fraud-detector-v2/");
    }
    // At 100% the object `promote` leaves live: the stable predictor alone, on the new graph.
    let m = render(&at_weight(ctx("seldon"), 100)).remove(0);
    seldon_admission(&m.value).unwrap();
    let p = m.value["spec"]["predictors"].as_array().unwrap();
    assert_eq!(p.len(), 1, "{}", m.value);
    assert_eq!(
        (p[0]["name"].as_str(), p[0]["traffic"].as_i64()),
        (Some("main"), Some(100))
    );
    assert_eq!(p[0]["graph"]["modelUri"], "s3://models/fraud-detector-v2/");
    let shadow = render(&shadow_ctx("seldon")).remove(0);
    seldon_admission(&shadow.value).unwrap();
    assert_eq!(shadow.value["spec"]["predictors"][1]["shadow"], true);
    assert!(shadow.value["spec"]["predictors"][1]
        .get("traffic")
        .is_none());
    assert!(
        seldon_admission(&json!({"spec": {"predictors": [{"traffic": 60}, {"traffic": 60}]}}))
            .is_err()
    );
}

#[test]
fn seldon_v1_keeps_the_live_stable_predictor_and_only_sets_its_traffic() {
    let mut c = ctx("seldon");
    c["stable"]["predictor"] = json!({"name": "main", "replicas": 2, "traffic": 100, "shadow": false,
        "graph": {"name": "classifier", "implementation": "SKLEARN_SERVER", "modelUri": "s3://v1"}});
    let m = render(&c).remove(0);
    let stable = &m.value["spec"]["predictors"][0];
    assert_eq!(stable["replicas"], 2);
    assert_eq!(stable["traffic"], 95);
    assert_eq!(stable["graph"]["modelUri"], "s3://v1");
    assert!(stable.get("shadow").is_none());
}

#[test]
fn seldon_v2_experiment_splits_by_weight_and_mirrors_in_shadow() {
    let exp = render(&at_weight(ctx("seldon-v2"), 25)).remove(1);
    assert_eq!(exp.value["spec"]["default"], "fraud-v1");
    assert_eq!(
        exp.value["spec"]["candidates"],
        json!([{"name": "fraud-v1", "weight": 75}, {"name": "fraud-v2", "weight": 25}])
    );
    let shadow = render(&shadow_ctx("seldon-v2")).remove(1);
    assert_eq!(
        shadow.value["spec"]["candidates"],
        json!([{"name": "fraud-v1", "weight": 100}])
    );
    assert_eq!(
        shadow.value["spec"]["mirror"],
        json!({"name": "fraud-v2", "percent": 10})
    );
}

#[test]
fn kserve_sets_canary_percent_until_promotion() {
    let m = render(&ctx("kserve")).remove(0);
    assert_eq!(m.value["spec"]["predictor"]["canaryTrafficPercent"], 5);
    assert_eq!(
        m.value["spec"]["predictor"]["model"]["storageUri"],
        "s3://models/fraud-detector-v2/"
    );
    assert_eq!(
        m.value["spec"]["predictor"]["model"]["modelFormat"]["name"],
        "sklearn"
    );
    let promoted = render(&at_weight(ctx("kserve"), 100)).remove(0);
    assert!(promoted.value["spec"]["predictor"]
        .get("canaryTrafficPercent")
        .is_none());
}

#[test]
fn argo_drive_pauses_indefinitely_and_watch_runs_analysis() {
    let drive = render(&ctx("argo-drive")).remove(0);
    let steps = &drive.value["spec"]["strategy"]["canary"]["steps"];
    assert_eq!(
        steps,
        &json!([{"setWeight": 5}, {"pause": {}}, {"setWeight": 25}, {"pause": {}}])
    );
    let watch = render(&ctx("argo-watch"));
    let steps = &watch[1].value["spec"]["strategy"]["canary"]["steps"];
    // The AnalysisTemplate's queries name revisions through args the step fills with pod-template hashes.
    let analysis = json!({"analysis": {
        "templates": [{"templateName": "fraud-detector-guardrails"}],
        "args": [
            {"name": "canary-hash", "valueFrom": {"podTemplateHashValue": "Latest"}},
            {"name": "stable-hash", "valueFrom": {"podTemplateHashValue": "Stable"}}
        ]
    }});
    assert_eq!(
        steps,
        &json!([{"setWeight": 5}, {"pause": {"duration": "5m"}}, analysis,
                              {"setWeight": 25}, {"pause": {"duration": "10m"}}, analysis])
    );
    let container = &drive.value["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        container["env"][0],
        json!({"name": "MODEL_URI", "value": "s3://models/fraud-detector-v2/"})
    );
    assert_eq!(
        drive.value["spec"]["selector"]["matchLabels"],
        drive.value["spec"]["template"]["metadata"]["labels"]
            .as_object()
            .map(|l| json!({"app.kubernetes.io/name": l["app.kubernetes.io/name"]}))
            .unwrap()
    );
}

#[test]
fn argo_analysis_template_translates_zones_and_limits() {
    let at = render(&ctx("argo-watch")).remove(0);
    let metrics = at.value["spec"]["metrics"].as_array().unwrap();
    assert_eq!(metrics.len(), 2, "PSI guardrail left out");
    let err = &metrics[0];
    assert_eq!(err["successCondition"], "result[0] < 0.005");
    assert_eq!(err["failureCondition"], "result[0] > 0.01");
    assert_eq!(err["failureLimit"], 0, "critical");
    assert_eq!(
        (
            err["inconclusiveLimit"].as_i64(),
            err["consecutiveErrorLimit"].as_i64()
        ),
        (Some(3), Some(4))
    );
    assert_eq!(
        (
            err["interval"].as_str(),
            err["initialDelay"].as_str(),
            err["count"].as_i64()
        ),
        (Some("1m"), Some("30s"), Some(5))
    );
    let lat = &metrics[1];
    let q = lat["provider"]["prometheus"]["query"].as_str().unwrap();
    assert!(
        q.starts_with("(histogram_quantile(") && q.contains(")) / (histogram_quantile("),
        "{q}"
    );
    assert_eq!(lat["successCondition"], "result[0] < 1.1");
    assert_eq!(
        at.value["spec"]["dryRun"],
        json!([{"metricName": "latency-p99"}])
    );
    assert_eq!(argo_unsupported(&ctx("argo-watch")), ["prediction-drift"]);
    assert_eq!(
        at.value["metadata"]["annotations"]["mlcanary.io/not-judged-by-argo"],
        "prediction-drift"
    );

    let mut c = ctx("argo-watch");
    c["analysis"]["failureLimit"] = json!(2);
    c["guardrails"][0]["provider"]["headers"] = json!({"X-Scope-OrgID": "ml"});
    let at = render(&c).remove(0);
    assert_eq!(
        at.value["spec"]["metrics"][0]["failureLimit"], 0,
        "critical stays 0"
    );
    assert_eq!(at.value["spec"]["metrics"][1]["failureLimit"], 2);
    assert_eq!(
        at.value["spec"]["metrics"][0]["provider"]["prometheus"]["headers"],
        json!([{"key": "X-Scope-OrgID", "value": "ml"}])
    );
}

fn percent_sum(map: &Value) -> i64 {
    map.as_object()
        .unwrap()
        .values()
        .map(|v| v.as_i64().unwrap())
        .sum()
}

#[test]
fn azure_bodies_have_required_properties_and_valid_traffic() {
    for weight in [0, 5, 50, 100] {
        let ep = render(&at_weight(ctx("azureml"), weight)).remove(1);
        let props = &ep.value["properties"];
        assert_eq!(percent_sum(&props["traffic"]), 100, "weight {weight}");
        assert_eq!(props["traffic"]["green"], weight);
        assert_eq!(percent_sum(&props["mirrorTraffic"]), 0);
        assert_eq!(ep.value["location"], "westeurope");
        assert_eq!(props["authMode"], "Key");
    }
    let ep = render(&shadow_ctx("azureml")).remove(1);
    let mirror = &ep.value["properties"]["mirrorTraffic"];
    assert_eq!(mirror, &json!({"green": 10}));
    assert!(percent_sum(mirror) <= 50);
    assert_eq!(percent_sum(&ep.value["properties"]["traffic"]), 100);

    let dep = render(&ctx("azureml")).remove(0);
    for ptr in [
        "/location",
        "/properties/endpointComputeType",
        "/properties/model",
        "/properties/environmentId",
        "/properties/instanceType",
        "/sku/capacity",
    ] {
        assert!(
            dep.value.pointer(ptr).is_some_and(|v| !v.is_null()),
            "deployment body lacks {ptr}"
        );
    }
    assert_eq!(dep.value["properties"]["endpointComputeType"], "Managed");
}

#[test]
fn yaml_stream_parses_back_to_the_same_objects() {
    for (name, c) in cases() {
        let manifests = render(&c);
        let stream = to_yaml_stream(&manifests);
        let docs: Vec<Value> = yaml_serde::Deserializer::from_str(&stream)
            .map(|d| serde::Deserialize::deserialize(d).unwrap())
            .collect();
        let values: Vec<Value> = manifests.into_iter().map(|m| m.value).collect();
        assert_eq!(docs, values, "{name}");
    }
}

/// `kubectl kustomize` parses a resource file exactly as `kubectl apply -f` reads it (multi-document YAML,
/// every object needing apiVersion, kind and metadata.name) and needs no cluster.
#[test]
fn kubectl_reads_the_stream_as_kubernetes_objects() {
    if std::process::Command::new("kubectl")
        .arg("version")
        .arg("--client")
        .output()
        .is_err()
    {
        eprintln!("kubectl not installed: skipping");
        return;
    }
    for (name, c) in cases()
        .into_iter()
        .filter(|(n, _)| !n.starts_with("azureml"))
    {
        let manifests = render(&c);
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("rendered.yaml"), to_yaml_stream(&manifests)).unwrap();
        std::fs::write(
            dir.path().join("kustomization.yaml"),
            "resources: [rendered.yaml]\n",
        )
        .unwrap();
        let out = std::process::Command::new("kubectl")
            .arg("kustomize")
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut docs: Vec<Value> =
            yaml_serde::Deserializer::from_str(std::str::from_utf8(&out.stdout).unwrap())
                .map(|d| serde::Deserialize::deserialize(d).unwrap())
                .collect();
        let mut values: Vec<Value> = manifests.into_iter().map(|m| m.value).collect();
        let key = |v: &Value| format!("{}/{}", v["kind"], v["metadata"]["name"]);
        docs.sort_by_key(key);
        values.sort_by_key(key);
        assert_eq!(docs, values, "{name}: kubectl read something else");
    }
}

/// With `compare:` the drive-mode Rollout starts with the comparison's steps (canary pods held at
/// weight 0, then the canary's scale back to the weight), valid against Argo's CRD schema; watch
/// mode (refused by validation with `compare:`) and a config without it render no such steps.
#[test]
fn argo_drive_with_compare_holds_canary_pods_at_weight_zero_first() {
    let mut c = ctx("argo-drive");
    c["compare"] = json!(true);
    c["target"]["trafficRouting"] = json!({"nginx": {"stableIngress": "fraud"}});
    c["target"]["canaryReplicas"] = json!(2);
    let rollout = render(&c).remove(0);
    let errors = schema_errors("Rollout.json", &rollout.value);
    assert!(errors.is_empty(), "{errors:#?}");
    let steps = rollout.value["spec"]["strategy"]["canary"]["steps"].clone();
    assert_eq!(
        steps.as_array().unwrap()[..5],
        [
            json!({"setCanaryScale": {"replicas": 2}}),
            json!({"setWeight": 0}),
            json!({"pause": {}}),
            json!({"setCanaryScale": {"matchTrafficWeight": true}}),
            steps[4].clone(),
        ]
    );
    assert!(steps[4]["setWeight"].as_u64().unwrap() > 0, "{steps}");
    let plain = render(&ctx("argo-drive")).remove(0);
    assert_eq!(
        plain.value["spec"]["strategy"]["canary"]["steps"]
            .as_array()
            .unwrap()
            .len()
            + 4,
        steps.as_array().unwrap().len()
    );
    let mut watch = ctx("argo-watch");
    watch["compare"] = json!(true);
    let w = render(&watch);
    let r = w.iter().find(|m| m.kind == "Rollout").unwrap();
    assert!(
        !r.value.to_string().contains("setCanaryScale"),
        "{}",
        r.value
    );
}
