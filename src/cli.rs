//! Command line: clap derive, with `MLCANARY_*` environment fallbacks so CI wrappers (the GitHub
//! action, the GitLab template) pass settings without building argument strings.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "mlcanary",
    version,
    about = "Roll a new ML model version out gradually, judge guardrails between stages, promote or roll back."
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
        #[arg(long)]
        scenario: String,
        /// Total requests per second at the endpoint.
        #[arg(long, default_value_t = 20.0)]
        qps: f64,
        #[arg(long, default_value_t = 200)]
        runs: u32,
        #[arg(long, default_value_t = 1)]
        seed: u64,
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
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct GateArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}
