//! One file per subcommand. Each returns the process exit code, or an error whose kind `main`
//! maps to one (a config or template problem = 2; anything else = 3).

pub mod demo;
pub mod manual;
pub mod plan;
pub mod render;
pub mod replay;
pub mod run;
pub mod simulate;
pub mod validate;

use crate::cli::{Cli, Command};
use crate::config::{Config, ConfigError};
use crate::render::Renderer;
use std::path::Path;

/// A usage problem: exit 2, nothing changed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

pub fn dispatch(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Command::Validate(c) => validate::run(&c.config),
        Command::Plan { config, format } => plan::run(&config.config, format),
        Command::Render { config, stage, out } => {
            render::run(&config.config, stage, out.as_deref())
        }
        Command::Run(args) => run::run(&args),
        Command::Demo { example } => demo::run(&example),
        Command::Replay {
            config,
            metrics,
            format,
        } => replay::run(&config.config, &metrics, format),
        Command::Simulate {
            config,
            scenario,
            qps,
            runs,
            seed,
            format,
        } => simulate::run(&simulate::SimArgs {
            config: &config.config,
            scenario: &scenario,
            qps,
            runs,
            seed,
            format,
        }),
        Command::Promote(a) => manual::run(manual::Gate::Promote, &a),
        Command::Rollback(a) => manual::run(manual::Gate::Rollback, &a),
        Command::Status(a) => manual::run(manual::Gate::Status, &a),
        Command::Schema => {
            print!("{}", crate::config::schema::schema_json());
            Ok(0)
        }
    }
}

/// Load and validate a config, including its template overrides (as config errors).
pub fn load(path: &Path) -> anyhow::Result<(Config, Renderer)> {
    load_with(path, &|_| Vec::new())
}

/// [`load`] with `extra` config checks (reported with positions, exit 2).
pub fn load_with(
    path: &Path,
    extra: crate::config::load::Extra,
) -> anyhow::Result<(Config, Renderer)> {
    let mut config = crate::config::load::load_file_checked(path, extra)?;
    if let Some(k) = config.compare.as_mut() {
        // The requests file is relative to the config file; every line is checked now (exit 2)
        // so nothing is sent, or changed, with a bad one.
        k.requests = path
            .parent()
            .unwrap_or(Path::new("."))
            .join(&k.requests)
            .display()
            .to_string();
        crate::rollout::compare::load_requests(k, Path::new(""))?;
    }
    let dir = config
        .templates
        .as_ref()
        .map(|t| path.parent().unwrap_or(Path::new(".")).join(t));
    let renderer = Renderer::new(dir.as_deref()).map_err(|e| ConfigError {
        file: path.display().to_string(),
        diagnostics: vec![crate::config::Diagnostic {
            line: 1,
            col: 1,
            path: "templates".into(),
            message: e.to_string(),
        }],
    })?;
    Ok((config, renderer))
}

/// Config errors only the plan can find: stages whose pauses alone outlast the deadline would
/// roll back at the deadline even with every check passing. `validate` refuses such a plan; `run`
/// accepts it (the deadline then ends the rollout, which is how deadlines are exercised).
pub fn plan_checks(c: &Config) -> Vec<(String, String)> {
    let (planned, _) = crate::core::plan::Plan::from_config(c).totals();
    let deadline = c.analysis.deadline;
    match planned.as_millis() > deadline.as_millis() {
        true => vec![(
            "analysis.deadline".into(),
            format!(
                "the plan's stages take {planned} with every check passing, longer than the deadline {deadline}: the rollout could never finish; raise the deadline or shorten the pauses"
            ),
        )],
        false => Vec::new(),
    }
}

/// Exit code for an error that ended a command.
pub fn exit_code(e: &anyhow::Error) -> i32 {
    for cause in e.chain() {
        if cause.is::<ConfigError>()
            || cause.is::<UsageError>()
            || cause.is::<crate::render::RenderError>()
        {
            return 2;
        }
    }
    3
}
