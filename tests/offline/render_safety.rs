//! Injection safety (values are whole JSON scalars), strict undefined values, and template overrides
//! (used when named right, refused when named wrong, syntax errors reported with file and line).

use crate::support::render as render_support;

use std::fs;

use mlcanary::render::{to_yaml_stream, RenderError, Renderer};
use render_support::{ctx, shadow_ctx};
use serde_json::{json, Value};

const EVIL_URI: &str = "s3://x\n  evil: true";
const EVIL_NAME: &str = "fraud\"{{ 7 * 7 }}\"\n---\nkind: Secret";

/// Every mapping key anywhere in `v`.
fn keys(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => map.iter().for_each(|(k, v)| {
            out.push(k.clone());
            keys(v, out)
        }),
        Value::Array(items) => items.iter().for_each(|v| keys(v, out)),
        _ => {}
    }
}

fn all_keys(values: &[Value]) -> Vec<String> {
    let mut out = Vec::new();
    values.iter().for_each(|v| keys(v, &mut out));
    out
}

/// Every string anywhere in `v`.
fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Object(map) => map.values().for_each(|v| strings(v, out)),
        Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
        _ => {}
    }
}

fn hostile(mut c: Value) -> Value {
    c["model"]["uri"] = json!(EVIL_URI);
    c["model"]["version"] = json!(EVIL_NAME);
    c["resource"] = json!(EVIL_NAME);
    c
}

#[test]
fn hostile_values_stay_one_scalar_on_every_platform() {
    let renderer = Renderer::new(None).unwrap();
    for platform in [
        "kserve",
        "seldon",
        "seldon-v2",
        "argo-drive",
        "argo-watch",
        "azureml",
    ] {
        let clean = renderer.manifests(&ctx(platform)).unwrap();
        let evil = renderer.manifests(&hostile(ctx(platform))).unwrap();
        assert_eq!(
            evil.len(),
            clean.len(),
            "{platform}: a value added a document"
        );
        let clean_values: Vec<Value> = clean.into_iter().map(|m| m.value).collect();
        let evil_values: Vec<Value> = evil.iter().map(|m| m.value.clone()).collect();
        let evil_keys = all_keys(&evil_values);
        assert!(
            !evil_keys.iter().any(|k| k == "evil"),
            "{platform}: key injected: {evil_keys:?}"
        );
        assert_eq!(
            evil_keys.len(),
            all_keys(&clean_values).len(),
            "{platform}: key count changed"
        );
        let mut found = Vec::new();
        evil_values.iter().for_each(|v| strings(v, &mut found));
        if platform != "azureml" {
            assert!(
                found.iter().any(|s| s == EVIL_URI),
                "{platform}: uri not kept verbatim"
            );
        }
        if ["kserve", "seldon", "seldon-v2", "argo-drive"].contains(&platform) {
            let object = evil
                .iter()
                .find(|m| m.kind != "Model" && m.kind != "AnalysisTemplate")
                .unwrap();
            assert_eq!(
                object.name, EVIL_NAME,
                "{platform}: name not kept verbatim (no template evaluation)"
            );
        }
        // The printed stream is just as safe.
        let stream = to_yaml_stream(&evil);
        let docs: Vec<Value> = yaml_serde::Deserializer::from_str(&stream)
            .map(|d| serde::Deserialize::deserialize(d).unwrap())
            .collect();
        assert_eq!(docs, evil_values, "{platform}: stream differs");
    }
}

#[test]
fn kserve_storage_uri_is_exactly_the_hostile_string() {
    let m = Renderer::new(None)
        .unwrap()
        .manifests(&hostile(ctx("kserve")))
        .unwrap()
        .remove(0);
    assert_eq!(
        m.value["spec"]["predictor"]["model"]["storageUri"],
        EVIL_URI
    );
    assert!(m.value["spec"]["predictor"]["model"].get("evil").is_none());
    assert_eq!(m.value["metadata"]["name"], EVIL_NAME);
}

