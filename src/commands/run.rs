//! `mlcanary run`: the rollout. `--dry-run` walks the whole plan over a recording API and prints
//! every request and rendered query; nothing is sent.

use super::UsageError;
use crate::cli::{Format, RunArgs};
use crate::config::{Config, PlatformKind};
use crate::core::plan::Plan;
use crate::core::progress::Resume;
use crate::render::Renderer;
use crate::report::console::Console;
use crate::report::record::RunRecord;
use crate::rollout::build;
use crate::rollout::clock::Clock;
use crate::rollout::clock::{Cancel, SystemClock, VirtualClock};
use crate::rollout::driver::{Driver, Persist, Progress, Quiet};
use crate::rollout::recorder::RequestLog;
use std::rc::Rc;

pub fn run(args: &RunArgs) -> anyhow::Result<i32> {
    use crate::report::github as gh;
    let (c, renderer) = super::load(&args.config.config)?;
    let github = std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true");
    let record = if args.dry_run {
        let record = dry_run(&c, renderer)?;
        if args.format == Format::Text {
            print!("{}", gh::safe_text(&dry_run_text(&c, &record)));
        }
        record
    } else {
        live(&c, renderer, github, args.force)?
    };
    if args.format == Format::Json {
        println!("{}", gh::safe_json(&serde_json::to_string_pretty(&record)?));
    }
    write_reports(&record, args, github)?;
    Ok(record.outcome.exit_code())
}

/// A real rollout: signals cancel it (rolling back first), progress goes to stdout.
fn live(c: &Config, renderer: Renderer, github: bool, force: bool) -> anyhow::Result<RunRecord> {
    let resolved;
    let c = if c.target.platform.is_kubernetes() && c.target.namespace.is_none() {
        // No namespace in the config: the kubeconfig context's (or service account's), as kubectl.
        let mut copy = c.clone();
        copy.target.namespace =
            crate::clients::kube::resolve_config(&crate::rollout::kube_live::options(c))
                .ok()
                .and_then(|k| k.namespace);
        resolved = copy;
        &resolved
    } else {
        c
    };
    let env = |k: &str| std::env::var(k).ok();
    if github {
        let mut secrets = crate::rollout::live::secret_values(c, &env);
        secrets.extend(crate::notify::secret_values(&c.notify, &env));
        secrets.sort();
        secrets.dedup();
        for secret in secrets {
            if let Some(line) = crate::report::github::add_mask(&secret) {
                println!("{line}");
            }
        }
    }
    let cancel = Cancel::new();
    let on_signal = cancel.clone();
    // SIGINT, SIGTERM and SIGHUP (the `termination` feature); a second handler cannot be set in
    // tests that call this twice, which is harmless: the first one holds the same kind of flag.
    let _ = ctrlc::set_handler(move || on_signal.cancel());
    let plan = Plan::for_run(c);
    let renderer = Rc::new(renderer);
    let mut console = Console::new(std::io::stdout(), github);
    let tokens = crate::rollout::live::azure_tokens(c, &mut |l| console.event(l))?;
    let mut platform =
        crate::rollout::live::platform(c, &plan, renderer.clone(), tokens.clone(), &cancel)?;
    let tokens = tokens.unwrap_or_else(|| std::sync::Arc::new(crate::rollout::azure::NoTokens));
    // What the live object says about an earlier run of this (or another) version.
    let stored = match platform.load_progress() {
        Ok(s) => s.and_then(|s| crate::core::progress::Progress::decode(&s)),
        Err(e) => {
            return Err(crate::rollout::live::SetupError(format!(
                "reading the rollout's progress: {e}"
            ))
            .into())
        }
    };
    let gitops = platform.gitops_owners();
    for w in &gitops {
        console.event(&format!("warning: {w}"));
    }
    let run_id = format!("{:x}-{}", SystemClock.now_ms() / 1000, std::process::id());
    let persist = match crate::core::progress::decide(stored.as_ref(), &c.model.uri, c.model.version.as_deref(), force, plan.stages.len()) {
        Resume::Fresh => Persist { run_id, resume: None },
        Resume::Continue { run_id, phase, started_at, failed } => Persist { run_id, resume: Some((phase, failed, started_at)) },
        Resume::Busy { other, phase, weight } => {
            return Err(UsageError(format!(
                "refusing to start: {other} is mid-rollout ({}, canary {weight}%); let it finish, roll it back (`mlcanary rollback`), or pass --force",
                plan.stages.get(phase).map_or_else(|| format!("phase {phase}"), |s| s.label())
            ))
            .into())
        }
        Resume::Done { state } => return Ok(already_done(c, &plan, platform.as_mut(), state, stored.as_ref())),
    };
    let driver = Driver {
        config: c,
        plan,
        platform,
        providers: crate::rollout::driver::shared(build::providers(c, tokens)?),
        renderer: &renderer,
        clock: &SystemClock,
        cancel,
        env: crate::rollout::context::env_subset(c, &env),
        dry_run: false,
    };
    let mut notifier = crate::notify::Notifier::new(&c.notify, &env, Default::default());
    let mut record = driver.run_with(
        &mut crate::notify::Notifying {
            inner: &mut console,
            notifier: &mut notifier,
            renderer: &renderer,
        },
        Some(persist),
    );
    console.finish();
    record.warnings.extend(notifier.finish());
    record.warnings.extend(gitops);
    Ok(record)
}

