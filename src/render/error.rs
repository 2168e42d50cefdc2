//! Render errors. Each one names the template (the override file when it came from `templates:`) and,
//! where minijinja knows it, the line: the user must be able to go straight to the mistake.

use std::path::PathBuf;

/// `Some(12)` -> " line 12"; `None` -> "".
fn at(line: &Option<usize>) -> String {
    line.map(|l| format!(" line {l}")).unwrap_or_default()
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("template {file}{}: syntax error: {detail}", at(line))]
    Syntax {
        file: String,
        line: Option<usize>,
        detail: String,
    },
    #[error("template {file}{}: {detail}", at(line))]
    Template {
        file: String,
        line: Option<usize>,
        detail: String,
    },
    #[error("template override {}: no built-in template has this name (known: {known})", path.display())]
    UnknownOverride { path: PathBuf, known: String },
    #[error("template override {}: resolves outside the templates folder {}", path.display(), dir.display())]
    OutsideDir { path: PathBuf, dir: PathBuf },
    #[error("templates folder {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("template {file}: rendered output is not valid YAML/JSON: {detail}")]
    Parse { file: String, detail: String },
    #[error("template {file}: rendered object is invalid: {detail}")]
    Invalid { file: String, detail: String },
    #[error("context: {0}")]
    Context(String),
}

impl RenderError {
    /// Wraps a minijinja error raised while compiling `file`.
    pub(crate) fn syntax(file: &str, err: &minijinja::Error) -> Self {
        RenderError::Syntax {
            file: file.to_string(),
            line: err.line(),
            detail: detail(err),
        }
    }

    /// Wraps a minijinja error raised while rendering; `file` names the template's origin.
    pub(crate) fn template(file: &str, err: &minijinja::Error) -> Self {
        RenderError::Template {
            file: file.to_string(),
            line: err.line(),
            detail: detail(err),
        }
    }
}

/// The message without minijinja's own "(in name:line)" suffix, which we already say better.
fn detail(err: &minijinja::Error) -> String {
    if err.kind() == minijinja::ErrorKind::OutOfFuel {
        return format!(
            "too much work: a template may execute at most {} instructions (a loop too large?)",
            super::TEMPLATE_FUEL
        );
    }
    match err.detail() {
        Some(d) => format!("{}: {d}", err.kind()),
        None => err.kind().to_string(),
    }
}
