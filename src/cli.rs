//! Command line: clap derive, with `MLCANARY_*` environment fallbacks so CI wrappers (the GitHub
//! action, the GitLab template) pass settings without building argument strings.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// `0.1.0 (commit 1a2b3c4d5e6f, x86_64-unknown-linux-musl)`.
pub const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("MLCANARY_COMMIT"),
    ", ",
    env!("MLCANARY_TARGET"),
    ")"
);

#[derive(Debug, Parser)]
#[command(
    name = "mlcanary",
    version,
    long_version = LONG_VERSION,
    about = "Roll a new ML model version out gradually, judge guardrails between stages, promote or roll back.",
    after_help = "Exit codes: 0 promoted (or success), 1 rolled back, 2 bad config or usage (nothing changed), \
3 platform or provider failure, 4 inconclusive, 130 interrupted.\n\
Logs: MLCANARY_LOG=debug (env_logger syntax, default warn) prints what mlcanary does on stderr."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args, Clone)]
pub struct ConfigArg {
    /// The config file.
    #[arg(short, long, env = "MLCANARY_CONFIG", default_value = "mlcanary.yaml")]
    pub config: PathBuf,
    /// Replace one config value, e.g. `--set model.uri=s3://models/fraud/v42` or
    /// `--set stages[0].weight=5` (repeatable; the result is validated like the file).
    #[arg(long = "set", value_name = "KEY.PATH=VALUE")]
    pub set: Vec<String>,
    /// Kubernetes platforms: the kubeconfig file (as kubectl's --kubeconfig; default: the config's
    /// kubernetes.kubeconfig, else KUBECONFIG, ~/.kube/config, in-cluster).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<String>,
    /// Kubernetes platforms: the kubeconfig context (default: the config's kubernetes.context,
    /// else current-context).
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// Kubernetes platforms: the namespace (default: the config's target.namespace, else the
    /// context's namespace).
    #[arg(short = 'n', long, value_name = "NAME")]
    pub namespace: Option<String>,
}

impl ConfigArg {
    /// The config file alone: no `--set`, no kubectl-style flags.
    pub fn file(path: impl Into<PathBuf>) -> ConfigArg {
        ConfigArg {
            config: path.into(),
            set: Vec::new(),
            kubeconfig: None,
            context: None,
            namespace: None,
        }
    }

    /// `--set` values plus the kubectl-style flags as the config keys they stand for.
    pub fn sets(&self) -> Vec<String> {
        let mut s = self.set.clone();
        let flags = [
            ("kubernetes.kubeconfig", &self.kubeconfig),
            ("kubernetes.context", &self.context),
            ("target.namespace", &self.namespace),
        ];
        for (key, v) in flags {
            if let Some(v) = v {
                s.push(format!("{key}={v}"));
            }
        }
        s
    }
}

/// Parse the command line; an invalid value that came from an `MLCANARY_*` variable names it
/// (clap names only the flag).
pub fn parse() -> Cli {
    use clap::{CommandFactory, FromArgMatches};
    let matches = Cli::command().try_get_matches();
    match matches.and_then(|m| Cli::from_arg_matches(&m)) {
        Ok(cli) => cli,
        Err(e) => {
            if let Some(hint) = env_hint(&e.to_string(), &Cli::command()) {
                let _ = e.print();
                eprintln!("{hint}");
                std::process::exit(2);
            }
            e.exit()
        }
    }
}

