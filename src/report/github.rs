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

/// Line breaks and other control characters become spaces.
pub fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

pub fn error(title: &str, message: &str) -> String {
    format!(
        "::error title={}::{}",
        escape_property(title),
        escape_data(message)
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
        assert_eq!(escape_property("a:b,c"), "a%3Ab%2Cc");
        assert_eq!(
            group("stage 1\n::add-mask::x"),
            "::group::stage 1 ::add-mask::x"
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
