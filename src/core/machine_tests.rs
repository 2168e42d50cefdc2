//! Table tests of the decision rules, on a virtual clock with a scripted platform.

use super::*;
use crate::core::fault::{Fault, FaultKind};
use crate::core::guardrail::Zone;
use crate::core::judge::Judgement;
use crate::core::verdict::Verdict;

const BASE: &str = r#"
apiVersion: mlcanary/v1
name: m
model: {uri: s3://m}
target: {platform: seldon, namespace: ns, stableModelUri: "s3://m/v1"}
providers: {prom: {type: prometheus, address: "http://p:9090"}}
"#;

fn config(extra: &str) -> Config {
    crate::config::load_str("t.yaml", &format!("{BASE}{extra}"), None).unwrap()
}

fn j(name: &str, v: Verdict) -> Judgement {
    Judgement {
        guardrail: name.into(),
        verdict: v,
        zone: Zone::Between,
        value: None,
        detail: format!("{name} said {v:?}"),
        stats: None,
        dry_run: false,
        critical: false,
        proven: false,
        sequential: false,
    }
}

struct Run {
    outcome: Outcome,
    actions: Vec<Action>,
    elapsed_ms: i64,
    machine_events: Vec<Event>,
}

/// Drive the machine: `verdicts(phase, check)` answers every check; `platform(action)` may fail.
fn drive(
    c: &Config,
    mut verdicts: impl FnMut(usize, usize) -> Vec<Judgement>,
    mut platform: impl FnMut(&Action) -> Result<(), String>,
    mut ready: impl FnMut(usize) -> Input,
    cancel_at: Option<i64>,
) -> Run {
    let mut m = Machine::new(
        Plan::from_config(c),
        Limits::from_config(c),
        c.guardrails.len(),
    );
    let t0 = 1_000_000;
    let mut now = t0;
    let mut input = Input::Start;
    let mut actions = vec![];
    let mut polls = 0;
    for _ in 0..10_000 {
        let a = m.step(now, input.clone());
        actions.push(a.clone());
        input = match &a {
            Action::Prepare { .. }
            | Action::SetTraffic { .. }
            | Action::Promote
            | Action::Rollback { .. } => match platform(&a) {
                Ok(()) => Input::Applied,
                Err(e) => Input::PlatformError(Fault::new(FaultKind::Refused, e)),
            },
            Action::PollReady => {
                polls += 1;
                ready(polls)
            }
            Action::SleepUntil(t) => {
                assert!(*t >= now, "time never goes back");
                match cancel_at {
                    Some(c) if *t >= t0 + c && now < t0 + c => {
                        now = t0 + c;
                        Input::Cancelled
                    }
                    _ => {
                        now = *t;
                        Input::Woke
                    }
                }
            }
            Action::Check { phase, check } => Input::Checked(verdicts(*phase, *check)),
            Action::Finish(o) => {
                return Run {
                    outcome: o.clone(),
                    actions,
                    elapsed_ms: now - t0,
                    machine_events: m.events().to_vec(),
                }
            }
        };
    }
    panic!("machine did not finish");
}

fn ok(_: &Action) -> Result<(), String> {
    Ok(())
}
fn ready(_: usize) -> Input {
    Input::Ready
}
fn all(v: Verdict) -> impl FnMut(usize, usize) -> Vec<Judgement> {
    move |_, _| vec![j("g", v)]
}

const ONE_GUARDRAIL: &str = r#"
stages: [{weight: 10, pause: 2m}, {weight: 50, pause: 2m}]
analysis: {interval: 1m, warmup: 0s, inconclusiveLimit: 2}
guardrails: [{name: g, provider: prom, query: q, promote: "< 1", rollback: "> 2"}]
"#;

#[test]
fn healthy_canary_walks_every_stage_then_promotes() {
    let c = config(ONE_GUARDRAIL);
    let r = drive(&c, all(Verdict::Pass), ok, ready, None);
    assert_eq!(r.outcome, Outcome::Promoted);
    let moves: Vec<_> = r
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::Prepare { weight, .. } | Action::SetTraffic { weight, .. } => Some(*weight),
            Action::Promote => Some(1000),
            _ => None,
        })
        .collect();
    // The implied final 100% is reached by promoting directly.
    assert_eq!(moves, [10, 50, 1000]);
    // Two observed stages of 2m each; checks at 0, 1m, 2m.
    assert_eq!(r.elapsed_ms, 240_000);
    let checks = r
        .actions
        .iter()
        .filter(|a| matches!(a, Action::Check { .. }))
        .count();
    assert_eq!(checks, 6);
}