/// Every report the run asked for, plus the CI ones the environment asks for.
pub fn write_reports(r: &RunRecord, args: &RunArgs, github: bool) -> anyhow::Result<()> {
    use crate::report::{github as gh, junit, outputs, summary};
    if let Some(p) = &args.report {
        std::fs::write(p, serde_json::to_string_pretty(r)? + "\n")?;
    }
    if let Some(p) = &args.junit {
        std::fs::write(p, junit::render(r))?;
    }
    if let Some(p) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|v| !v.is_empty()) {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)?;
        writeln!(f, "{}", summary::render(r))?;
    }
    if let Some(p) = std::env::var_os("GITHUB_OUTPUT").filter(|v| !v.is_empty()) {
        outputs::write(std::path::Path::new(&p), r, args.report.as_deref())?;
    }
    if github && r.outcome.exit_code() != 0 && !r.dry_run {
        let why = r.outcome.reason().unwrap_or("interrupted");
        println!(
            "{}",
            gh::error(
                &format!("mlcanary: {}", r.outcome.result()),
                &format!("{why}. Traffic now: {}", summary::traffic_words(r))
            )
        );
    }
    for w in &r.warnings {
        match github {
            true => println!("::warning title=mlcanary::{}", gh::escape_data(w)),
            false => eprintln!("warning: {}", gh::one_line(w)),
        }
    }
    if args.format == Format::Text && !r.dry_run {
        println!("result: {}", r.outcome.result());
        if let Some(why) = r.outcome.reason() {
            println!("why: {}", gh::one_line(why));
        }
        println!("traffic now: {}", summary::traffic_words(r));
    }
    Ok(())
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
        providers: crate::rollout::driver::shared(build::providers(
            c,
            std::sync::Arc::new(crate::rollout::azure::NoTokens),
        )?),
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

/// The same version already finished: report it, change nothing.
fn already_done(
    c: &Config,
    plan: &Plan,
    platform: &mut dyn crate::platform::Platform,
    state: crate::core::progress::State,
    stored: Option<&crate::core::progress::Progress>,
) -> RunRecord {
    use crate::core::machine::Outcome;
    let run = stored.map_or(String::new(), |p| format!(" by run {}", p.run_id));
    let outcome = match state {
        crate::core::progress::State::Promoted => Outcome::Promoted,
        _ => Outcome::RolledBack {
            reason: format!("this version was already rolled back{run}; nothing was changed (pass --force to roll it out again)"),
        },
    };
    let now = SystemClock.now_ms();
    let mut warnings = Vec::new();
    if state == crate::core::progress::State::Promoted {
        // A run killed during its promote: finish it (every step is computed from the live
        // object, so a finished promotion sends nothing).
        if let Err(e) = platform.promote() {
            warnings.push(format!("completing the earlier promotion: {e}"));
        }
    }
    // A run killed right after its promote: the controller may not have acted yet.
    super::manual::wait_settled(
        platform,
        std::time::Duration::from_secs(30),
        std::time::Duration::from_millis(250),
    );
    let (traffic, traffic_error) = match platform.traffic() {
        Ok(t) => (Some(t), None),
        Err(e) => (None, Some(e.to_string())),
    };
    println!(
        "{} already {}{run}: nothing to do",
        c.model.uri,
        outcome.result()
    );
    RunRecord {
        name: c.name.clone(),
        platform: c.target.platform.as_str().into(),
        model_uri: c.model.uri.clone(),
        model_version: c.model.version.clone(),
        dry_run: false,
        started_at: now,
        finished_at: now,
        final_weight: if outcome == Outcome::Promoted { 100 } else { 0 },
        outcome,
        stage: plan.stages.last().map(|s| s.label()).unwrap_or_default(),
        traffic,
        traffic_error,
        events: Vec::new(),
        queries: Vec::new(),
        requests: Vec::new(),
        warnings,
    }
}
