//! Reading a config: YAML -> typed [`Config`] -> semantic validation, errors with positions.

use super::error::{did_you_mean, ConfigError, Diagnostic};
use super::position::Positions;
use super::types::Config;
use super::validate;
use std::path::Path;

/// A config larger than this is refused before it is parsed (real ones are a few KiB).
pub const MAX_CONFIG_BYTES: u64 = 256 * 1024;

/// Checks run after validation by layers above `config` (the plan's duration against the
/// deadline needs `core`); (key path, message) like [`validate::validate`]'s.
pub type Extra<'a> = &'a dyn Fn(&Config) -> Vec<(String, String)>;

/// Read, parse and validate a config file.
pub fn load_file(path: &Path) -> Result<Config, ConfigError> {
    load_file_checked(path, &|_| Vec::new())
}

/// [`load_file`] plus `extra` checks, reported with positions like the built-in ones.
pub fn load_file_checked(path: &Path, extra: Extra) -> Result<Config, ConfigError> {
    let file = path.display().to_string();
    let cannot = |message: String| one(&file, 1, 1, "", message);
    let size = std::fs::metadata(path)
        .map_err(|e| cannot(format!("cannot read the config: {e}")))?
        .len();
    if size > MAX_CONFIG_BYTES {
        return Err(cannot(format!(
            "the config is {size} bytes; at most {MAX_CONFIG_BYTES} are accepted"
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| cannot(format!("cannot read the config: {e}")))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let (line, col) = line_col(&e.as_bytes()[..e.utf8_error().valid_up_to()]);
        one(
            &file,
            line,
            col,
            "",
            "the config is not valid UTF-8 text".into(),
        )
    })?;
    load_str_checked(&file, &text, path.parent(), extra)
}

/// 1-based line and column just after `prefix` (valid UTF-8 up to an error).
fn line_col(prefix: &[u8]) -> (usize, usize) {
    let text = String::from_utf8_lossy(prefix);
    let line = text.matches('\n').count() + 1;
    let col = text.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// Parse and validate config text. `base_dir` resolves relative paths (the templates folder).
pub fn load_str(file: &str, text: &str, base_dir: Option<&Path>) -> Result<Config, ConfigError> {
    load_str_checked(file, text, base_dir, &|_| Vec::new())
}

/// [`load_str`] plus `extra` checks.
pub fn load_str_checked(
    file: &str,
    text: &str,
    base_dir: Option<&Path>,
    extra: Extra,
) -> Result<Config, ConfigError> {
    // A byte-order mark is allowed before a YAML stream and is no content.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let last_line = text.lines().count().max(1);
    load_text(file, text, base_dir, extra).map_err(|mut e| {
        // Errors at the end of the text (a missing value, an unclosed bracket) point at its last
        // line, not one past it.
        for d in &mut e.diagnostics {
            if d.line > last_line {
                d.line = last_line;
                d.col = text.lines().last().map_or(0, |l| l.chars().count()) + 1;
            }
        }
        e
    })
}

fn load_text(
    file: &str,
    text: &str,
    base_dir: Option<&Path>,
    extra: Extra,
) -> Result<Config, ConfigError> {
    let positions = Positions::build(text);
    if let Some(p) = positions.too_deep {
        let max = super::position::MAX_DEPTH;
        return Err(one(
            file,
            p.line,
            p.col,
            "",
            format!("nested deeper than {max} levels"),
        ));
    }
    let config = parse(file, text, &positions)?;
    let mut diags = validate::validate(&config, base_dir);
    if diags.is_empty() {
        diags = extra(&config);
    }
    if diags.is_empty() {
        return Ok(config);
    }
    Err(ConfigError {
        file: file.to_string(),
        diagnostics: diags
            .into_iter()
            .map(|(path, message)| {
                let pos = positions.find(&path);
                Diagnostic {
                    line: pos.map_or(1, |p| p.line),
                    col: pos.map_or(1, |p| p.col),
                    path,
                    message,
                }
            })
            .collect(),
    })
}

fn parse(file: &str, text: &str, positions: &Positions) -> Result<Config, ConfigError> {
    if text.trim().is_empty() {
        return Err(one(file, 1, 1, "", "the config is empty".into()));
    }
    let de = yaml_serde::Deserializer::from_str(text);
    let first = match serde_path_to_error::deserialize::<_, Config>(de) {
        Ok(c) => return Ok(c),
        Err(e) => diagnose(e, positions),
    };
    // One pass, every problem the parser lets us see: an unknown key is dropped from the document
    // and it is read again, so every misspelt key (and the next other problem) is reported at once.
    let mut diagnostics = vec![first.0];
    let mut unknown = first.1;
    if unknown.is_some() {
        if let Ok(mut doc) = yaml_serde::from_str::<yaml_serde::Value>(text) {
            for _ in 0..MAX_RECOVERED {
                let Some(key) = unknown.take() else { break };
                if !remove_key(&mut doc, &key) {
                    break;
                }
                match serde_path_to_error::deserialize::<_, Config>(doc.clone()) {
                    Ok(_) => break,
                    Err(e) => {
                        let (d, k) = diagnose(e, positions);
                        if diagnostics.contains(&d) {
                            break;
                        }
                        diagnostics.push(d);
                        unknown = k;
                    }
                }
            }
        }
    }
    diagnostics.sort_by_key(|d| (d.line, d.col));
    Err(ConfigError {
        file: file.to_string(),
        diagnostics,
    })
}

/// Unknown keys reported in one pass, at most.
const MAX_RECOVERED: usize = 50;

/// A serde error as a diagnostic, and the key path when the problem is an unknown key (which the
/// caller may drop to read on).
fn diagnose<E: std::fmt::Display + Located>(
    e: serde_path_to_error::Error<E>,
    positions: &Positions,
) -> (Diagnostic, Option<String>) {
    let path = e.path().to_string();
    let path = if path == "." { String::new() } else { path };
    let inner = e.into_inner();
    let raw = inner.to_string();
    let (message, key_path) = explain(&raw, &path);
    let unknown = message
        .starts_with("unknown key")
        .then(|| key_path.clone())
        .flatten();
    // Prefer the position of the offending key when we know it; else yaml's own location.
    let pos = key_path.as_deref().and_then(|p| positions.find(p));
    let (line, col) = match (pos, inner.at()) {
        (Some(p), _) => (p.line, p.col),
        (None, Some(l)) => l,
        (None, None) => (1, 1),
    };
    let shown = key_path.unwrap_or(path);
    let d = Diagnostic {
        line,
        col,
        path: shown,
        message,
    };
    (d, unknown)
}

/// yaml_serde's error knows where in the text it happened; read from a Value it does not.
trait Located {
    fn at(&self) -> Option<(usize, usize)>;
}

impl Located for yaml_serde::Error {
    fn at(&self) -> Option<(usize, usize)> {
        self.location().map(|l| (l.line(), l.column()))
    }
}

/// Remove the key at a dotted path (`guardrails[0].promte`) from a YAML document.
fn remove_key(doc: &mut yaml_serde::Value, path: &str) -> bool {
    let mut parts: Vec<String> = Vec::new();
    for p in path.split('.') {
        let mut rest = p;
        if let Some(i) = rest.find('[') {
            parts.push(rest[..i].to_string());
            rest = &rest[i..];
            while let Some(r) = rest.strip_prefix('[') {
                let Some(end) = r.find(']') else { return false };
                parts.push(format!("[{}", &r[..end]));
                rest = &r[end + 1..];
            }
        } else {
            parts.push(rest.to_string());
        }
    }
    let Some((last, walk)) = parts.split_last() else {
        return false;
    };
    let mut at = doc;
    for p in walk.iter().filter(|p| !p.is_empty()) {
        let next = match p.strip_prefix('[') {
            Some(n) => n.parse::<usize>().ok().and_then(|n| at.get_mut(n)),
            None => at.get_mut(p.as_str()),
        };
        match next {
            Some(n) => at = n,
            None => return false,
        }
    }
    match at.as_mapping_mut() {
        Some(m) => m.remove(last.as_str()).is_some(),
        None => false,
    }
}

fn one(file: &str, line: usize, col: usize, path: &str, message: String) -> ConfigError {
    ConfigError {
        file: file.to_string(),
        diagnostics: vec![Diagnostic {
            line,
            col,
            path: path.to_string(),
            message,
        }],
    }
}

/// Turn serde's messages into the user's words; returns (message, path of the offending key).
fn explain(raw: &str, path: &str) -> (String, Option<String>) {
    // yaml_serde appends " at line L column C"; we print our own position.
    let msg = match raw.find(" at line ") {
        Some(i) => &raw[..i],
        None => raw,
    };
    // yaml_serde may prefix its own path ("analysis: unknown field ..."); we print ours.
    let msg = match msg.split_once(": ") {
        Some((head, rest)) if !head.contains(' ') && !head.is_empty() => rest,
        _ => msg,
    };
    if let Some(rest) = msg.strip_prefix("unknown field `") {
        let field = rest.split('`').next().unwrap_or("");
        let expected = expected_list(rest);
        // serde_path_to_error's path may already end at the unknown key.
        let key_path = if path.is_empty() {
            field.to_string()
        } else if path == field || path.ends_with(&format!(".{field}")) {
            path.to_string()
        } else {
            format!("{path}.{field}")
        };
        let hint = did_you_mean(field, expected.iter().map(String::as_str))
            .map(|s| format!(" (did you mean `{s}`?)"))
            .unwrap_or_default();
        let allowed = if expected.is_empty() {
            String::new()
        } else {
            format!("; allowed keys: {}", expected.join(", "))
        };
        return (
            format!("unknown key `{field}`{hint}{allowed}"),
            Some(key_path),
        );
    }
    if let Some(rest) = msg.strip_prefix("unknown variant `") {
        let value = rest.split('`').next().unwrap_or("");
        let expected = expected_list(rest);
        let hint = did_you_mean(value, expected.iter().map(String::as_str))
            .map(|s| format!(" (did you mean `{s}`?)"))
            .unwrap_or_default();
        return (
            format!(
                "unknown value `{value}`{hint}; expected one of: {}",
                expected.join(", ")
            ),
            None,
        );
    }
    if let Some(rest) = msg.strip_prefix("missing field `") {
        let field = rest.split('`').next().unwrap_or("");
        return (format!("missing required key `{field}`"), None);
    }
    if msg.starts_with("invalid type") || msg.starts_with("invalid value") {
        return (msg.replace("invalid type: ", "wrong type: "), None);
    }
    (msg.to_string(), None)
}

fn expected_list(rest: &str) -> Vec<String> {
    // "... expected one of `a`, `b`" or "... expected `a`"
    let Some(i) = rest.find("expected") else {
        return vec![];
    };
    rest[i..]
        .split('`')
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, s)| s.to_string())
        .collect()
}
