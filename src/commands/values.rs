//! Values from the pipeline: a job passes the model version it just built without editing the
//! config file. `--set KEY.PATH=VALUE` (any key path, `stages[0].weight=5` included) replaces one
//! value after the file is read; `${VAR}` in `model.*` expands from the environment. Either way the
//! result is validated again like the file itself, and a `${...}` left unresolved is an error (a
//! literal `${MODEL_URI}` must never be deployed).

use crate::config::{Config, ConfigError, Diagnostic};
use serde_json::Value;

/// One `--set` problem, reported against the file as `--set KEY: message`.
fn diag(path: &str, message: String) -> Diagnostic {
    Diagnostic {
        line: 0,
        col: 0,
        path: format!("--set {path}"),
        message,
    }
}

/// `a.b[2].c` -> ["a", "b", 2, "c"].
enum Step {
    Key(String),
    Index(usize),
}

fn steps(path: &str) -> Result<Vec<Step>, String> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (key, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if key.is_empty() && out.is_empty() {
            return Err("a key path starts with a key (model.uri, stages[0].weight)".into());
        }
        if !key.is_empty() {
            out.push(Step::Key(key.to_string()));
        }
        while let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']').ok_or("unclosed [ in the key path")?;
            let n = r[..end]
                .parse()
                .map_err(|_| format!("[{}] is not a list index", &r[..end]))?;
            out.push(Step::Index(n));
            rest = &r[end + 1..];
        }
        if !rest.is_empty() {
            return Err(format!("unexpected {rest:?} in the key path"));
        }
    }
    Ok(out)
}

/// The new value: a string where the config holds a string (so `model.version=1.10` stays
/// "1.10"), else the text read as a YAML scalar or flow value (`5`, `true`, `[1, 2]`).
fn parse_value(old: Option<&Value>, text: &str) -> Result<Value, String> {
    let string_slot = matches!(old, Some(Value::String(_)));
    if string_slot || (old.is_none() && !text.starts_with(['[', '{'])) {
        return Ok(Value::String(text.to_string()));
    }
    yaml_serde::from_str::<Value>(text).map_err(|e| format!("cannot read {text:?}: {e}"))
}

fn set_one(root: &mut Value, path: &str, text: &str) -> Result<(), String> {
    let steps = steps(path)?;
    let mut at = root;
    for (i, s) in steps.iter().enumerate() {
        let last = i + 1 == steps.len();
        match s {
            Step::Key(k) => {
                let obj = at
                    .as_object_mut()
                    .ok_or_else(|| format!("{k}: the value above it is not a mapping"))?;
                if last {
                    let v = parse_value(obj.get(k), text)?;
                    obj.insert(k.clone(), v);
                    return Ok(());
                }
                at = obj.entry(k.clone()).or_insert_with(|| match steps[i + 1] {
                    Step::Index(_) => Value::Array(Vec::new()),
                    Step::Key(_) => Value::Object(Default::default()),
                });
            }
            Step::Index(n) => {
                let arr = at
                    .as_array_mut()
                    .ok_or_else(|| format!("[{n}]: the value above it is not a list"))?;
                let len = arr.len();
                let slot = arr
                    .get_mut(*n)
                    .ok_or_else(|| format!("[{n}]: the list has {len} item(s)"))?;
                if last {
                    *slot = parse_value(Some(slot), text)?;
                    return Ok(());
                }
                at = slot;
            }
        }
    }
    Ok(())
}

/// Apply every `KEY=VALUE` to the config, then validate the result as a whole.
pub fn apply_sets(file: &str, c: Config, sets: &[String]) -> Result<Config, ConfigError> {
    if sets.is_empty() {
        return Ok(c);
    }
    let err = |diagnostics| ConfigError {
        file: file.to_string(),
        diagnostics,
    };
    let mut v = serde_json::to_value(&c).map_err(|e| err(vec![diag("", e.to_string())]))?;
    let mut problems = Vec::new();
    for s in sets {
        match s.split_once('=') {
            Some((k, val)) if !k.trim().is_empty() => {
                if let Err(m) = set_one(&mut v, k.trim(), val) {
                    problems.push(diag(k.trim(), m));
                }
            }
            _ => problems.push(diag(
                s,
                "expected KEY.PATH=VALUE, e.g. model.uri=s3://m/v2".into(),
            )),
        }
    }
    if !problems.is_empty() {
        return Err(err(problems));
    }
    let c: Config =
        serde_json::from_value(v).map_err(|e| err(vec![diag(&sets.join(" "), e.to_string())]))?;
    let problems: Vec<Diagnostic> = crate::config::validate::validate(&c, None)
        .into_iter()
        .map(|(path, message)| Diagnostic {
            line: 0,
            col: 0,
            path,
            message: format!("{message} (after --set)"),
        })
        .collect();
    match problems.is_empty() {
        true => Ok(c),
        false => Err(err(problems)),
    }
}

