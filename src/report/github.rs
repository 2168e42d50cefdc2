//! GitHub Actions workflow commands, escaped so no value can end a command early or start a new one.
//! A value that reaches the log (a model name, a query) goes through [`one_line`] first: GitHub
//! only honours `::command::` at the start of a line, so removing line breaks neutralises it.

/// Escape for a command's message (`%`, CR, LF), per the runner's rules.
pub fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escape for a command's property values (also `:` and `,`).
pub fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// Line breaks and other control characters become spaces; the legacy `##[command]` form, which
/// the runner honours anywhere in a line, is broken up (see [`safe_text`]).
pub fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .replace("##[", "## [")
}

/// Text of any number of lines for the log (plan, rendered manifests, dry runs, errors), such that
/// no line is read as a workflow command: the runner trims leading space before looking for `::`,
/// so such a line gets `# ` in front; `##[` anywhere becomes `## [`; a lone CR (a line break to
/// the runner) becomes a space.
pub fn safe_text(s: &str) -> String {
    let s = s.replace("\r\n", "\n").replace('\r', " ");
    let lines: Vec<String> = s
        .split('\n')
        .map(|l| {
            let l = l.replace("##[", "## [");
            match l.trim_start().starts_with("::") {
                true => format!("# {l}"),
                false => l,
            }
        })
        .collect();
    lines.join("\n")
}

/// Serialised JSON for the log: `##[` can only occur inside strings, where `\u005b` is the same
/// `[` to any JSON reader and no command to the runner.
pub fn safe_json(json: &str) -> String {
    json.replace("##[", "##\\u005b")
}

/// `::error` with a message that can neither end the command nor hold a legacy `##[` one.
pub fn error(title: &str, message: &str) -> String {
    format!(
        "::error title={}::{}",
        escape_property(title),
        escape_data(message).replace("##[", "## [")
    )
}

pub fn group(title: &str) -> String {
    format!("::group::{}", escape_data(&one_line(title)))
}

pub const END_GROUP: &str = "::endgroup::";

/// Tell the runner to hide `secret` wherever it appears later in the log.
pub fn add_mask(secret: &str) -> Option<String> {
    let s = secret.trim();
    // Masking very short values would blank out ordinary words in the log.
    (s.len() >= 4).then(|| format!("::add-mask::{}", escape_data(s)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_cannot_start_a_new_command() {
        let evil = "v2\n::set-output name=result::promoted";
        assert!(!one_line(evil).contains('\n'));
        let e = error("rolled back", evil);
        assert_eq!(e.lines().count(), 1);
        assert!(e.contains("%0A::set-output"));
        // The legacy form is honoured anywhere in a line, inside our own ::error too.
        assert!(!error("t", "x ##[error]y").contains("##["));
        assert_eq!(escape_property("a:b,c"), "a%3Ab%2Cc");
        assert_eq!(
            group("stage 1\n::add-mask::x"),
            "::group::stage 1 ::add-mask::x"
        );
    }

    #[test]
    fn multi_line_text_cannot_hold_a_command() {
        let s = safe_text("a\n  ::error::x\r::add-mask::y\r\nok ##[error]z\n");
        assert_eq!(s, "a\n#   ::error::x ::add-mask::y\nok ## [error]z\n");
        assert_eq!(
            one_line("v ##[set-output name=a;]b"),
            "v ## [set-output name=a;]b"
        );
        let j = serde_json::json!({"v": "##[error]x"}).to_string();
        assert_eq!(safe_json(&j), "{\"v\":\"##\\u005berror]x\"}");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&safe_json(&j)).unwrap()["v"],
            "##[error]x"
        );
    }

    #[test]
    fn masks_only_meaningful_secrets() {
        assert_eq!(
            add_mask("s3cr3t-token").as_deref(),
            Some("::add-mask::s3cr3t-token")
        );
        assert_eq!(add_mask("ab"), None);
    }
}
