//! `mlcanary promote`, `rollback` and `status`: manual gates between CI jobs. A pipeline can stop
//! a rollout for a human (an approval job) and resume it from another job, which has no rollout
//! loop state: these commands act on the LIVE resource through the same platform drivers a run
//! uses, so a manual promote or rollback sends exactly the requests an automatic one sends.
//! Every command ends by printing where traffic is, as the platform reports it.
//!
//! Exit codes: 0 done, 2 bad config, 3 the platform refused or failed (or the promoted version
//! did not become ready in time).

use crate::cli::{Format, GateArgs};
use crate::core::machine::Limits;
use crate::platform::{Platform, PlatformError, Readiness, Revisions, Traffic};
use serde::Serialize;
use std::time::{Duration, Instant};

/// Which gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Gate {
    Promote,
    Rollback,
    Status,
}

/// What a gate command prints (`--format json`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GateReport {
    pub command: Gate,
    pub platform: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub resource: String,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traffic: Option<Traffic>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revisions: Option<Revisions>,
    /// The rollout record on the live object (`core::progress`): which run, stage and state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollout: Option<crate::core::progress::Progress>,
}

/// Runs one gate; the process exit code.
pub fn run(gate: Gate, args: &GateArgs) -> anyhow::Result<i32> {
    let (c, renderer) = super::load(&args.config)?;
    let c = crate::rollout::kube_live::with_context_namespace(c);
    let mut log = |l: &str| eprintln!("{l}");
    let tokens = crate::rollout::live::azure_tokens(&c, &mut log)?;
    // A gate applies nothing new, but the platform compares the live object with what this
    // version's rollout leaves live (the last phase's render) to tell a finished promotion.
    let plan = crate::core::plan::Plan::for_run(&c);
    let rendered = crate::rollout::build::render_run(&c, &plan, &renderer, &Default::default())?;
    let mut platform = crate::rollout::live::platform(
        &c,
        &rendered,
        tokens,
        &crate::rollout::clock::Cancel::new(),
    )?;
    let limits = Limits::from_config(&c);
    let acted = match gate {
        Gate::Promote => platform.promote().and_then(|_| {
            wait_ready(
                platform.as_mut(),
                Duration::from_millis(limits.ready_timeout_ms),
                Duration::from_millis(limits.ready_poll_ms.min(2_000)),
            )
        }),
        Gate::Rollback => platform.rollback(),
        Gate::Status => Ok(()),
    };
    if acted.is_ok() && gate != Gate::Status {
        wait_settled(
            platform.as_mut(),
            Duration::from_millis(limits.ready_timeout_ms.min(120_000)),
            Duration::from_millis(250),
        );
    }
    let traffic = platform.traffic();
    let report = GateReport {
        command: gate,
        platform: c.target.platform.as_str().into(),
        namespace: c.target.namespace.clone(),
        resource: crate::platform::kube_platform::KubeSettings::from_config(&c).resource,
        ok: acted.is_ok() && (gate != Gate::Status || traffic.is_ok()),
        error: acted
            .as_ref()
            .err()
            .or(traffic.as_ref().err())
            .map(ToString::to_string),
        revisions: platform.revisions().ok(),
        traffic: traffic.ok(),
        rollout: platform
            .load_progress()
            .ok()
            .flatten()
            .and_then(|s| crate::core::progress::Progress::decode(&s)),
    };
    let gate_name = serde_json::to_value(gate)?;
    crate::report::summary::append_step_summary(&crate::report::summary::gate_summary(
        gate_name.as_str().unwrap_or_default(),
        &report.resource,
        report.ok,
        report.error.as_deref(),
        report.traffic.as_ref(),
        report.revisions.as_ref(),
    ))?;
    match args.format {
        Format::Json => crate::outln!("{}", serde_json::to_string_pretty(&report)?),
        Format::Text => crate::out!("{}", text(&report)),
    }
    Ok(if report.ok { 0 } else { 3 })
}

