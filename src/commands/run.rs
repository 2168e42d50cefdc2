//! `mlcanary run`: the rollout. `--dry-run` walks the whole plan over a recording API and prints
//! every request and rendered query; nothing is sent.

use super::UsageError;
use crate::cli::{Format, RunArgs};
use crate::config::{Config, PlatformKind};
use crate::core::plan::Plan;
use crate::render::Renderer;
use crate::report::record::RunRecord;
use crate::rollout::build;
use crate::rollout::clock::{Cancel, VirtualClock};
use crate::rollout::driver::{Driver, Progress, Quiet};
use crate::rollout::recorder::RequestLog;
use std::rc::Rc;

pub fn run(args: &RunArgs) -> anyhow::Result<i32> {
    let (c, renderer) = super::load(&args.config.config)?;
    if !args.dry_run {
        return Err(UsageError("live rollouts are not available in this build: use --dry-run to walk the plan without a cluster".into()).into());
    }
    let record = dry_run(&c, renderer)?;
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&record)?),
        Format::Text => print!("{}", dry_run_text(&c, &record)),
    }
    if let Some(p) = &args.report {
        std::fs::write(p, serde_json::to_string_pretty(&record)? + "\n")?;
    }
    Ok(0)
}

/// Walk the whole plan against a recorder on a virtual clock.
pub fn dry_run(c: &Config, renderer: Renderer) -> anyhow::Result<RunRecord> {
    let plan = Plan::for_run(c);
    let renderer = Rc::new(renderer);
    let log: RequestLog = Default::default();
    let platform: Box<dyn crate::platform::Platform> = match c.target.platform {
        PlatformKind::Azureml => {
            let body = build::azure_deployment_body(c, &plan, &renderer)?;
            Box::new(crate::platform::azureml_dry::AzureMlDry::new(
                crate::rollout::azure::target(c),
                body,
                log.clone(),
            ))
        }
        _ => {
            let rec = build::seeded_recorder(c, &plan, &renderer, log.clone())?;
            let render = build::render_fn(c, &plan, renderer.clone(), Default::default());
            build::kube_platform(c, Box::new(rec), render)
        }
    };
    log.borrow_mut().clear(); // seeding is not a request
                              // A fixed, readable epoch (2026-01-01T00:00:00Z) keeps dry-run output deterministic.
    let clock = VirtualClock::new(1_767_225_600_000);
    let driver = Driver {
        config: c,
        plan,
        platform,
        providers: build::providers(c, std::sync::Arc::new(crate::rollout::azure::NoTokens))?,
        renderer: &renderer,
        clock: &clock,
        cancel: Cancel::new(),
        env: Default::default(),
        dry_run: true,
    };
    let mut record = driver.run(&mut Quiet as &mut dyn Progress);
    record.requests = log.borrow().clone();
    Ok(record)
}

/// Requests interleaved with stage changes and rendered queries, in order.
pub fn dry_run_text(c: &Config, r: &RunRecord) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    let _ = writeln!(
        o,
        "dry run of {} on {}: nothing is sent\n",
        c.name,
        c.target.platform.as_str()
    );
    let _ = writeln!(o, "== API requests, in order ==");
    for (i, req) in r.requests.iter().enumerate() {
        let ct = req
            .content_type
            .as_deref()
            .map(|c| format!("  [{c}]"))
            .unwrap_or_default();
        let _ = writeln!(o, "{:>3}. {} {}{ct}", i + 1, req.method, req.path);
        if let Some(b) = &req.body {
            let _ = writeln!(o, "     {}", serde_json::to_string(b).unwrap_or_default());
        }
    }
    let _ = writeln!(o, "\n== guardrail queries per stage (first check shown) ==");
    let mut seen = std::collections::BTreeSet::new();
    for q in &r.queries {
        if !seen.insert((q.phase, q.guardrail.clone(), format!("{:?}", q.role))) {
            continue;
        }
        let label = r.events.iter().find_map(|e| match (&e.kind, e.phase) {
            (crate::core::machine::EventKind::PhaseStarted { label, .. }, Some(p))
                if p == q.phase =>
            {
                Some(label.clone())
            }
            _ => None,
        });
        let _ = writeln!(
            o,
            "{} | {} [{}] via {}",
            label.unwrap_or_default(),
            q.guardrail,
            serde_json::to_value(q.role)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default(),
            q.provider
        );
        let _ = writeln!(o, "     {}", q.query.trim().replace('\n', "\n     "));
        if !q.request.is_empty() {
            let _ = writeln!(o, "     -> {}", q.request);
        }
    }
    let _ = writeln!(o, "\nresult: {} (dry run)", r.outcome.result());
    o
}