/// Expand `${VAR}` in `model.uri`, `model.format` and `model.version`; every `${...}` left (an
/// unset variable, an unclosed `${`) is a diagnostic placed on its key.
pub fn expand_model(
    file: &str,
    text: &str,
    c: &mut Config,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    let positions = crate::config::position::Positions::build(text);
    let mut problems = Vec::new();
    let mut one = |key: &'static str, value: &mut String| {
        if !value.contains("${") {
            return;
        }
        match crate::notify::expand(value, key, env) {
            Ok(v) => *value = v,
            Err(e) => {
                let pos = positions.find(key);
                problems.push(Diagnostic {
                    line: pos.map_or(1, |p| p.line),
                    col: pos.map_or(1, |p| p.col),
                    path: key.to_string(),
                    message: format!(
                        "{e}: pass it in the job's environment, or the value with --set {key}=..."
                    ),
                });
            }
        }
    };
    one("model.uri", &mut c.model.uri);
    if let Some(f) = c.model.format.as_mut() {
        one("model.format", f);
    }
    if let Some(v) = c.model.version.as_mut() {
        one("model.version", v);
    }
    match problems.is_empty() {
        true => Ok(()),
        false => Err(ConfigError {
            file: file.to_string(),
            diagnostics: problems,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "apiVersion: mlcanary/v1\nname: fraud\nmodel:\n  uri: ${MODEL_URI}\n  version: v${BUILD}\n  format: sklearn\ntarget: {platform: kserve, namespace: ml}\nstages: [{weight: 10}]\nproviders: {prom: {type: prometheus, address: \"http://p:9090\"}}\nguardrails:\n  - {name: e, provider: prom, query: q, rollback: \"> 1%\"}\n";

    fn config() -> Config {
        crate::config::load_str("c.yaml", BASE, None).unwrap()
    }

    #[test]
    fn model_values_expand_from_the_environment() {
        let mut c = config();
        let env = |k: &str| match k {
            "MODEL_URI" => Some("s3://m/v42".to_string()),
            "BUILD" => Some("42".to_string()),
            _ => None,
        };
        expand_model("c.yaml", BASE, &mut c, &env).unwrap();
        assert_eq!(c.model.uri, "s3://m/v42");
        assert_eq!(c.model.version.as_deref(), Some("v42"));
    }

    #[test]
    fn an_unresolved_variable_is_refused_on_its_line() {
        let mut c = config();
        let e = expand_model("c.yaml", BASE, &mut c, &|_| None).unwrap_err();
        let d = &e.diagnostics[0];
        assert_eq!((d.path.as_str(), d.line), ("model.uri", 4), "{e}");
        assert!(d.message.starts_with("${MODEL_URI} is not set"), "{e}");
        assert_eq!(e.diagnostics[1].path, "model.version");
    }

    #[test]
    fn set_replaces_any_key_path_and_is_validated() {
        let c = apply_sets(
            "c.yaml",
            config(),
            &[
                "model.uri=gs://b/m/2026-11-20/".into(),
                "model.version=1.10".into(),
                "stages[0].weight=25".into(),
            ],
        )
        .unwrap();
        assert_eq!(c.model.uri, "gs://b/m/2026-11-20/");
        assert_eq!(
            c.model.version.as_deref(),
            Some("1.10"),
            "a string stays a string"
        );
        assert_eq!(c.stages[0].weight, 25);
        let e = apply_sets("c.yaml", config(), &["stages[0].weight=250".into()]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "c.yaml: stages[0]: weight 250 is outside 1..100 (after --set)"
        );
        let e = apply_sets(
            "c.yaml",
            config(),
            &["stages[3].weight=5".into(), "nokey".into()],
        )
        .unwrap_err();
        assert_eq!(e.diagnostics.len(), 2, "{e}");
        assert!(
            e.diagnostics[0].message.contains("the list has 1 item(s)"),
            "{e}"
        );
        let e = apply_sets("c.yaml", config(), &["model.urii=x".into()]).unwrap_err();
        assert!(
            e.to_string().contains("urii"),
            "unknown keys are refused: {e}"
        );
    }
}
