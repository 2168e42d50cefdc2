//! The layering rule of docs/architecture.md, enforced: a module never imports a layer above it.
//! `core/` is pure vocabulary and decisions (it may use `config/` and itself); `report/` and
//! `notify/` write and send what the loop hands them (they may also use `core/`, `render/`, each
//! other and the `clients/` edge), never the loop, the platforms or the providers.
//!
//! The scan reads the source text: every `crate::` path (grouped `use crate::{a, b::c}` included)
//! and every `super::` chain long enough to climb out to the crate root is resolved to its first
//! module, outside comments.

use std::path::{Path, PathBuf};

/// (directory under src/, the top-level modules it must not import).
const RULES: &[(&str, &[&str])] = &[
    (
        "core",
        &[
            "rollout", "metrics", "platform", "commands", "clients", "report", "notify", "render",
            "cli",
        ],
    ),
    (
        "report",
        &["rollout", "metrics", "platform", "commands", "cli"],
    ),
    (
        "notify",
        &["rollout", "metrics", "platform", "commands", "cli"],
    ),
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// How many `super::` reach the crate root from this file (`src/core/judge.rs`: 2;
/// `src/core/stats/mod.rs`: 2; `src/core/stats/psi.rs`: 3).
fn depth_to_root(rel: &Path) -> usize {
    let dirs = rel.components().count() - 1;
    let is_mod = rel.file_name().is_some_and(|f| f == "mod.rs");
    if is_mod {
        dirs
    } else {
        dirs + 1
    }
}

/// The top-level modules a source's paths name, with their 1-based lines: `crate::x`,
/// `crate::{x, y::z}` (over several lines too), and `super::` chains of at least `depth` steps.
/// Comments are left out.
fn imported_modules(text: &str, depth: usize) -> Vec<(usize, String)> {
    let code: String = text
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let line_of = |at: usize| code[..at].matches('\n').count() + 1;
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut found = Vec::new();
    for (i, _) in code.match_indices("crate::") {
        let at = i + "crate::".len();
        let after = &code[at..];
        let Some(group) = after.strip_prefix('{') else {
            found.push((line_of(at), ident(after)));
            continue;
        };
        // Top-level names of the group: split at commas outside nested braces.
        let mut level = 0;
        let mut start = true;
        for (k, c) in group.char_indices() {
            match c {
                '{' => level += 1,
                '}' if level == 0 => break,
                '}' => level -= 1,
                ',' if level == 0 => start = true,
                c if start && !c.is_whitespace() => {
                    found.push((line_of(at + 1 + k), ident(&group[k..])));
                    start = false;
                }
                _ => {}
            }
        }
    }
    let mut from = 0;
    while let Some(i) = code[from..].find("super::") {
        let begin = from + i;
        let mut after = &code[begin..];
        let mut n = 0;
        while let Some(a) = after.strip_prefix("super::") {
            after = a;
            n += 1;
        }
        if n >= depth && !code[..begin].ends_with("::") {
            found.push((line_of(begin), ident(after)));
        }
        from = code.len() - after.len();
    }
    found
}

/// Every import of a forbidden layer under `src/`: `file:line: module` lines.
fn violations(src: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for (dir, forbidden) in RULES {
        let mut files = Vec::new();
        rust_files(&src.join(dir), &mut files);
        for f in files {
            let rel = f.strip_prefix(src).expect("under src");
            let text = std::fs::read_to_string(&f).expect("readable source");
            let depth = depth_to_root(rel);
            for (line, m) in imported_modules(&text, depth) {
                if forbidden.contains(&m.as_str()) {
                    out.push(format!("src/{}:{line}: imports {m}", rel.display()));
                }
            }
        }
    }
    out
}

#[test]
fn core_report_and_notify_import_no_layer_above_them() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let found = violations(&src);
    assert!(
        found.is_empty(),
        "a module imports a layer above it (docs/architecture.md, \"Layers\"):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_scan_finds_every_way_to_name_a_module() {
    let core = depth_to_root(Path::new("core/judge.rs"));
    assert_eq!(core, 2);
    assert_eq!(depth_to_root(Path::new("core/stats/mod.rs")), 2);
    assert_eq!(depth_to_root(Path::new("core/stats/psi.rs")), 3);
    let cases: &[(&str, &[(usize, &str)])] = &[
        ("use crate::rollout::driver::Progress;", &[(1, "rollout")]),
        (
            "use crate::{config::Config, metrics::{Bucket, Shape}, platform};",
            &[(1, "config"), (1, "metrics"), (1, "platform")],
        ),
        (
            "use crate::{\n    config::Config,\n    rollout::driver::Quiet,\n};",
            &[(2, "config"), (3, "rollout")],
        ),
        (
            "    fn f(t: &crate::platform::Traffic) {}",
            &[(1, "platform")],
        ),
        ("use super::super::metrics::Bucket;", &[(1, "metrics")]),
        // Within the module: not a climb to the root.
        ("use super::judgement::Judgement;", &[]),
        ("// see crate::rollout::driver", &[]),
        ("let x = 1; // crate::metrics in a comment", &[]),
    ];
    for (text, want) in cases {
        let got = imported_modules(text, core);
        let got: Vec<(usize, &str)> = got.iter().map(|(l, m)| (*l, m.as_str())).collect();
        assert_eq!(got, *want, "{text}");
    }
}
