//! Config diagnostics: `FILE:LINE:COL: key.path: message`, as many as one pass finds.

use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub line: usize,
    pub col: usize,
    /// Dotted key path (`stages[2].weight`); empty for the document itself.
    pub path: String,
    pub message: String,
}

/// Every problem found in one config file. Exit code 2.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    pub file: String,
    pub diagnostics: Vec<Diagnostic>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            match d.line {
                // Not from a line of the file (a --set value, an unreadable file).
                0 => write!(f, "{}: ", self.file)?,
                _ => write!(f, "{}:{}:{}: ", self.file, d.line, d.col)?,
            }
            if !d.path.is_empty() {
                write!(f, "{}: ", d.path)?;
            }
            f.write_str(&d.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// The closest candidate within a small edit distance, for "did you mean" hints.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let w = word.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| (levenshtein(&w, &c.to_ascii_lowercase()), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 4) && *d < c.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        let keys = ["interval", "inconclusiveLimit", "failureLimit", "pause"];
        assert_eq!(did_you_mean("intervall", keys), Some("interval"));
        assert_eq!(did_you_mean("failurelimit", keys), Some("failureLimit"));
        assert_eq!(did_you_mean("paus", keys), Some("pause"));
        assert_eq!(did_you_mean("zzzzzz", keys), None);
    }

    #[test]
    fn display_format() {
        let e = ConfigError {
            file: "c.yaml".into(),
            diagnostics: vec![
                Diagnostic {
                    line: 3,
                    col: 5,
                    path: "stages[1].weight".into(),
                    message: "bad".into(),
                },
                Diagnostic {
                    line: 1,
                    col: 1,
                    path: String::new(),
                    message: "worse".into(),
                },
            ],
        };
        assert_eq!(
            e.to_string(),
            "c.yaml:3:5: stages[1].weight: bad\nc.yaml:1:1: worse"
        );
    }
}