#[test]
fn a_failure_rolls_back_at_once_with_failure_limit_zero() {
    let c = config(ONE_GUARDRAIL);
    let r = drive(&c, all(Verdict::Fail), ok, ready, None);
    match &r.outcome {
        Outcome::RolledBack { reason } => assert!(
            reason.contains("guardrail g failed 1 check(s) (failureLimit 0)"),
            "{reason}"
        ),
        o => panic!("{o:?}"),
    }
    assert_eq!(r.elapsed_ms, 0, "rolled back at the first check");
    assert_eq!(r.outcome.exit_code(), 1);
}

#[test]
fn failure_limit_tolerates_then_rolls_back() {
    let c = config(&ONE_GUARDRAIL.replace(
        "inconclusiveLimit: 2",
        "inconclusiveLimit: 2, failureLimit: 2",
    ));
    // Fail at checks 0, 2 and 4 of the whole rollout: the third failure exceeds the limit.
    let mut n = 0;
    let r = drive(
        &c,
        |_, _| {
            n += 1;
            vec![j(
                "g",
                if n % 2 == 1 {
                    Verdict::Fail
                } else {
                    Verdict::Pass
                },
            )]
        },
        ok,
        ready,
        None,
    );
    assert!(
        matches!(r.outcome, Outcome::RolledBack { .. }),
        "{:?}",
        r.outcome
    );
    assert_eq!(n, 5);
}

#[test]
fn critical_ignores_failure_limit() {
    let c = config(&ONE_GUARDRAIL.replace("inconclusiveLimit: 2", "failureLimit: 5"));
    let r = drive(
        &c,
        |_, _| {
            let mut x = j("g", Verdict::Fail);
            x.critical = true;
            vec![x]
        },
        ok,
        ready,
        None,
    );
    assert!(matches!(&r.outcome, Outcome::RolledBack { reason } if reason.contains("critical")));
}

#[test]
fn holds_extend_then_on_inconclusive_decides() {
    for (policy, want_code) in [("rollback", 1), ("fail", 4)] {
        let c = config(&ONE_GUARDRAIL.replace(
            "inconclusiveLimit: 2",
            &format!("inconclusiveLimit: 2, onInconclusive: {policy}"),
        ));
        let r = drive(&c, all(Verdict::Hold), ok, ready, None);
        assert_eq!(
            r.outcome.exit_code(),
            want_code,
            "{policy}: {:?}",
            r.outcome
        );
        // 3 scheduled checks + 2 extensions of 1m each in the first stage.
        assert_eq!(r.elapsed_ms, 240_000);
        let ext = r
            .machine_events
            .iter()
            .filter(|e| matches!(e.kind, EventKind::Extended { .. }))
            .count();
        assert_eq!(ext, 2);
        if policy == "fail" {
            assert!(
                !r.actions
                    .iter()
                    .any(|a| matches!(a, Action::Rollback { .. })),
                "traffic is left in place"
            );
        }
    }
}

#[test]
fn a_hold_that_clears_during_extension_advances() {
    let c = config(ONE_GUARDRAIL);
    let mut n = 0;
    let r = drive(
        &c,
        |_, _| {
            n += 1;
            vec![j("g", if n <= 3 { Verdict::Hold } else { Verdict::Pass })]
        },
        ok,
        ready,
        None,
    );
    assert_eq!(r.outcome, Outcome::Promoted);
    // stage 1: 3 checks + 1 extension (pass); stage 2: 3 checks.
    assert_eq!(n, 7);
}

#[test]
fn consecutive_errors_beyond_error_limit_roll_back_and_a_success_resets() {
    let c = config(&ONE_GUARDRAIL.replace(
        "inconclusiveLimit: 2",
        "inconclusiveLimit: 2, errorLimit: 2",
    ));
    // error, error, pass, error, error, error -> the 3rd consecutive error exceeds errorLimit 2.
    let script = [
        Verdict::Error,
        Verdict::Error,
        Verdict::Pass,
        Verdict::Error,
        Verdict::Error,
        Verdict::Error,
    ];
    let mut n = 0;
    let r = drive(
        &c,
        |_, _| {
            n += 1;
            vec![j("g", script[(n - 1).min(5)])]
        },
        ok,
        ready,
        None,
    );
    assert!(
        matches!(&r.outcome, Outcome::RolledBack { reason } if reason.contains("3 provider errors in a row (errorLimit 2)")),
        "{:?}",
        r.outcome
    );
    assert_eq!(n, 6);
}

#[test]
fn dry_run_guardrails_never_act() {
    let c = config(ONE_GUARDRAIL);
    let r = drive(
        &c,
        |_, _| {
            let mut x = j("g", Verdict::Fail);
            x.dry_run = true;
            vec![x]
        },
        ok,
        ready,
        None,
    );
    assert_eq!(r.outcome, Outcome::Promoted);
}