/// Waits (bounded) until the platform's status reflects the change, so the traffic printed
/// is what the controller made of it; says so on stderr when it does not in time.
pub fn wait_settled(p: &mut dyn Platform, timeout: Duration, every: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        match p.settled() {
            Ok(None) => return,
            Ok(Some(m)) if Instant::now() >= deadline => {
                eprintln!("not yet confirmed by the platform: {m}");
                return;
            }
            Err(e) if Instant::now() >= deadline => {
                eprintln!("not yet confirmed by the platform: {e}");
                return;
            }
            _ => std::thread::sleep(every),
        }
    }
}

/// Polls readiness until ready, failed, or `timeout`.
fn wait_ready(
    p: &mut dyn Platform,
    timeout: Duration,
    every: Duration,
) -> Result<(), PlatformError> {
    let deadline = Instant::now() + timeout;
    loop {
        match p.poll_ready()? {
            Readiness::Ready => return Ok(()),
            Readiness::Failed(m) => {
                return Err(PlatformError::Other(format!(
                    "the promoted version failed: {m}"
                )))
            }
            Readiness::Pending(m) if Instant::now() >= deadline => {
                return Err(PlatformError::Other(format!(
                    "the promoted version was not ready within {}: {m}",
                    crate::config::Duration::from_millis(timeout.as_millis() as u64)
                )))
            }
            Readiness::Pending(_) => std::thread::sleep(every),
        }
    }
}

pub use crate::report::summary::traffic_line;

fn text(r: &GateReport) -> String {
    let what = match (r.command, r.ok) {
        (Gate::Promote, true) => "promoted",
        (Gate::Rollback, true) => "rolled back",
        (Gate::Status, true) => "status",
        (Gate::Promote, false) => "promote FAILED",
        (Gate::Rollback, false) => "rollback FAILED",
        (Gate::Status, false) => "status FAILED",
    };
    let ns = r
        .namespace
        .as_deref()
        .map(|n| format!(" in {n}"))
        .unwrap_or_default();
    let mut o = format!("{what}: {} {}{ns}\n", r.platform, r.resource);
    if let Some(e) = &r.error {
        o.push_str(&format!("error: {e}\n"));
    }
    if let Some(p) = &r.rollout {
        let stage = serde_json::to_value(p.state)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        o.push_str(&format!(
            "rollout: run {} {stage} at phase {} (canary {}%), {}\n",
            p.run_id,
            p.phase + 1,
            p.weight,
            p.describe()
        ));
    }
    match &r.traffic {
        Some(t) => o.push_str(&format!("traffic now: {}\n", traffic_line(t))),
        None => o.push_str("traffic now: unknown (the platform could not say)\n"),
    }
    if let Some(v) = &r.revisions {
        let rev = |name: &str, rev: &Option<String>| match rev {
            Some(r) if r != name => format!("{name} (revision {r})"),
            _ => name.to_string(),
        };
        o.push_str(&format!(
            "canary: {}; stable: {}\n",
            rev(&v.canary_name, &v.canary_revision),
            rev(&v.stable_name, &v.stable_revision)
        ));
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traffic_words_list_split_then_mirror() {
        let mut t = Traffic::default();
        assert_eq!(traffic_line(&t), "no traffic reported");
        t.split.insert("main".into(), 90);
        t.split.insert("canary".into(), 10);
        t.mirror.insert("shadow".into(), 5);
        t.mirror.insert("off".into(), 0);
        assert_eq!(traffic_line(&t), "canary 10%, main 90%, shadow mirrored 5%");
    }

    #[test]
    fn text_says_what_failed_and_where_traffic_is() {
        let r = GateReport {
            command: Gate::Rollback,
            platform: "kserve".into(),
            namespace: Some("ml".into()),
            resource: "fd".into(),
            ok: false,
            error: Some("PATCH /x: 403".into()),
            traffic: None,
            revisions: Some(Revisions {
                canary_name: "fd".into(),
                canary_revision: Some("fd-2".into()),
                stable_name: "fd".into(),
                stable_revision: None,
            }),
            rollout: None,
        };
        let t = text(&r);
        assert!(t.starts_with("rollback FAILED: kserve fd in ml\n"), "{t}");
        assert!(t.contains("error: PATCH /x: 403"), "{t}");
        assert!(t.contains("traffic now: unknown"), "{t}");
        assert!(
            t.contains("canary: fd (revision fd-2); stable: fd\n"),
            "{t}"
        );
    }
}
