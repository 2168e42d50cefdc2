//! `mlcanary run`: the rollout. `--dry-run` walks the whole plan over a recording API and prints
//! every request and rendered query; nothing is sent.

use super::UsageError;
use crate::cli::{Format, RunArgs};
use crate::config::Config;
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

pub fn run(args: &RunArgs) -> anyhow::Result<i32> {
    use crate::report::github as gh;
    use crate::report::redact::neutralise;
    let github = std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true");
    let (c, renderer) = match super::load(&args.config) {
        Ok(loaded) => loaded,
        Err(e) => {
            // Every exit writes its reports, a config that does not load included (exit 2).
            write_reports(&unloaded(&args.config.config, &e), args, github)?;
            return Err(e);
        }
    };
    // Where traffic is, when the run read it before stopping without a write.
    let mut seen = None;
    let record = if args.dry_run {
        dry_run(&c, renderer)
    } else {
        live(&c, renderer, github, args.force, args.format, &mut seen)
    };
    let record = match record {
        Ok(r) => r,
        Err(e) => {
            // Every exit writes its reports; this run stopped before its first write.
            let mut record = not_started(&c, args.dry_run, &e);
            if let Some(t) = seen {
                record.traffic = Some(t);
                record.traffic_error = None;
            }
            write_reports(&record, args, github)?;
            return Err(e);
        }
    };
    if args.dry_run && args.format == Format::Text {
        crate::out!("{}", neutralise(&dry_run_text(&c, &record)));
    }
    if args.format == Format::Json {
        crate::outln!("{}", gh::safe_json(&redacted_json(&record)?));
    }
    write_reports(&record, args, github)?;
    Ok(record.outcome.exit_code())
}

