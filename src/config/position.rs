//! Where each key of a YAML document is: `stages[2].weight` -> line 14, column 7.
//!
//! yaml_serde does not expose node positions, so semantic errors found after deserialising would
//! have no line. We walk the same text once with yaml-rust2's event parser and index every path.
//! Parse errors are ignored here: yaml_serde reports them (with their own location) first.

use std::collections::HashMap;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

/// Deeper nesting than any config needs; beyond it the text is refused before yaml_serde (which
/// slows down quadratically on deep flow nesting) and yaml-rust2's recursive loader could overflow
/// the stack.
pub const MAX_DEPTH: usize = 64;

#[derive(Debug, Default)]
pub struct Positions {
    map: HashMap<String, Pos>,
    /// Where nesting first went past [`MAX_DEPTH`].
    pub too_deep: Option<Pos>,
}

enum Frame {
    /// `fresh`: no key seen yet; the mapping's position is taken from its first key (the parser's
    /// mark for a block mapping comes late).
    Map {
        path: String,
        key: Option<String>,
        fresh: bool,
    },
    Seq {
        path: String,
        index: usize,
    },
}

struct Walker {
    stack: Vec<Frame>,
    out: HashMap<String, Pos>,
}

fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

impl Walker {
    /// The path a node starting now has, and records it; `None` when the node is a mapping key.
    fn enter_node(&mut self, mark: Marker, key_text: Option<&str>) -> Option<String> {
        let pos = Pos {
            line: mark.line(),
            col: mark.col() + 1,
        };
        match self.stack.last_mut() {
            None => Some(String::new()),
            Some(Frame::Map { path, key, fresh }) => match key.take() {
                None => {
                    // This node is a key.
                    if *fresh && path.ends_with(']') {
                        self.out.insert(path.clone(), pos);
                    }
                    *fresh = false;
                    let k = key_text.unwrap_or("?").to_string();
                    let full = join(path, &k);
                    self.out.entry(full).or_insert(pos);
                    *key = Some(k);
                    None
                }
                Some(k) => Some(join(path, &k)),
            },
            Some(Frame::Seq { path, index }) => {
                let p = format!("{path}[{index}]");
                *index += 1;
                self.out.entry(p.clone()).or_insert(pos);
                Some(p)
            }
        }
    }
}

impl MarkedEventReceiver for Walker {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        match ev {
            Event::Scalar(text, ..) => {
                self.enter_node(mark, Some(&text));
            }
            Event::Alias(_) => {
                self.enter_node(mark, None);
            }
            Event::MappingStart(..) => {
                if let Some(path) = self.enter_node(mark, None) {
                    self.stack.push(Frame::Map {
                        path,
                        key: None,
                        fresh: true,
                    });
                } else {
                    // A complex key: index its contents under a placeholder.
                    self.stack.push(Frame::Map {
                        path: "?".into(),
                        key: None,
                        fresh: false,
                    });
                }
            }
            Event::SequenceStart(..) => {
                let path = self.enter_node(mark, None).unwrap_or_else(|| "?".into());
                self.stack.push(Frame::Seq { path, index: 0 });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            _ => {}
        }
    }
}

/// A lexical bound on flow nesting (`[[[...`, `{{{...`), for text the event parser rejects before
/// it reaches the depth (its scanner looks ahead). Quotes and comments are skipped; a mis-read only
/// lowers the count, so a real config is never refused by it.
fn flow_too_deep(src: &str) -> Option<Pos> {
    let (mut depth, mut line, mut col) = (0usize, 1usize, 0usize);
    let mut quote: Option<char> = None;
    let mut comment = false;
    let mut prev = '\n';
    for c in src.chars() {
        col += 1;
        if c == '\n' {
            line += 1;
            col = 0;
            comment = false;
        } else if comment {
        } else if let Some(q) = quote {
            if c == q && !(q == '"' && prev == '\\') {
                quote = None;
            }
        } else {
            match c {
                '#' if prev.is_whitespace() => comment = true,
                '"' | '\'' if !prev.is_alphanumeric() => quote = Some(c),
                '[' | '{' => {
                    depth += 1;
                    if depth > MAX_DEPTH {
                        return Some(Pos { line, col });
                    }
                }
                ']' | '}' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        prev = c;
    }
    None
}

impl Positions {
    pub fn build(src: &str) -> Positions {
        let mut w = Walker {
            stack: Vec::new(),
            out: HashMap::new(),
        };
        // Events pulled one by one (`Parser::load` recurses per nesting level): a hostile depth
        // stops the walk instead of the stack.
        let mut parser = Parser::new_from_str(src);
        let mut depth = 0usize;
        let mut too_deep = None;
        while let Ok((ev, mark)) = parser.next_token() {
            match ev {
                Event::StreamEnd | Event::DocumentEnd => break,
                Event::MappingStart(..) | Event::SequenceStart(..) => depth += 1,
                Event::MappingEnd | Event::SequenceEnd => depth = depth.saturating_sub(1),
                _ => {}
            }
            if depth > MAX_DEPTH {
                too_deep = Some(Pos {
                    line: mark.line(),
                    col: mark.col() + 1,
                });
                break;
            }
            w.on_event(ev, mark);
        }
        Positions {
            map: w.out,
            too_deep: too_deep.or_else(|| flow_too_deep(src)),
        }
    }

    /// The position of `path`, or of its nearest indexed ancestor (a missing key is reported at
    /// its parent).
    pub fn find(&self, path: &str) -> Option<Pos> {
        let mut p = path.to_string();
        loop {
            if let Some(pos) = self.map.get(&p) {
                return Some(*pos);
            }
            let cut = p.rfind(['.', '['])?;
            p.truncate(cut);
            if p.is_empty() {
                return None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_keys_and_items() {
        let src = "name: x\nstages:\n  - 5\n  - weight: 25\n    pause: 5m\nguardrails:\n  - name: e\n    promote: \"< 1\"\n";
        let p = Positions::build(src);
        assert_eq!(p.find("name"), Some(Pos { line: 1, col: 1 }));
        assert_eq!(p.find("stages"), Some(Pos { line: 2, col: 1 }));
        assert_eq!(p.find("stages[0]"), Some(Pos { line: 3, col: 5 }));
        assert_eq!(p.find("stages[1].weight"), Some(Pos { line: 4, col: 5 }));
        assert_eq!(p.find("stages[1].pause"), Some(Pos { line: 5, col: 5 }));
        assert_eq!(
            p.find("guardrails[0].promote"),
            Some(Pos { line: 8, col: 5 })
        );
        // Missing key: falls back to its parent.
        assert_eq!(
            p.find("guardrails[0].rollback"),
            Some(Pos { line: 7, col: 5 })
        );
        assert_eq!(p.find("nothing.here"), None);
    }

    #[test]
    fn flow_style_and_nested() {
        let src = "target: {platform: kserve, namespace: ml}\nanalysis:\n  interval: 1m\n";
        let p = Positions::build(src);
        assert_eq!(p.find("target.namespace").map(|p| p.line), Some(1));
        assert_eq!(p.find("analysis.interval"), Some(Pos { line: 3, col: 3 }));
    }
}
