//! Turning rendered text back into objects. Templates produce text; what leaves this module is parsed
//! data, checked for the identity every consumer needs (apiVersion, kind, metadata.name for Kubernetes;
//! a JSON object for Azure ARM bodies). Parsing back is also what makes injection visible: whatever a
//! value contained, it either stayed one scalar or the document fails here.

use serde::Deserialize;
use serde_json::Value;

use super::builtin::{Shape, AZURE_API_VERSION};
use super::RenderError;

/// One object to apply (Kubernetes) or PUT (Azure ARM body).
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// Built-in template name it was rendered from (also when overridden).
    pub template: String,
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub value: Value,
}

impl Manifest {
    /// True for Kubernetes objects, false for Azure ARM bodies.
    pub fn is_kubernetes(&self) -> bool {
        self.api_version != AZURE_API_VERSION
    }
}

/// Parses one template's output (possibly several YAML documents; empty ones are skipped).
pub(crate) fn parse(
    template: &str,
    origin: &str,
    text: &str,
    shape: Shape,
    target: &Value,
) -> Result<Vec<Manifest>, RenderError> {
    let mut docs = Vec::new();
    for doc in yaml_serde::Deserializer::from_str(text) {
        let value = Value::deserialize(doc).map_err(|e| RenderError::Parse {
            file: origin.to_string(),
            detail: e.to_string(),
        })?;
        if !value.is_null() {
            docs.push(value);
        }
    }
    let invalid = |detail: String| RenderError::Invalid {
        file: origin.to_string(),
        detail,
    };
    match shape {
        Shape::Kube => docs
            .into_iter()
            .map(|value| {
                let field = |ptr: &str| {
                    value
                        .pointer(ptr)
                        .and_then(Value::as_str)
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .ok_or_else(|| invalid(format!("missing or non-string {ptr}")))
                };
                Ok(Manifest {
                    template: template.to_string(),
                    api_version: field("/apiVersion")?,
                    kind: field("/kind")?,
                    name: field("/metadata/name")?,
                    value,
                })
            })
            .collect(),
        Shape::Azure { kind, name_key } => {
            let [value] = <[Value; 1]>::try_from(docs).map_err(|d| {
                invalid(format!("expected one JSON body, got {} documents", d.len()))
            })?;
            if !value.is_object() {
                return Err(invalid("an Azure body must be a JSON object".into()));
            }
            let name = target
                .get(name_key)
                .and_then(Value::as_str)
                .ok_or_else(|| invalid(format!("target.{name_key} is missing")))?;
            Ok(vec![Manifest {
                template: template.to_string(),
                api_version: AZURE_API_VERSION.to_string(),
                kind: kind.to_string(),
                name: name.to_string(),
                value,
            }])
        }
    }
}

/// Multi-document YAML of manifests, ready for `kubectl apply -f -`. Azure ARM bodies (not Kubernetes
/// objects) are included with a comment saying so, for `render` to show them.
/// The manifests for a CI log (`render` without `--out`): the YAML stream, byte for byte, when
/// no line of it could be read as a workflow command; otherwise that document as pretty JSON (a
/// YAML document too, and the same data) with `[` after `##` written `\u005b`, so no value is
/// edited to make the log safe. Each printed document is parsed back and compared with the
/// manifest; one that would not read back identical is refused.
pub fn to_log_stream(manifests: &[Manifest]) -> Result<String, String> {
    use crate::report::github::{safe_json, safe_text};
    let mut out = String::new();
    for m in manifests {
        let yaml = to_yaml_stream(std::slice::from_ref(m));
        let text = match safe_text(&yaml) == yaml {
            true => yaml,
            false => {
                let json = serde_json::to_string_pretty(&m.value).map_err(|e| e.to_string())?;
                format!(
                    "---\n# Source: {} (as JSON: a value holds text a CI log would read as a workflow command)\n{}\n",
                    crate::report::github::one_line(&m.template),
                    safe_json(&json)
                )
            }
        };
        let back: Value = yaml_serde::from_str(&text)
            .map_err(|e| format!("{} {}: cannot be printed faithfully: {e}", m.kind, m.name))?;
        if back != m.value || safe_text(&text) != text {
            return Err(format!(
                "{} {}: a value cannot be printed faithfully to a CI log; use --out DIR",
                m.kind, m.name
            ));
        }
        out.push_str(&text);
    }
    Ok(out)
}

pub fn to_yaml_stream(manifests: &[Manifest]) -> String {
    let mut out = String::new();
    for m in manifests {
        out.push_str("---\n");
        if m.is_kubernetes() {
            out.push_str(&format!(
                "# Source: {}\n",
                crate::report::github::one_line(&m.template)
            ));
        } else {
            out.push_str(&format!(
                "# Source: {} ({} {}: Azure ARM request body, api-version {}, not a Kubernetes object)\n",
                m.template, m.kind, m.name, m.api_version
            ));
        }
        // Serializing a serde_json::Value cannot fail: keys are strings, numbers finite.
        out.push_str(&yaml_serde::to_string(&m.value).unwrap_or_default());
    }
    out
}
