//! The JSON schema of the config (draft-07, for yaml-language-server), generated from the types.
//! The committed copy lives at `schemas/mlcanary.schema.json`; a test fails when it is stale.

use super::types::Config;

/// The schema as pretty JSON with a trailing newline.
pub fn schema_json() -> String {
    let settings = schemars::generate::SchemaSettings::draft07();
    let generator = settings.into_generator();
    let schema = generator.into_root_schema_for::<Config>();
    let mut value = serde_json::to_value(&schema).expect("schema serialises");
    // `target` accepts extra keys (template values); say so to editors.
    if let Some(t) = value.pointer_mut("/definitions/Target") {
        t["additionalProperties"] = serde_json::json!(true);
    }
    describe_defaults(&mut value);
    let mut s = serde_json::to_string_pretty(&value).expect("schema serialises");
    s.push('\n');
    s
}

/// Editors show a key's description on hover: append its default (`Default: 5m.`) so the meaning
/// and the value that applies when the key is left out show together. Generated from the same
/// serde defaults the loader applies, so it cannot drift. Object defaults (whole sections) are left
/// to their own keys.
fn describe_defaults(schema: &mut serde_json::Value) {
    if let Some(p) = schema.get_mut("properties") {
        add_defaults(p);
    }
    if let Some(defs) = schema
        .get_mut("definitions")
        .and_then(|d| d.as_object_mut())
    {
        for def in defs.values_mut() {
            if let Some(p) = def.get_mut("properties") {
                add_defaults(p);
            }
        }
    }
}

fn add_defaults(props: &mut serde_json::Value) {
    let Some(props) = props.as_object_mut() else {
        return;
    };
    for p in props.values_mut() {
        let Some(default) = p.get("default").cloned() else {
            continue;
        };
        let shown = match &default {
            serde_json::Value::Object(_) => continue,
            serde_json::Value::Array(a) if a.is_empty() => continue,
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let desc = p.get("description").and_then(|d| d.as_str()).unwrap_or("");
        let sep = match desc.trim_end().chars().last() {
            None => "",
            Some('.') => " ",
            Some(_) => ". ",
        };
        p["description"] = serde_json::json!(format!("{}{sep}Default: {shown}.", desc.trim_end()));
    }
}
