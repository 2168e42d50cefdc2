//! Request bodies checked against the Microsoft.MachineLearningServices REST definitions for the
//! api-version mlcanary sends (2025-12-01), as generated into azure-ai-ml's `arm_ml_service`
//! models and extracted by `scripts/azure-arm-spec.sh` into
//! `${CARGO_TARGET_DIR:-target}/azure-spec/arm-2025-12-01.json` (or `MLCANARY_AZURE_SPEC`).
//! A body naming a property the definition does not have, or one it marks read-only (visibility
//! without `create`/`update`), or lacking a required one, is refused with 400 as ARM does.
//! The exact wording of ARM's message for these cases is not in the specification: the codes and
//! messages below follow what ARM's RPC documents (`InvalidRequestContent` for a body that does
//! not deserialize) and are only matched loosely by tests.
//!
//! Without the file, tests validate nothing and say so, except under `CI=true`, where a missing
//! file fails the test: CI must not pass on an unchecked fake.

use serde_json::{Map, Value};
use std::sync::OnceLock;

pub const SPEC_API_VERSION: &str = "2025-12-01";

pub struct Spec {
    models: Map<String, Value>,
}

fn path() -> std::path::PathBuf {
    if let Ok(p) = std::env::var("MLCANARY_AZURE_SPEC") {
        return p.into();
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("azure-spec/arm-2025-12-01.json")
}

/// The loaded definitions, or `None` (with a note) when the file is missing outside CI.
pub fn spec() -> Option<&'static Spec> {
    static SPEC: OnceLock<Option<Spec>> = OnceLock::new();
    SPEC.get_or_init(|| {
        let p = path();
        let text = match std::fs::read_to_string(&p) {
            Ok(t) => t,
            Err(e) => {
                assert!(
                    std::env::var("CI").as_deref() != Ok("true"),
                    "the Azure REST definitions {} are missing ({e}): run `bash scripts/azure-arm-spec.sh` (scripts/test.sh does)",
                    p.display()
                );
                eprintln!(
                    "NOTE: {} missing: ARM request bodies are NOT checked against the REST spec; run `bash scripts/azure-arm-spec.sh`",
                    p.display()
                );
                return None;
            }
        };
        let doc: Value = serde_json::from_str(&text).expect("the spec file is JSON");
        assert_eq!(
            doc["apiVersion"], SPEC_API_VERSION,
            "{}: definitions for another api-version",
            p.display()
        );
        Some(Spec {
            models: doc["models"].as_object().cloned().unwrap_or_default(),
        })
    })
    .as_ref()
}

impl Spec {
    fn model(&self, name: &str) -> &Value {
        self.models
            .get(name)
            .unwrap_or_else(|| panic!("no definition {name}"))
    }

    /// The model and its bases, most derived first.
    fn chain(&self, name: &str) -> Vec<&Value> {
        let mut out = Vec::new();
        let mut next = Some(name.to_string());
        while let Some(n) = next {
            let m = self.model(&n);
            next = m["base"].as_str().map(String::from);
            out.push(m);
        }
        out
    }

    /// Whether `name` derives (directly or not) from `base`.
    fn derives(&self, name: &str, base: &str) -> bool {
        let mut next = self.model(name)["base"].as_str();
        while let Some(b) = next {
            if b == base {
                return true;
            }
            next = self.model(b)["base"].as_str();
        }
        false
    }

    /// A polymorphic definition resolved by its discriminator value (e.g. `endpointComputeType:
    /// Managed` -> ManagedOnlineDeployment).
    fn resolve(&self, name: &str, body: &Value) -> String {
        let Some(disc) = self
            .chain(name)
            .iter()
            .find_map(|m| m["discriminator"].as_str())
        else {
            return name.to_string();
        };
        let Some(value) = body.get(disc).and_then(Value::as_str) else {
            return name.to_string();
        };
        self.models
            .iter()
            .find(|(n, m)| m["discriminatorValue"].as_str() == Some(value) && self.derives(n, name))
            .map_or_else(|| name.to_string(), |(n, _)| n.clone())
    }

    /// Every problem of `body` as a `name` request body, as "path: problem".
    pub fn check(&self, name: &str, body: &Value) -> Vec<String> {
        let mut errs = Vec::new();
        self.check_model(name, body, "", &mut errs);
        errs
    }

    fn check_model(&self, name: &str, v: &Value, at: &str, errs: &mut Vec<String>) {
        let Some(obj) = v.as_object() else {
            errs.push(format!("{}: expected an object ({name})", show(at)));
            return;
        };
        let resolved = self.resolve(name, v);
        let chain = self.chain(&resolved);
        for (key, value) in obj {
            let here = join(at, key);
            let Some(field) = chain.iter().find_map(|m| m["fields"].get(key)) else {
                errs.push(format!(
                    "{here}: Could not find member '{key}' on object of type '{resolved}'"
                ));
                continue;
            };
            let vis: Vec<&str> = field["visibility"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if !vis.contains(&"create") && !vis.contains(&"update") {
                errs.push(format!(
                    "{here}: the property is read-only and cannot be set"
                ));
                continue;
            }
            if !value.is_null() {
                self.check_type(&field["type"], value, &here, errs);
            }
        }
        for m in &chain {
            for req in m["required"].as_array().into_iter().flatten() {
                let key = req.as_str().unwrap_or_default();
                if obj.get(key).is_none_or(Value::is_null) {
                    errs.push(format!("{}: '{key}' is required", show(at)));
                }
            }
        }
    }

    fn check_type(&self, t: &Value, v: &Value, at: &str, errs: &mut Vec<String>) {
        let ok = match t {
            Value::String(s) => match s.as_str() {
                "string" => v.is_string(),
                "integer" => v.is_i64() || v.is_u64(),
                "number" => v.is_number(),
                "boolean" => v.is_boolean(),
                _ => true,
            },
            Value::Object(o) => {
                if let Some(m) = o.get("model").and_then(Value::as_str) {
                    self.check_model(m, v, at, errs);
                    true
                } else if let Some(inner) = o.get("dict") {
                    match v.as_object() {
                        Some(map) => {
                            for (k, x) in map {
                                self.check_type(inner, x, &join(at, k), errs);
                            }
                            true
                        }
                        None => false,
                    }
                } else if let Some(inner) = o.get("list") {
                    match v.as_array() {
                        Some(items) => {
                            for (i, x) in items.iter().enumerate() {
                                self.check_type(inner, x, &format!("{at}[{i}]"), errs);
                            }
                            true
                        }
                        None => false,
                    }
                } else {
                    true
                }
            }
            _ => true,
        };
        if !ok {
            errs.push(format!("{at}: expected {t}, got {v}"));
        }
    }
}

fn join(at: &str, key: &str) -> String {
    if at.is_empty() {
        key.to_string()
    } else {
        format!("{at}.{key}")
    }
}

fn show(at: &str) -> &str {
    if at.is_empty() {
        "(body)"
    } else {
        at
    }
}

/// ARM's 400 for a body that does not match the definition, or `None` when it does (or when
/// the definitions are not available outside CI).
pub fn refuse(model: &str, body: &Value) -> Option<super::http::Resp> {
    let errs = spec()?.check(model, body);
    (!errs.is_empty()).then(|| {
        super::arm::arm_error(
            400,
            "InvalidRequestContent",
            &format!(
                "The request content was invalid and could not be deserialized: {}",
                errs.join("; ")
            ),
        )
    })
}
