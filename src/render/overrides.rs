//! Reading the `templates:` folder. A file replaces the built-in template of the same name; any other
//! name is an error (a typo would otherwise silently keep the built-in). Dotfiles (`.gitkeep`) are
//! skipped. Every file must resolve inside the folder, so a symlink cannot pull in files from elsewhere.

use std::fs;
use std::path::{Path, PathBuf};

use super::RenderError;

/// One override: the built-in name it replaces, the file it came from, its text.
pub(crate) struct Override {
    pub name: String,
    pub path: PathBuf,
    pub source: String,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> RenderError + '_ {
    move |source| RenderError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Reads every override in `dir`, sorted by name.
pub(crate) fn read(dir: &Path, known: &[&str]) -> Result<Vec<Override>, RenderError> {
    let root = dir.canonicalize().map_err(io(dir))?;
    let mut out = Vec::new();
    for entry in fs::read_dir(&root).map_err(io(dir))? {
        let path = entry.map_err(io(dir))?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        if name.starts_with('.') {
            continue;
        }
        let shown = dir.join(&name);
        if !known.contains(&name.as_str()) {
            return Err(RenderError::UnknownOverride {
                path: shown,
                known: known.join(", "),
            });
        }
        let real = path.canonicalize().map_err(io(&shown))?;
        if !real.starts_with(&root) || !real.is_file() {
            return Err(RenderError::OutsideDir {
                path: shown,
                dir: dir.to_path_buf(),
            });
        }
        let source = fs::read_to_string(&real).map_err(io(&shown))?;
        out.push(Override {
            name,
            path: shown,
            source,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}
