//! Build facts for `mlcanary version`: the commit (MLCANARY_COMMIT or GITHUB_SHA when the release
//! job sets them, else `git rev-parse`, else "unknown") and the target triple.
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=MLCANARY_COMMIT");
    println!("cargo:rerun-if-env-changed=GITHUB_SHA");
    if std::path::Path::new(".git/HEAD").is_file() {
        println!("cargo:rerun-if-changed=.git/HEAD");
    }
    let target = std::env::var("TARGET").unwrap_or_else(|_| "unknown".into());
    let commit = std::env::var("MLCANARY_COMMIT")
        .or_else(|_| std::env::var("GITHUB_SHA"))
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| {
            let out = Command::new("git")
                .args(["rev-parse", "HEAD"])
                .output()
                .ok()?;
            out.status
                .success()
                .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        })
        .map(|c| c.chars().take(12).collect::<String>())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=MLCANARY_TARGET={target}");
    println!("cargo:rustc-env=MLCANARY_COMMIT={commit}");
}
