//! The one gate every string mlcanary writes passes: secrets out, workflow commands defused.
//!
//! Servers say things (Status messages, Prometheus warnings, revision names, error bodies that
//! echo the `Authorization` header) and mlcanary prints them. Rather than trusting each call site,
//! the writers (stdout and stderr lines, the logger, the console, report.json, JUnit, the step
//! summary, outputs, notifications) pass their final text through here:
//! - [`register`] records every secret value the process holds (kube tokens and client keys as
//!   the client sends them, provider bearer tokens, Azure tokens, webhook URLs); [`redact`]
//!   replaces each with `***` in any string. When [`announce_masks`] is on (GitHub Actions),
//!   registering also prints `::add-mask::`, so the runner hides a value even in output we do
//!   not control.
//! - [`neutralise`] = redact, then [`github::safe_text`]: no line can start a `::command::` and
//!   no `##[` survives. [`neutralise_line`] also joins the text into one line. [`command_data`]
//!   is the text for a workflow command's message (`::error::...`), escaped per the runner's
//!   rules and without `##[`.
//!
//! Neutralising is for logs only; manifests and machine-read files (report.json, JUnit) are only
//! redacted, so what they hold stays byte-for-byte what was meant.

use super::github;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::RwLock;

static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());
static ANNOUNCE: AtomicBool = AtomicBool::new(false);

/// What a secret is replaced with.
pub const MASK: &str = "***";

/// Shorter values are not treated as secrets: masking them would blank ordinary words.
const MIN_SECRET: usize = 6;

/// From now on, each newly registered secret is also announced with `::add-mask::` on stdout.
pub fn announce_masks(on: bool) {
    ANNOUNCE.store(on, Ordering::SeqCst);
}

/// Records a secret value (and, for a multi-line value such as a PEM key, each long line of it).
pub fn register(secret: &str) {
    let mut parts = vec![secret.trim().to_string()];
    if secret.contains('\n') {
        parts.extend(
            secret
                .lines()
                .map(str::trim)
                .filter(|l| l.len() >= 16 && !l.starts_with("-----"))
                .map(String::from),
        );
    }
    for p in parts {
        if p.len() < MIN_SECRET {
            continue;
        }
        let fresh = {
            let mut all = SECRETS.write().unwrap_or_else(|e| e.into_inner());
            match all.contains(&p) {
                true => false,
                false => {
                    all.push(p.clone());
                    // Longest first, so a secret containing another is masked whole.
                    all.sort_by_key(|s| std::cmp::Reverse(s.len()));
                    true
                }
            }
        };
        if fresh && ANNOUNCE.load(Ordering::SeqCst) && !p.contains('\n') {
            if let Some(line) = github::add_mask(&p) {
                use std::io::Write;
                let _ = writeln!(std::io::stdout().lock(), "{line}");
            }
        }
    }
}

/// An `Authorization` header value: the whole value and the credential after the scheme.
pub fn register_authorization(value: &str) {
    register(value);
    if let Some((_, cred)) = value.split_once(' ') {
        register(cred);
    }
}

/// `s` with every registered secret replaced by [`MASK`].
pub fn redact(s: &str) -> String {
    let all = SECRETS.read().unwrap_or_else(|e| e.into_inner());
    let mut out = s.to_string();
    for secret in all.iter() {
        if out.contains(secret.as_str()) {
            out = out.replace(secret.as_str(), MASK);
        }
    }
    out
}

/// Every string inside a JSON value redacted (keys included), for report.json and `--format json`.
pub fn redact_json(v: &mut serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::String(s) => *s = redact(s),
        Value::Array(a) => a.iter_mut().for_each(redact_json),
        Value::Object(m) => {
            let old = std::mem::take(m);
            for (k, mut val) in old {
                redact_json(&mut val);
                m.insert(redact(&k), val);
            }
        }
        _ => {}
    }
}

/// Text for the log, any number of lines: redacted, and no line reads as a workflow command.
pub fn neutralise(s: &str) -> String {
    github::safe_text(&redact(s))
}

/// One line for the log: redacted, line breaks and control characters gone, no command.
pub fn neutralise_line(s: &str) -> String {
    github::safe_text(&github::one_line(&redact(s)))
}

/// A workflow command's message (after `::error ...::`): redacted, escaped, no `##[`.
pub fn command_data(s: &str) -> String {
    github::escape_data(&redact(s)).replace("##[", "## [")
}

#[cfg(test)]
mod tests {
    use super::*;

    // One process-wide registry: each test uses its own values.
    #[test]
    fn registered_secrets_are_redacted_everywhere() {
        register_authorization("Bearer tok-aaaa-1111-zzzz");
        register("short");
        let s = "server said: rejected Bearer tok-aaaa-1111-zzzz and tok-aaaa-1111-zzzz; short";
        assert_eq!(redact(s), "server said: rejected *** and ***; short");
        let mut v = serde_json::json!({"a": ["x tok-aaaa-1111-zzzz"], "tok-aaaa-1111-zzzz": 1});
        redact_json(&mut v);
        assert_eq!(v, serde_json::json!({"a": ["x ***"], "***": 1}));
    }

    #[test]
    fn key_lines_are_secrets_too() {
        register("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nabc\n-----END PRIVATE KEY-----\n");
        assert_eq!(redact("x MIIEvQIBADANBgkqhkiG9w0BAQEFAASC y"), "x *** y");
    }

    #[test]
    fn server_text_cannot_become_a_workflow_command() {
        let hostile = "boom\n::error::pwned\r::add-mask::x\n  ::set-output name=a::b ##[error]c";
        let multi = neutralise(hostile);
        for line in multi.lines() {
            assert!(!line.trim_start().starts_with("::"), "{line}");
            assert!(!line.contains("##["), "{line}");
        }
        let one = neutralise_line("::error::pwned\n::set-output x");
        assert!(!one.contains('\n') && !one.starts_with("::"), "{one}");
        let data = command_data("why ##[error]x\n::add-mask::y");
        assert!(!data.contains("##[") && !data.contains('\n'), "{data}");
    }
}