#[test]
fn deadline_rolls_back() {
    let c = config(&ONE_GUARDRAIL.replace(
        "inconclusiveLimit: 2",
        "inconclusiveLimit: 2, deadline: 90s",
    ));
    let r = drive(&c, all(Verdict::Pass), ok, ready, None);
    assert!(
        matches!(&r.outcome, Outcome::RolledBack { reason } if reason.contains("deadline of 1m30s")),
        "{:?}",
        r.outcome
    );
    assert!(r.elapsed_ms >= 90_000 && r.elapsed_ms <= 120_000);
}

#[test]
fn readiness_timeout_and_failure_roll_back() {
    let c = config(ONE_GUARDRAIL);
    let r = drive(
        &c,
        all(Verdict::Pass),
        ok,
        |_| Input::NotReady("revision 2 not ready".into()),
        None,
    );
    assert!(
        matches!(&r.outcome, Outcome::RolledBack { reason } if reason.contains("not ready within 10m")),
        "{:?}",
        r.outcome
    );
    assert_eq!(r.elapsed_ms, 600_000);
    let r = drive(
        &c,
        all(Verdict::Pass),
        ok,
        |n| {
            if n < 3 {
                Input::NotReady("x".into())
            } else {
                Input::ReadyFailed("state Failed".into())
            }
        },
        None,
    );
    assert!(
        matches!(&r.outcome, Outcome::RolledBack { reason } if reason.contains("state Failed"))
    );
    assert_eq!(
        r.elapsed_ms, 1_500,
        "polls after 0.5 s and 1 s more, then the failure"
    );
}

#[test]
fn readiness_polls_fast_first_then_back_off_to_ready_poll() {
    // (attempt, max) -> wait before the next poll
    let cases = [
        (0, 5_000, 500),
        (1, 5_000, 1_000),
        (2, 5_000, 2_000),
        (3, 5_000, 4_000),
        (4, 5_000, 5_000),
        (40, 5_000, 5_000),
        (0, 2_000, 500),
        (3, 2_000, 2_000),
        (0, 200, 200),
        (5, 200, 200),
    ];
    for (attempt, max, want) in cases {
        assert_eq!(ready_poll_delay(attempt, max), want, "{attempt} {max}");
    }
}

#[test]
fn the_stage_clock_starts_when_the_canary_is_ready() {
    // Ready at the 4th poll: polls at 0, 0.5, 1.5, 3.5 s. The first check (warmup 0s) follows
    // at once and the stage's checks count from 3.5 s (with fixed 5-s polls: from 15 s).
    for (extra, ready_at) in [("", 3_500), ("  readyPoll: 1s\n", 2_500)] {
        let text = ONE_GUARDRAIL.replace(
            "stages:",
            &format!(
                "target:\n  platform: seldon\n  namespace: ns\n  stableModelUri: s3://m/v1\n{extra}stages:"
            ),
        );
        let c = crate::config::load_str(
            "t.yaml",
            &BASE
                .replace(
                    "target: {platform: seldon, namespace: ns, stableModelUri: \"s3://m/v1\"}\n",
                    "",
                )
                .to_string()
                .replace("providers:", &format!("{text}providers:")),
            None,
        )
        .unwrap();
        let r = drive(
            &c,
            all(Verdict::Pass),
            ok,
            |n| {
                if n < 4 {
                    Input::NotReady("starting".into())
                } else {
                    Input::Ready
                }
            },
            None,
        );
        let ready = r
            .machine_events
            .iter()
            .find(|e| matches!(e.kind, EventKind::Ready))
            .unwrap();
        assert_eq!(ready.at - 1_000_000, ready_at, "{extra:?}");
        let sleeps: Vec<i64> = r
            .actions
            .iter()
            .take_while(|a| !matches!(a, Action::Check { .. }))
            .filter_map(|a| match a {
                Action::SleepUntil(t) => Some(t - 1_000_000),
                _ => None,
            })
            .collect();
        assert_eq!(*sleeps.last().unwrap(), ready_at, "{sleeps:?}");
    }
}

#[test]
fn platform_failure_rolls_back_and_exits_3_and_a_failed_rollback_says_so() {
    let c = config(ONE_GUARDRAIL);
    let r = drive(
        &c,
        all(Verdict::Pass),
        |a| {
            if matches!(a, Action::SetTraffic { weight: 50, .. }) {
                Err("HTTP 500".into())
            } else {
                Ok(())
            }
        },
        ready,
        None,
    );
    assert!(
        matches!(&r.outcome, Outcome::Failed { rolled_back: true, reason } if reason.contains("HTTP 500")),
        "{:?}",
        r.outcome
    );
    assert_eq!(r.outcome.exit_code(), 3);
    let r = drive(
        &c,
        all(Verdict::Fail),
        |a| {
            if matches!(a, Action::Rollback { .. }) {
                Err("HTTP 503".into())
            } else {
                Ok(())
            }
        },
        ready,
        None,
    );
    match &r.outcome {
        Outcome::Failed {
            rolled_back: false,
            reason,
        } => {
            assert!(
                reason.contains("guardrail g failed")
                    && reason.contains("rollback failed: HTTP 503"),
                "{reason}"
            )
        }
        o => panic!("{o:?}"),
    }
}