/// `note: the value came from the environment variable MLCANARY_DRY_RUN="maybe"`.
fn env_hint(message: &str, cmd: &clap::Command) -> Option<String> {
    let mut stack = vec![cmd.clone()];
    while let Some(c) = stack.pop() {
        for a in c.get_arguments() {
            let (Some(env), Some(long)) = (a.get_env(), a.get_long()) else {
                continue;
            };
            let Some(value) = std::env::var_os(env) else {
                continue;
            };
            if message.contains(&format!("'--{long}")) || message.contains(&format!("--{long} ")) {
                return Some(format!(
                    "note: the value came from the environment variable {}={:?}",
                    env.to_string_lossy(),
                    value.to_string_lossy()
                ));
            }
        }
        stack.extend(c.get_subcommands().cloned());
    }
    None
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the config (and template overrides); exit 2 with every problem found.
    Validate {
        #[command(flatten)]
        config: ConfigArg,
        /// text, or json: one JSON object on stdout (`ok`, and every problem with line and column).
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Print the stages, timings and guardrails the config describes.
    Plan {
        #[command(flatten)]
        config: ConfigArg,
        /// text (for people), or json (one JSON document on stdout; progress on stderr).
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Render the platform manifests of every stage (or one) as kubectl-ready YAML.
    Render {
        #[command(flatten)]
        config: ConfigArg,
        /// Only this stage (1-based; 0 = the shadow phase when there is one).
        #[arg(long)]
        stage: Option<usize>,
        /// Write one file per stage and object into this folder instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
        /// text (multi-document YAML), or json: one JSON object with every stage's manifests.
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Run the rollout.
    Run(RunArgs),
    /// Print the JSON schema of the config.
    Schema,
    /// The config's policy against the built-in traffic simulator: rollback rate, canary requests
    /// and minutes to decide. Scenarios: aa, errors-2x, errors-5x, latency-p99-30, drift-psi-25,
    /// drift-benign, or custom:errors=0.03,p99=0.52,psi=0.1.
    Simulate {
        #[command(flatten)]
        config: ConfigArg,
        /// The traffic scenario (see above).
        #[arg(long)]
        scenario: String,
        /// Total requests per second at the endpoint.
        #[arg(long, default_value_t = 20.0)]
        qps: f64,
        /// Simulated rollouts.
        #[arg(long, default_value_t = 200)]
        runs: u32,
        /// Random seed: the same seed reproduces the same numbers.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// text (for people), or json (one JSON document on stdout; progress on stderr).
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Run the real stage loop on a virtual clock against recorded metric series: when would these
    /// guardrails have fired?
    Replay {
        #[command(flatten)]
        config: ConfigArg,
        /// {"start": <unix s>, "series": {"<query as written in the config>": [[<unix s>, <value>], ...]}}
        #[arg(long)]
        metrics: PathBuf,
        /// text (for people), or json (one JSON document on stdout; progress on stderr).
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Manual gate: make the canary the stable version at 100% on the live resource, wait until
    /// it is ready (target.readyTimeout), print where traffic is.
    Promote(GateArgs),
    /// Manual gate: send all traffic back to the stable version on the live resource.
    Rollback(GateArgs),
    /// Print where traffic is on the live resource, and the canary and stable revisions.
    Status(GateArgs),
    /// The version, the commit it was built from and the target.
    Version {
        /// text, or json: {"version", "commit", "target"}.
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Shell completions for bash, zsh, fish, elvish or powershell, on stdout.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// The man page (roff), on stdout: `mlcanary man > mlcanary.1`.
    Man,
    /// Walk a full dry-run rollout of a shipped example embedded in the binary (no cluster, no file).
    Demo {
        /// kserve, seldon, seldon-v2, argo-rollouts-drive, argo-rollouts-watch or azureml.
        #[arg(long, default_value = "kserve")]
        example: String,
        /// text, or json: the example's plan and dry-run record as one JSON object.
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Walk the whole plan without touching anything: print every API request and query.
    #[arg(long, env = "MLCANARY_DRY_RUN")]
    pub dry_run: bool,
    /// Start over even when the live object records a run of this version (finished or not), or
    /// a different version mid-rollout.
    #[arg(long)]
    pub force: bool,
    /// Write the JSON decision record here.
    #[arg(long, env = "MLCANARY_REPORT")]
    pub report: Option<PathBuf>,
    /// Write a JUnit XML report here (a `rollout` case, then one test case per guardrail check).
    #[arg(long, env = "MLCANARY_JUNIT")]
    pub junit: Option<PathBuf>,
    /// Write the outputs as a dotenv file here (`MLCANARY_RESULT=rolled-back`, ...), e.g. for
    /// GitLab's `artifacts:reports:dotenv`.
    #[arg(long, env = "MLCANARY_DOTENV")]
    pub dotenv: Option<PathBuf>,
    /// text (for people), or json (one JSON document on stdout; progress on stderr).
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct GateArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// text (for people), or json (one JSON document on stdout; progress on stderr).
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}
