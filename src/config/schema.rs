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
    let mut s = serde_json::to_string_pretty(&value).expect("schema serialises");
    s.push('\n');
    s
}