#[test]
fn cancellation_rolls_back_or_leaves() {
    let c = config(ONE_GUARDRAIL);
    let r = drive(&c, all(Verdict::Pass), ok, ready, Some(30_000));
    assert_eq!(r.outcome, Outcome::Interrupted { rolled_back: true });
    assert!(matches!(
        r.actions[r.actions.len() - 2],
        Action::Rollback { .. }
    ));
    assert_eq!(r.outcome.exit_code(), 130);
    let c = config(&ONE_GUARDRAIL.replace("inconclusiveLimit: 2", "onCancel: leave"));
    let r = drive(&c, all(Verdict::Pass), ok, ready, Some(30_000));
    assert_eq!(r.outcome, Outcome::Interrupted { rolled_back: false });
    assert!(!r
        .actions
        .iter()
        .any(|a| matches!(a, Action::Rollback { .. })));
}

#[test]
fn advance_early_ends_a_stage_on_proof() {
    let c = config(
        r#"
stages: [{weight: 10, pause: 10m}]
analysis: {interval: 1m, warmup: 0s, advanceEarly: true}
guardrails:
  - name: s
    provider: prom
    sequential:
      test: rate
      canary: {events: a, total: b}
      baseline: {events: c, total: d}
"#,
    );
    let r = drive(
        &c,
        |_, k| {
            let mut x = j("s", if k >= 2 { Verdict::Pass } else { Verdict::Hold });
            x.proven = k >= 2;
            x.sequential = true;
            vec![x]
        },
        ok,
        ready,
        None,
    );
    assert_eq!(r.outcome, Outcome::Promoted);
    assert_eq!(
        r.elapsed_ms, 120_000,
        "proven at the third check (2m), not after the 10m pause"
    );
}

#[test]
fn shadow_phase_mirrors_first_then_turns_mirror_off() {
    let c = config(
        r#"
shadow: {percent: 10, duration: 1m}
stages: [{weight: 20, pause: 1m}]
analysis: {interval: 1m, warmup: 0s}
guardrails: [{name: g, provider: prom, query: q, promote: "< 1"}]
"#,
    );
    let r = drive(&c, all(Verdict::Pass), ok, ready, None);
    assert_eq!(r.outcome, Outcome::Promoted);
    assert!(matches!(
        r.actions[0],
        Action::Prepare {
            weight: 0,
            mirror: 10,
            ..
        }
    ));
    assert!(r.actions.iter().any(|a| matches!(
        a,
        Action::SetTraffic {
            weight: 20,
            mirror: Some(0),
            ..
        }
    )));
}

#[test]
fn a_resumed_run_continues_at_its_stage_with_its_failures() {
    let c = config(&ONE_GUARDRAIL.replace(
        "inconclusiveLimit: 2",
        "inconclusiveLimit: 2, failureLimit: 1",
    ));
    let mut m = Machine::new(Plan::from_config(&c), Limits::from_config(&c), 1);
    m.resume_at(1, vec![1], 500);
    // Stage 2 (50%) is set again, not the model re-applied.
    assert_eq!(
        m.step(1_000, Input::Start),
        Action::SetTraffic {
            phase: 1,
            weight: 50,
            mirror: None
        }
    );
    assert_eq!(m.started_at(), 500);
    assert_eq!(m.step(1_000, Input::Applied), Action::PollReady);
    assert!(matches!(
        m.step(1_000, Input::Ready),
        Action::Check { phase: 1, check: 0 }
    ));
    // One more failure exceeds failureLimit 1 because the earlier run's failure counts.
    let a = m.step(1_000, Input::Checked(vec![j("g", Verdict::Fail)]));
    assert!(
        matches!(&a, Action::Rollback { reason } if reason.contains("failed 2 check(s)")),
        "{a:?}"
    );
    // Resuming at the first phase re-applies the model.
    let mut m = Machine::new(Plan::from_config(&c), Limits::from_config(&c), 1);
    m.resume_at(0, vec![0], 500);
    assert!(matches!(
        m.step(1_000, Input::Start),
        Action::Prepare {
            phase: 0,
            weight: 10,
            ..
        }
    ));
}
