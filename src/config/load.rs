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
    let mut diagnostics = vec![first.0];
    if let Ok(doc) = yaml_serde::from_str::<yaml_serde::Value>(text) {
        recover(doc, first.1, positions, &mut diagnostics);
    }
    diagnostics.sort_by_key(|d| (d.line, d.col));
    Err(ConfigError {
        file: file.to_string(),
        diagnostics,
    })
}

/// One pass, every problem the parser lets us see. serde stops at the first problem; we mend it
/// in the document and read it again: an unknown key is dropped; a wrong value is dropped when
/// the key is optional, else replaced by a stand-in of a likely type (or the first allowed
/// variant), and a missing key gets one. A mend that only moves the error to the same key (or
/// below it) is undone and the next stand-in tried; when none helps, the pass ends. Stand-ins are
/// never validated further: only what the parser said of the user's own text is reported.
fn recover(
    mut doc: yaml_serde::Value,
    mut at: Target,
    positions: &Positions,
    diagnostics: &mut Vec<Diagnostic>,
) {
    // Keys we dropped: serde may notice one missing only later (at the end of its map), which is
    // our doing, not the user's: it is mended again, not reported.
    let mut removed: Vec<String> = Vec::new();
    'errors: for _ in 0..MAX_RECOVERED {
        for mend in at.mends() {
            let mut tried = doc.clone();
            if !mend.apply(&mut tried, &at.path) {
                continue;
            }
            let (d, next) = match serde_path_to_error::deserialize::<_, Config>(tried.clone()) {
                Ok(_) => return,
                Err(e) => diagnose(e, positions),
            };
            if next.within(&at.path) {
                continue;
            }
            if matches!(mend, Mend::Remove) {
                removed.push(at.path.clone());
            }
            let ours = matches!(next.kind, Problem::MissingKey) && removed.contains(&next.path);
            if !ours {
                if diagnostics.contains(&d) {
                    return;
                }
                diagnostics.push(d);
            }
            doc = tried;
            at = next;
            continue 'errors;
        }
        return;
    }
}

/// Problems reported in one pass, at most.
const MAX_RECOVERED: usize = 50;

/// What went wrong where, so [`recover`] can mend it and read on.
struct Target {
    /// Dotted path of the offending key (for a missing key: the key that should be there).
    path: String,
    kind: Problem,
}

enum Problem {
    UnknownKey,
    MissingKey,
    /// A wrong value; the allowed variants when serde named them.
    Value(Vec<String>),
}

/// One way of mending the document at a path.
enum Mend {
    Remove,
    Set(yaml_serde::Value),
}

impl Target {
    fn mends(&self) -> Vec<Mend> {
        use yaml_serde::Value as V;
        let variants = match &self.kind {
            Problem::UnknownKey => return vec![Mend::Remove],
            Problem::MissingKey => &[][..],
            Problem::Value(v) => v.as_slice(),
        };
        let mut mends: Vec<Mend> = variants
            .first()
            .map(|v| Mend::Set(V::String(v.clone())))
            .into_iter()
            .collect();
        if matches!(self.kind, Problem::Value(_)) && !self.path.ends_with(']') {
            mends.push(Mend::Remove);
        }
        mends.extend(
            [
                V::from(1),
                V::from("1m"),
                V::from("< 1"),
                V::from("x"),
                V::from(true),
                V::Sequence(Vec::new()),
                V::Mapping(Default::default()),
            ]
            .into_iter()
            .map(Mend::Set),
        );
        mends
    }

    /// Whether this problem is the one at `path` again (or one inside it).
    fn within(&self, path: &str) -> bool {
        self.path == path
            || self.path.starts_with(&format!("{path}."))
            || self.path.starts_with(&format!("{path}["))
    }
}

impl Mend {
    fn apply(&self, doc: &mut yaml_serde::Value, path: &str) -> bool {
        let Some((parent, last)) = parent_of(doc, path) else {
            return false;
        };
        match (self, last) {
            (Mend::Remove, Step::Key(k)) => parent
                .as_mapping_mut()
                .is_some_and(|m| m.remove(k.as_str()).is_some()),
            (Mend::Remove, Step::Index(_)) => false,
            (Mend::Set(v), Step::Key(k)) => match parent.as_mapping_mut() {
                Some(m) => {
                    m.insert(yaml_serde::Value::String(k), v.clone());
                    true
                }
                None => false,
            },
            (Mend::Set(v), Step::Index(i)) => match parent.get_mut(i) {
                Some(slot) => {
                    *slot = v.clone();
                    true
                }
                None => false,
            },
        }
    }
}

enum Step {
    Key(String),
    Index(usize),
}

/// The steps of a dotted path (`guardrails[0].promte`).
fn steps(path: &str) -> Option<Vec<Step>> {
    let mut out = Vec::new();
    for p in path.split('.') {
        let (key, mut rest) = p.find('[').map_or((p, ""), |i| (&p[..i], &p[i..]));
        if !key.is_empty() {
            out.push(Step::Key(key.to_string()));
        }
        while let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            out.push(Step::Index(r[..end].parse().ok()?));
            rest = &r[end + 1..];
        }
    }
    Some(out)
}

/// The value holding the last step of `path`, and that step.
fn parent_of<'a>(
    doc: &'a mut yaml_serde::Value,
    path: &str,
) -> Option<(&'a mut yaml_serde::Value, Step)> {
    let mut steps = steps(path)?;
    let last = steps.pop()?;
    let mut at = doc;
    for s in steps {
        at = match s {
            Step::Key(k) => at.get_mut(k.as_str())?,
            Step::Index(i) => at.get_mut(i)?,
        };
    }
    Some((at, last))
}

/// A serde error as a diagnostic, and what went wrong where (for [`recover`]).
fn diagnose<E: std::fmt::Display + Located>(
    e: serde_path_to_error::Error<E>,
    positions: &Positions,
) -> (Diagnostic, Target) {
    let path = e.path().to_string();
    let path = if path == "." { String::new() } else { path };
    let inner = e.into_inner();
    let raw = inner.to_string();
    let (message, key_path) = explain(&raw, &path);
    let target = if message.starts_with("unknown key") {
        Target {
            path: key_path.clone().unwrap_or_else(|| path.clone()),
            kind: Problem::UnknownKey,
        }
    } else if let Some(field) = missing_field(&raw) {
        Target {
            path: join(&path, &field),
            kind: Problem::MissingKey,
        }
    } else {
        let variants = if raw.contains("unknown variant") {
            expected_list(&raw)
        } else {
            Vec::new()
        };
        Target {
            path: path.clone(),
            kind: Problem::Value(variants),
        }
    };
    // Prefer the position of the offending key when we know it; else yaml's own location (a
    // re-read document has none: then the key's, or its parent's for a missing key).
    let pos = key_path.as_deref().and_then(|p| positions.find(p));
    let (line, col) = match (pos, inner.at()) {
        (Some(p), _) => (p.line, p.col),
        (None, Some(l)) => l,
        (None, None) => positions.find(&path).map_or((1, 1), |p| (p.line, p.col)),
    };
    let shown = key_path.unwrap_or(path);
    let d = Diagnostic {
        line,
        col,
        path: shown,
        message,
    };
    (d, target)
}

fn missing_field(raw: &str) -> Option<String> {
    let rest = &raw[raw.find("missing field `")? + "missing field `".len()..];
    Some(rest.split('`').next()?.to_string())
}

fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
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