/// A real rollout: signals cancel it (rolling back first), progress goes to stdout.
fn live(
    c: &Config,
    renderer: Renderer,
    github: bool,
    force: bool,
    format: Format,
    seen: &mut Option<crate::platform::Traffic>,
) -> anyhow::Result<RunRecord> {
    let c = &crate::rollout::kube_live::with_context_namespace(c.clone());
    let env = |k: &str| std::env::var(k).ok();
    let cancel = guard(c, github, &env);
    let plan = Plan::for_run(c);
    let env_values = crate::rollout::context::env_subset(c, &env);
    // Everything renders before anything is sent (or even connected to).
    let rendered = build::render_run(c, &plan, &renderer, &env_values)?;
    let mut console = console(c, &plan, format);
    let tokens = crate::rollout::live::azure_tokens(c, &mut |l| console.event(l))?;
    let mut platform = crate::rollout::live::platform(c, &rendered, tokens.clone(), &cancel)?;
    let tokens = tokens.unwrap_or_else(|| std::sync::Arc::new(crate::rollout::azure::NoTokens));
    // What the live object says about an earlier run of this (or another) version.
    let stored = match platform.load_progress() {
        Ok(s) => s.and_then(|s| crate::core::progress::Progress::decode(&s)),
        Err(e) => return Err(crate::rollout::live::SetupError::Progress(e).into()),
    };
    let gitops = platform.gitops_owners();
    for w in &gitops {
        console.event(&format!("warning: {w}"));
    }
    let persist = match crate::core::progress::decide(
        stored.as_ref(),
        &c.model.uri,
        c.model.version.as_deref(),
        force,
        plan.stages.len(),
    ) {
        Resume::Fresh => Persist {
            run_id: format!("{:x}-{}", SystemClock.now_ms() / 1000, std::process::id()),
            resume: None,
        },
        Resume::Continue {
            run_id,
            phase,
            started_at,
            failed,
        } => Persist {
            run_id,
            resume: Some((phase, failed, started_at)),
        },
        Resume::Busy {
            other,
            phase,
            weight,
        } => {
            *seen = platform.traffic().ok();
            return Err(UsageError(format!(
                "refusing to start: {other} is mid-rollout ({}, canary {weight}%); let it finish, roll it back (`mlcanary rollback`), or pass --force",
                plan.stages.get(phase).map_or_else(|| format!("phase {phase}"), |s| s.label())
            ))
            .into());
        }
        Resume::Done { state } => {
            return Ok(already_done(
                c,
                &plan,
                platform.as_mut(),
                state,
                stored.as_ref(),
                format,
            ))
        }
    };
    let (providers, compare) = live_providers(c, tokens, &cancel, &env)?;
    let driver = Driver {
        config: c,
        plan,
        platform,
        providers,
        renderer: &renderer,
        clock: &SystemClock,
        cancel,
        env: env_values,
        rendered,
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
    record.compare = compare.and_then(|s| s.outcome());
    record.warnings.extend(gitops);
    Ok(record)
}

/// Every secret held is redacted from every output (in GitHub Actions also masked, including
/// those the clients register later: the kube token as it is first sent), and a signal cancels.
fn guard(c: &Config, github: bool, env: &dyn Fn(&str) -> Option<String>) -> Cancel {
    crate::report::redact::announce_masks(github);
    let mut secrets = crate::rollout::live::secret_values(c, env);
    secrets.extend(crate::notify::secret_values(&c.notify, env));
    for secret in secrets {
        crate::report::redact::register(&secret);
    }
    let cancel = Cancel::new();
    let on_signal = cancel.clone();
    // SIGINT, SIGTERM and SIGHUP (the `termination` feature); a second handler cannot be set in
    // tests that call this twice, which is harmless: the first one holds the same kind of flag.
    let _ = ctrlc::set_handler(move || on_signal.cancel());
    cancel
}

/// The live progress log: on stderr when stdout carries JSON.
fn console(c: &Config, plan: &Plan, format: Format) -> Console<Box<dyn std::io::Write>> {
    let sink: Box<dyn std::io::Write> = match format {
        Format::Json => Box::new(std::io::stderr()),
        Format::Text => Box::new(crate::report::out::Stdout),
    };
    let rules = crate::report::record::RunInfo::new(c, plan).guardrails;
    let ci = crate::report::console::Ci::detect(&|k| std::env::var(k).ok());
    Console::new(sink, ci).with_rules(rules)
}

/// Providers by name.
type Providers = std::collections::BTreeMap<String, crate::rollout::driver::SharedProvider>;

/// The live run's providers: the config's, and the prediction comparison's session when the
/// config has one.
fn live_providers(
    c: &Config,
    tokens: std::sync::Arc<dyn crate::clients::azure::credential::TokenSource>,
    cancel: &Cancel,
    env: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<(
    Providers,
    Option<std::sync::Arc<crate::rollout::compare::Session>>,
)> {
    let compare = crate::rollout::compare::live_session(c, tokens.clone(), cancel.clone(), env)?;
    // Endpoint keys and tokens: redacted from every output, masked in GitHub logs.
    for secret in compare
        .iter()
        .flat_map(|s| crate::rollout::compare::secret_values(s))
    {
        crate::report::redact::register(&secret);
    }
    let mut providers = crate::rollout::driver::shared(build::providers(c, tokens)?);
    if let Some(s) = &compare {
        providers.insert(
            crate::config::compare::COMPARE_PROVIDER.into(),
            std::sync::Arc::new(crate::rollout::compare::CompareProvider(s.clone())),
        );
    }
    Ok((providers, compare))
}

/// A line for the log: stdout in text mode; stderr when stdout carries JSON (the GitHub runner
/// reads workflow commands from both).
pub fn log_line(format: Format, line: &str) {
    match format {
        Format::Json => eprintln!("{line}"),
        Format::Text => crate::outln!("{line}"),
    }
}

/// Every report the run asked for, plus the CI ones the environment asks for.
pub fn write_reports(r: &RunRecord, args: &RunArgs, github: bool) -> anyhow::Result<()> {
    use crate::report::redact::{command_data, neutralise, neutralise_line, redact};
    use crate::report::{junit, outputs, summary};
    if let Some(p) = &args.report {
        std::fs::write(p, redacted_json(r)? + "\n")?;
    }
    if let Some(p) = &args.junit {
        std::fs::write(p, redact(&junit::render(r)))?;
    }
    if let Some(p) = &args.dotenv {
        std::fs::write(p, redact(&outputs::dotenv(r, args.report.as_deref())))?;
    }
    let links = summary::Links {
        config: Some(args.config.config.display().to_string()),
        report: args.report.as_ref().map(|p| p.display().to_string()),
    };
    summary::append_step_summary(&redact(&summary::render_with(r, &links)))?;
    if let Some(p) = std::env::var_os("GITHUB_OUTPUT").filter(|v| !v.is_empty()) {
        outputs::write(std::path::Path::new(&p), r, args.report.as_deref())?;
    }
    if github && r.outcome.exit_code() != 0 && !r.dry_run {
        let why = r.outcome.reason().unwrap_or("interrupted");
        log_line(
            args.format,
            &format!(
                "::error title={}::{}",
                crate::report::github::escape_property(&format!(
                    "mlcanary: {}",
                    r.outcome.result()
                )),
                command_data(&format!(
                    "{why}. Traffic now: {}",
                    summary::traffic_words(r)
                ))
            ),
        );
    }
    for w in &r.warnings {
        match github {
            true => log_line(
                args.format,
                &format!("::warning title=mlcanary::{}", command_data(w)),
            ),
            false => eprintln!("warning: {}", neutralise_line(w)),
        }
    }
    if args.format == Format::Text && !r.dry_run {
        crate::outln!("result: {}", r.outcome.result());
        if let Some(why) = r.outcome.reason() {
            crate::outln!("why: {}", neutralise_line(why));
        }
        if let Some(c) = &r.compare {
            crate::out!("{}", neutralise(&crate::report::compare::markdown(c)));
        }
        crate::outln!(
            "traffic now: {}",
            neutralise_line(&summary::traffic_words(r))
        );
    }
    Ok(())
}

/// The run record (the published report document) as pretty JSON with every registered secret
/// redacted.
fn redacted_json(r: &RunRecord) -> anyhow::Result<String> {
    let mut v = crate::report::json::document(r);
    crate::report::redact::redact_json(&mut v);
    Ok(serde_json::to_string_pretty(&v)?)
}

/// Walk the whole plan on a virtual clock: the live loop and platform driver over a recorder
/// (`platform::rehearsal`: readiness assumed, placeholder revisions) and describing providers
/// (`metrics::describing`: each query rendered and described, not sent).
pub fn dry_run(c: &Config, renderer: Renderer) -> anyhow::Result<RunRecord> {
    use crate::metrics::describing::Describing;
    let plan = Plan::for_run(c);
    let rendered = build::render_run(c, &plan, &renderer, &Default::default())?;
    let log: RequestLog = Default::default();
    let recorded = build::recording_platform(c, &rendered, log.clone())?;
    let platform = Box::new(crate::platform::rehearsal::rehearsal(
        recorded,
        crate::rollout::context::placeholder_revisions(c),
    ));
    log.borrow_mut().clear(); // seeding is not a request
                              // A fixed, readable epoch (2026-01-01T00:00:00Z) keeps dry-run output deterministic.
    let clock = VirtualClock::new(1_767_225_600_000);
    let mut providers = build::providers(c, std::sync::Arc::new(crate::rollout::azure::NoTokens))?
        .into_iter()
        .map(|(k, p)| {
            (
                k,
                std::sync::Arc::new(Describing(p)) as crate::rollout::driver::SharedProvider,
            )
        })
        .collect::<Providers>();
    if let Some(k) = &c.compare {
        let n = crate::rollout::compare::load_requests(k, std::path::Path::new(""))?.len();
        if let Some(d) = crate::rollout::compare::dry(c, n) {
            providers.insert(
                crate::config::compare::COMPARE_PROVIDER.into(),
                std::sync::Arc::new(Describing(d)),
            );
        }
    }
    let driver = Driver {
        config: c,
        plan,
        platform,
        providers,
        renderer: &renderer,
        clock: &clock,
        cancel: Cancel::new(),
        env: Default::default(),
        rendered,
    };
    let mut record = driver.run(&mut Quiet as &mut dyn Progress);
    // What a rehearsal cannot know: no live traffic was read and nothing was changed.
    record.dry_run = true;
    record.changed = false;
    record.traffic = None;
    record.traffic_error = None;
    record.info.traffic_read_at = None;
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
            // JSON-safe for the log (`##[` as `##\u005b`): the body shown is the body sent.
            let body = serde_json::to_string(b).unwrap_or_default();
            let _ = writeln!(o, "     {}", crate::report::github::safe_json(&body));
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

/// The record of a run that ended before its first write (no kubeconfig, an unreachable API,
/// missing credentials, a template error, another rollout in progress): nothing was changed, so
/// traffic is where it was before the run.
pub fn not_started(c: &Config, dry_run: bool, e: &anyhow::Error) -> RunRecord {
    use crate::core::machine::Outcome;
    let now = SystemClock.now_ms();
    let reason = format!("{e:#}");
    let reason = if reason.contains("nothing was changed") {
        reason
    } else {
        format!("{reason} (nothing was changed)")
    };
    RunRecord {
        dry_run,
        started_at: now,
        finished_at: now,
        outcome: Outcome::Failed {
            reason,
            rolled_back: false,
        },
        stage: "not started".into(),
        traffic_error: Some("not read: the run stopped before reaching the platform".into()),
        ..RunRecord::of(c, &Plan::for_run(c))
    }
}

/// The record of a run whose config did not load: nothing was read, sent or changed.
fn unloaded(path: &std::path::Path, e: &anyhow::Error) -> RunRecord {
    use crate::core::machine::Outcome;
    let now = SystemClock.now_ms();
    RunRecord {
        name: path
            .file_stem()
            .map_or_else(String::new, |s| s.to_string_lossy().into_owned()),
        started_at: now,
        finished_at: now,
        outcome: Outcome::Failed {
            reason: format!("the config did not load: {e:#} (nothing was changed)"),
            rolled_back: false,
        },
        stage: "not started".into(),
        traffic_error: Some("not read: the config did not load".into()),
        ..RunRecord::empty()
    }
}

/// The same version already finished: report it, change nothing.
fn already_done(
    c: &Config,
    plan: &Plan,
    platform: &mut dyn crate::platform::Platform,
    state: crate::core::progress::State,
    stored: Option<&crate::core::progress::Progress>,
    format: Format,
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
    log_line(
        format,
        &crate::report::redact::neutralise_line(&format!(
            "{} already {}{run}: nothing to do",
            c.model.uri,
            outcome.result()
        )),
    );
    let mut r = RunRecord {
        started_at: now,
        finished_at: now,
        final_weight: if outcome == Outcome::Promoted { 100 } else { 0 },
        outcome,
        stage: plan.stages.last().map(|s| s.label()).unwrap_or_default(),
        traffic,
        traffic_error,
        warnings,
        ..RunRecord::of(c, plan)
    };
    r.info.run_id = stored.map(|p| p.run_id.clone()).unwrap_or_default();
    r.info.traffic_read_at = Some(now);
    r
}
