//! One file per subcommand. Each returns the process exit code, or an error whose kind `main`
//! maps to one (a config or template problem = 2; anything else = 3).

pub mod demo;
pub mod manual;
pub mod plan;
pub mod plan_gitops;
pub mod render;
pub mod replay;
pub mod run;
pub mod simulate;
pub mod validate;
pub mod values;

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
        Command::Validate { config, format } => validate::run(&config, format),
        Command::Plan { config, format } => plan::run(&config, format),
        Command::Render {
            config,
            stage,
            out,
            format,
        } => render::run(&config, stage, out.as_deref(), format),
        Command::Run(args) => run::run(&args),
        Command::Demo { example, format } => demo::run(&example, format),
        Command::Replay {
            config,
            metrics,
            format,
        } => replay::run(&config, &metrics, format),
        Command::Simulate {
            config,
            scenario,
            qps,
            runs,
            seed,
            format,
        } => simulate::run(&simulate::SimArgs {
            config: &config,
            scenario: &scenario,
            qps,
            runs,
            seed,
            format,
        }),
        Command::Promote(a) => manual::run(manual::Gate::Promote, &a),
        Command::Rollback(a) => manual::run(manual::Gate::Rollback, &a),
        Command::Status(a) => manual::run(manual::Gate::Status, &a),
        Command::Version { format } => {
            match format {
                crate::cli::Format::Json => crate::outln!(
                    "{}",
                    serde_json::json!({
                        "version": env!("CARGO_PKG_VERSION"),
                        "commit": env!("MLCANARY_COMMIT"),
                        "target": env!("MLCANARY_TARGET"),
                    })
                ),
                crate::cli::Format::Text => {
                    crate::outln!("mlcanary {}", crate::cli::LONG_VERSION)
                }
            }
            Ok(0)
        }
        Command::Completions { shell } => {
            use clap::CommandFactory;
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut crate::cli::Cli::command(), "mlcanary", &mut out);
            crate::out!("{}", String::from_utf8_lossy(&out));
            Ok(0)
        }
        Command::Man => {
            use clap::CommandFactory;
            let mut out = Vec::new();
            clap_mangen::Man::new(crate::cli::Cli::command()).render(&mut out)?;
            crate::out!("{}", String::from_utf8_lossy(&out));
            Ok(0)
        }
        Command::Schema => {
            crate::out!("{}", crate::config::schema::schema_json());
            Ok(0)
        }
    }
}

/// Load and validate a config, including its template overrides (as config errors), with the
/// pipeline's values: every `--set`, then `${VAR}` in `model.*` from the environment.
pub fn load(arg: &crate::cli::ConfigArg) -> anyhow::Result<(Config, Renderer)> {
    load_with(arg, &|_| Vec::new())
}

/// [`load`] with `extra` config checks (reported with positions, exit 2).
pub fn load_with(
    arg: &crate::cli::ConfigArg,
    extra: crate::config::load::Extra,
) -> anyhow::Result<(Config, Renderer)> {
    let path = arg.config.as_path();
    let file = path.display().to_string();
    let config = crate::config::load::load_file_checked(path, extra)?;
    let mut config = values::apply_sets(&file, config, &arg.sets())?;
    let text = std::fs::read_to_string(path).unwrap_or_default();
    values::expand_model(&file, &text, &mut config, &|k| std::env::var(k).ok())?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clients::azure::AzureError;
    use crate::clients::kube::KubeError;
    use crate::platform::PlatformError;
    use crate::rollout::live::SetupError;

    fn forbidden() -> PlatformError {
        PlatformError::Kube {
            request: "GET /apis/serving.kserve.io/v1beta1/namespaces/ml/inferenceservices/fd"
                .into(),
            error: Box::new(KubeError::Forbidden {
                verb: "get".into(),
                resource: "inferenceservices.serving.kserve.io".into(),
                rbac_resource: "inferenceservices".into(),
                namespace: Some("ml".into()),
                message: "denied".into(),
            }),
        }
    }

    fn chain(e: &anyhow::Error) -> Vec<String> {
        e.chain().map(ToString::to_string).collect()
    }

    /// What `main` prints and exits with: the cause stays typed through `?` and context, so
    /// the mapping finds config and render problems wherever they sit in the chain (2) and a
    /// platform refusal is 3 with its request and the API's words.
    #[test]
    fn typed_errors_reach_the_exit_code_mapping() {
        let setup = anyhow::Error::from(SetupError::Progress(forbidden()));
        assert_eq!(exit_code(&setup), 3);
        let c = chain(&setup);
        assert_eq!(c.len(), 2, "{c:?}");
        assert!(
            c[0].starts_with("cannot read the rollout's progress"),
            "{c:?}"
        );
        assert!(
            c[1].starts_with("GET /apis/serving.kserve.io") && c[1].contains("forbidden"),
            "{c:?}"
        );
        let kube = setup
            .chain()
            .find_map(|e| e.downcast_ref::<PlatformError>())
            .expect("typed");
        assert!(!kube.is_transient() && !kube.is_not_found());

        let arm = anyhow::Error::from(PlatformError::Arm {
            request: "PUT /subscriptions/s/x".into(),
            error: Box::new(AzureError::Api {
                method: "PUT".into(),
                url: "https://management.azure.com/subscriptions/s/x".into(),
                status: 403,
                code: "AuthorizationFailed".into(),
                message: "no".into(),
                request_id: "r-1".into(),
            }),
        });
        assert_eq!(exit_code(&arm), 3);
        match arm.downcast_ref::<PlatformError>() {
            Some(PlatformError::Arm { error, .. }) => {
                assert!(matches!(**error, AzureError::Api { status: 403, .. }))
            }
            other => panic!("{other:?}"),
        }

        let config = crate::config::load_str("c.yaml", "apiVersion: mlcanary/v1\nbogus: 1\n", None)
            .map(|_| ())
            .map_err(anyhow::Error::from)
            .unwrap_err()
            .context("loading the config");
        assert_eq!(exit_code(&config), 2, "{:?}", chain(&config));
        let usage =
            anyhow::Error::from(UsageError("--stage 9: no such stage".into())).context("render");
        assert_eq!(exit_code(&usage), 2);
    }
}