#[test]
fn hostile_azure_deployment_names_cannot_add_traffic_entries() {
    let mut c = shadow_ctx("azureml");
    c["target"]["canaryDeployment"] = json!("green\": 100, \"red");
    let ep = Renderer::new(None)
        .unwrap()
        .manifests(&c)
        .unwrap()
        .remove(1);
    let traffic = ep.value["properties"]["traffic"].as_object().unwrap();
    assert_eq!(traffic.len(), 2);
    assert_eq!(traffic["green\": 100, \"red"], 0);
    assert_eq!(
        ep.value["properties"]["mirrorTraffic"]
            .as_object()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn a_missing_value_is_an_error_naming_template_and_line() {
    let mut c = ctx("argo-drive");
    c["target"].as_object_mut().unwrap().remove("image");
    let err = Renderer::new(None).unwrap().manifests(&c).unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, RenderError::Template { line: Some(_), .. }),
        "{err:?}"
    );
    assert!(text.contains("templates/argo-rollout.yaml line "), "{text}");
    assert!(text.contains("undefined"), "{text}");
}

#[test]
fn unknown_platform_and_seldon_format_are_errors() {
    let renderer = Renderer::new(None).unwrap();
    let mut c = ctx("kserve");
    c["target"]["platform"] = json!("sagemaker");
    assert!(matches!(
        renderer.manifests(&c),
        Err(RenderError::Context(_))
    ));
    let mut c = ctx("seldon");
    c["model"]["format"] = json!("onnx");
    let text = renderer.manifests(&c).unwrap_err().to_string();
    assert!(
        text.contains("seldon-deployment.yaml") && text.contains("target.implementation"),
        "{text}"
    );
    c["target"]["implementation"] = json!("TRITON_SERVER");
    let m = renderer.manifests(&c).unwrap().remove(0);
    assert_eq!(
        m.value["spec"]["predictors"][1]["graph"]["implementation"],
        "TRITON_SERVER"
    );
}

#[test]
fn an_override_replaces_the_builtin_of_the_same_name() {
    let dir = tempfile::tempdir().unwrap();
    let custom = "apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\nmetadata:\n  name: {{ resource }}\n  \
                  labels:\n    team: {{ target.team }}\nspec:\n  predictor:\n    canaryTrafficPercent: {{ stage.weight }}\n";
    fs::write(dir.path().join("kserve-inferenceservice.yaml"), custom).unwrap();
    fs::write(dir.path().join(".gitkeep"), "").unwrap();
    let mut c = ctx("kserve");
    c["target"]["team"] = json!("fraud\nevil: 1");
    let m = Renderer::new(Some(dir.path()))
        .unwrap()
        .manifests(&c)
        .unwrap()
        .remove(0);
    assert_eq!(
        m.value["metadata"]["labels"],
        json!({"team": "fraud\nevil: 1"}),
        "override used and still escaped"
    );
    assert!(m.value["spec"]["predictor"].get("model").is_none());
    // The other platforms keep their built-ins.
    let seldon = Renderer::new(Some(dir.path()))
        .unwrap()
        .manifests(&ctx("seldon"))
        .unwrap();
    assert_eq!(seldon[0].kind, "SeldonDeployment");
}

#[test]
fn an_override_with_an_unknown_name_is_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("kserve.yaml"), "kind: x\n").unwrap();
    let err = Renderer::new(Some(dir.path())).unwrap_err();
    assert!(
        matches!(err, RenderError::UnknownOverride { .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("kserve.yaml") && text.contains("kserve-inferenceservice.yaml"),
        "{text}"
    );
}

#[test]
fn an_override_with_a_syntax_error_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let broken = "apiVersion: v1\nkind: X\nmetadata:\n  name: {{ resource }}\n{% if stage.weight %}\nspec: {}\n";
    let path = dir.path().join("seldon-v2-model.yaml");
    fs::write(&path, broken).unwrap();
    let err = Renderer::new(Some(dir.path())).unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, RenderError::Syntax { line: Some(_), .. }),
        "{err:?}"
    );
    assert!(text.contains(&path.display().to_string()), "{text}");
    assert!(text.contains(" line "), "{text}");

    fs::write(&path, "a: 1\nb: {{ 1 +\n").unwrap();
    let text = Renderer::new(Some(dir.path())).unwrap_err().to_string();
    assert!(text.contains("seldon-v2-model.yaml line 2"), "{text}");
}

