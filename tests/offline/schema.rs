//! The committed JSON schema is what the types generate, and every shipped example validates
//! against it (draft-07, as yaml-language-server reads it).

use std::path::Path;

#[test]
fn committed_schema_is_up_to_date() {
    let committed = std::fs::read_to_string("schemas/mlcanary.schema.json")
        .expect("schemas/mlcanary.schema.json exists");
    let generated = mlcanary::config::schema::schema_json();
    assert!(
        committed == generated,
        "schemas/mlcanary.schema.json is stale: run `cargo run -- schema > schemas/mlcanary.schema.json`"
    );
}

fn examples() -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = ["examples", "examples/compare"]
        .iter()
        .flat_map(|d| std::fs::read_dir(d).unwrap())
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    v.sort();
    assert!(v.len() >= 6, "one example per target");
    v
}

#[test]
fn every_example_validates_against_the_schema() {
    let schema: serde_json::Value =
        serde_json::from_str(&mlcanary::config::schema::schema_json()).unwrap();
    assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#");
    let validator = jsonschema::draft7::new(&schema).expect("the schema compiles");
    for p in examples() {
        let doc: serde_json::Value =
            yaml_serde::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&doc)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{}: {errors:#?}", p.display());
    }
}

#[test]
fn the_schema_rejects_what_the_loader_rejects() {
    let schema: serde_json::Value =
        serde_json::from_str(&mlcanary::config::schema::schema_json()).unwrap();
    let validator = jsonschema::draft7::new(&schema).unwrap();
    let base: serde_json::Value =
        yaml_serde::from_str(&std::fs::read_to_string(Path::new("examples/kserve.yaml")).unwrap())
            .unwrap();
    let bad_cases = [
        ("/analysis/interval", serde_json::json!("5 minutes")),
        ("/stages/0", serde_json::json!(0)),
        ("/guardrails/0/rollback", serde_json::json!("0.5")),
        ("/target/platform", serde_json::json!("sagemaker")),
    ];
    for (ptr, v) in bad_cases {
        let mut doc = base.clone();
        *doc.pointer_mut(ptr).unwrap() = v.clone();
        assert!(!validator.is_valid(&doc), "{ptr} = {v} should be invalid");
    }
    let mut doc = base.clone();
    doc["analysis"]["intervall"] = serde_json::json!("1m");
    assert!(!validator.is_valid(&doc), "unknown keys are refused");
}

/// Hover in an editor shows each key's meaning and its default: every property of the config
/// schema has a description, and one with a default value names it.
#[test]
fn every_property_has_a_description_with_its_default() {
    let schema: serde_json::Value =
        serde_json::from_str(&mlcanary::config::schema::schema_json()).unwrap();
    let mut sections = vec![("root".to_string(), schema.clone())];
    for (name, def) in schema["definitions"].as_object().unwrap() {
        sections.push((name.clone(), def.clone()));
    }
    let mut missing = Vec::new();
    for (name, def) in sections {
        for (key, p) in def["properties"].as_object().into_iter().flatten() {
            let desc = p["description"].as_str().unwrap_or("");
            if desc.trim().is_empty() {
                missing.push(format!("{name}.{key}: no description"));
            }
            let scalar_default = p
                .get("default")
                .filter(|d| !d.is_object() && d.as_array().is_none_or(|a| !a.is_empty()));
            if scalar_default.is_some() && !desc.contains("Default: ") {
                missing.push(format!("{name}.{key}: default not in the description"));
            }
        }
    }
    assert!(missing.is_empty(), "{missing:#?}");
    let pause = &schema["definitions"]["Analysis"]["properties"]["pause"]["description"];
    assert_eq!(pause, "Default stage pause. Default: 5m.");
}
