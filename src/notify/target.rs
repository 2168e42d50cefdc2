//! One webhook as it will be called: `${VAR}` expanded from the environment, kept out of every
//! printed form. The expanded URL (and any expanded header) is a secret: a Slack or Teams webhook
//! URL is itself the credential, so only the notify index and the host ever reach a report.

use crate::config::{Notify, NotifyEvent};
use std::collections::BTreeMap;

/// Why a webhook cannot be used at all (reported as a warning; the rollout goes on).
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TargetError {
    #[error("${{{0}}} is not set in the environment")]
    Unset(String),
    #[error("unclosed ${{ in {0}")]
    Unclosed(&'static str),
    #[error("the URL is not http:// or https://")]
    Scheme,
}

/// Expand every `${NAME}` in `text` with `lookup`; `what` names the field in errors.
pub fn expand(
    text: &str,
    what: &'static str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, TargetError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let end = after.find('}').ok_or(TargetError::Unclosed(what))?;
        let name = &after[..end];
        let value = lookup(name).ok_or_else(|| TargetError::Unset(name.to_string()))?;
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The host of an http(s) URL, without user info or port-less surprises; `None` when the URL
/// is not http(s).
pub fn host_of(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    // user:password@host: the user info is a secret too.
    let host = authority.rsplit('@').next().unwrap_or("");
    (!host.is_empty()).then(|| host.to_string())
}

/// A ready webhook. `Debug` is hand-written: the URL and header values never print.
#[derive(Clone)]
pub struct Target {
    /// Position in the config's `notify` list (what reports name).
    pub index: usize,
    pub url: String,
    pub host: String,
    pub on: Vec<NotifyEvent>,
    pub body: Option<String>,
    pub headers: BTreeMap<String, String>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("index", &self.index)
            .field("host", &self.host)
            .field("on", &self.on)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Target {
    /// The name reports use: `notify[0] (hooks.slack.com)`.
    pub fn label(&self) -> String {
        format!("notify[{}] ({})", self.index, self.host)
    }

    pub fn wants(&self, e: NotifyEvent) -> bool {
        self.on.contains(&e)
    }

    /// Expand the URL and header values of `n`.
    pub fn resolve(
        index: usize,
        n: &Notify,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Target, TargetError> {
        let url = expand(&n.url, "the URL", lookup)?;
        let host = host_of(&url).ok_or(TargetError::Scheme)?;
        let mut headers = BTreeMap::new();
        for (k, v) in &n.headers {
            headers.insert(k.clone(), expand(v, "a header", lookup)?);
        }
        Ok(Target {
            index,
            url,
            host,
            on: n.on.clone(),
            body: n.body.clone(),
            headers,
        })
    }

    /// Strings that must never be printed: the URL, its path and query, expanded header values.
    pub fn secrets(&self) -> Vec<String> {
        let mut s = vec![self.url.clone()];
        if let Some(i) = self.url.find(self.host.as_str()) {
            let tail = &self.url[i + self.host.len()..];
            if tail.len() > 1 {
                s.push(tail.to_string());
            }
        }
        s.extend(self.headers.values().filter(|v| v.len() >= 4).cloned());
        s
    }
}

/// Values `${VAR}` references in notify URLs and headers expand to: for `::add-mask::`.
pub fn secret_values(notify: &[Notify], lookup: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
    let mut out = Vec::new();
    for n in notify {
        for text in std::iter::once(&n.url).chain(n.headers.values()) {
            let mut rest = text.as_str();
            while let Some(i) = rest.find("${") {
                let after = &rest[i + 2..];
                let Some(end) = after.find('}') else { break };
                out.extend(lookup(&after[..end]).filter(|v| !v.trim().is_empty()));
                rest = &after[end + 1..];
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(k: &str) -> Option<String> {
        match k {
            "HOOK" => Some("https://hooks.example.com/services/T0/B0/secretpath".into()),
            "TOKEN" => Some("tok-123456".into()),
            _ => None,
        }
    }

    #[test]
    fn expands_and_reports_unset_variables_by_name_only() {
        assert_eq!(
            expand("a${TOKEN}b", "x", &env).unwrap(),
            "atok-123456b".to_string()
        );
        assert_eq!(
            expand("${NOPE}", "x", &env),
            Err(TargetError::Unset("NOPE".into()))
        );
        assert_eq!(expand("${HOOK", "x", &env), Err(TargetError::Unclosed("x")));
    }

    #[test]
    fn host_never_carries_user_info_or_path() {
        assert_eq!(
            host_of("https://u:pw@h.example:8443/p?q").as_deref(),
            Some("h.example:8443")
        );
        assert_eq!(host_of("ftp://h/x"), None);
        assert_eq!(host_of("https:///x"), None);
    }

    #[test]
    fn debug_and_label_hide_the_url_and_header_values() {
        let n: Notify = serde_json::from_value(serde_json::json!({
            "url": "${HOOK}", "headers": {"Authorization": "Bearer ${TOKEN}"}
        }))
        .unwrap();
        let t = Target::resolve(2, &n, &env).unwrap();
        let shown = format!("{t:?} {}", t.label());
        assert!(shown.contains("notify[2] (hooks.example.com)"), "{shown}");
        assert!(!shown.contains("secretpath") && !shown.contains("tok-123456"));
        assert!(t.secrets().iter().any(|s| s.contains("secretpath")));
        assert_eq!(
            secret_values(&[n], &env),
            vec![
                "https://hooks.example.com/services/T0/B0/secretpath".to_string(),
                "tok-123456".to_string()
            ]
        );
    }
}