#[test]
fn a_render_error_in_an_override_names_the_override_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kserve-inferenceservice.yaml");
    fs::write(
        &path,
        "apiVersion: v1\nkind: X\nmetadata:\n  name: {{ target.nope }}\n",
    )
    .unwrap();
    let text = Renderer::new(Some(dir.path()))
        .unwrap()
        .manifests(&ctx("kserve"))
        .unwrap_err()
        .to_string();
    assert!(
        text.contains(&format!("{} line 4", path.display())),
        "{text}"
    );
}

#[test]
fn an_override_that_renders_no_name_is_invalid() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("kserve-inferenceservice.yaml"),
        "apiVersion: v1\nkind: X\nmetadata: {}\n",
    )
    .unwrap();
    let err = Renderer::new(Some(dir.path()))
        .unwrap()
        .manifests(&ctx("kserve"))
        .unwrap_err();
    assert!(matches!(err, RenderError::Invalid { .. }), "{err:?}");
    assert!(err.to_string().contains("/metadata/name"), "{err}");
}

#[cfg(unix)]
#[test]
fn an_override_may_not_resolve_outside_the_folder() {
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("secret.yaml");
    fs::write(&secret, "kind: Secret\n").unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(&secret, dir.path().join("kserve-inferenceservice.yaml")).unwrap();
    let err = Renderer::new(Some(dir.path())).unwrap_err();
    assert!(matches!(err, RenderError::OutsideDir { .. }), "{err:?}");
}

#[test]
fn a_missing_templates_folder_is_an_error_naming_it() {
    let err = Renderer::new(Some(std::path::Path::new(
        "/nonexistent/mlcanary-templates",
    )))
    .unwrap_err();
    assert!(
        err.to_string().contains("/nonexistent/mlcanary-templates"),
        "{err}"
    );
}

#[test]
fn render_str_is_plain_text_with_strict_undefined() {
    let renderer = Renderer::new(None).unwrap();
    let c = ctx("kserve");
    let q = renderer
        .render_str(
            "guardrail error-rate query",
            "rate(x{revision=\"{{ canary.name }}\"}[{{ stage.elapsed }}])",
            &c,
        )
        .unwrap();
    assert_eq!(q, "rate(x{revision=\"fraud-detector-canary\"}[0s])");
    let body = renderer
        .render_str("notify body", "{\"text\": {{ name | tojson }}}", &c)
        .unwrap();
    assert_eq!(body, "{\"text\": \"fraud-detector\"}");
    let err = renderer
        .render_str("guardrail x query", "{{ canary.nope }}", &c)
        .unwrap_err();
    assert!(
        err.to_string().contains("guardrail x query line 1"),
        "{err}"
    );
    let err = renderer.render_str("url", "{{ a", &c).unwrap_err();
    assert!(matches!(err, RenderError::Syntax { .. }), "{err:?}");
    assert_eq!(
        renderer
            .render_str("d", "{{ 5400 | duration }}", &c)
            .unwrap(),
        "1h30m"
    );
}

#[test]
fn builtin_names_match_the_templates_folder_and_docs() {
    let mut on_disk: Vec<String> = fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/templates"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    on_disk.sort();
    let mut names: Vec<String> = Renderer::builtin_names()
        .iter()
        .map(|s| s.to_string())
        .collect();
    names.sort();
    assert_eq!(names, on_disk);
    let docs =
        fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/templates.md")).unwrap();
    for name in Renderer::builtin_names() {
        assert!(
            docs.contains(name),
            "docs/templates.md does not document {name}"
        );
    }
}

#[test]
fn argo_watch_without_a_judgeable_guardrail_is_refused() {
    let mut c = ctx("argo-watch");
    c["guardrails"] = json!([c["guardrails"][2].clone()]);
    let err = Renderer::new(None).unwrap().manifests(&c).unwrap_err();
    assert!(err.to_string().contains("mode watch"), "{err}");
    c["target"]["mode"] = json!("drive");
    assert_eq!(Renderer::new(None).unwrap().manifests(&c).unwrap().len(), 1);
}
