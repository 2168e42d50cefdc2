//! Tests that need no server process: the CLI and its exit codes, config errors, rendering and
//! schemas, the rollout loop on a virtual clock with in-memory fakes, reports, notifications,
//! replay and simulation. (tests/secrets.rs is its own binary: it sets process environment
//! variables and installs the process's logger.)

#[path = "../support"]
mod support {
    pub mod notify;
    pub mod platform;
    pub mod render;
}

mod cancel_driver;
mod cli;
mod config_errors;
mod driver_loop;
mod dry_run;
mod hostile;
mod hostile_yaml;
mod machine_output;
mod notify;
mod pipeline_values;
mod render_safety;
mod render_templates;
mod replay;
mod reports;
mod schema;
mod simulate;
