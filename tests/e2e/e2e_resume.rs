//! Resumable runs: progress lives on the live object, so a runner killed with SIGKILL (no handler,
//! no rollback) is continued by the next run instead of restarting at the first stage; another
//! version is refused while one is mid-rollout; a finished rollout is reported, not redone.

use crate::support::e2e;

use e2e::{Env, Kind, Opts};
use std::time::{Duration, Instant};

const ANNOTATION: &str = "mlcanary.io/rollout";

fn record(env: &Env) -> String {
    env.object(&Kind::Kserve.path())
        .and_then(|o| {
            o["metadata"]["annotations"][ANNOTATION]
                .as_str()
                .map(String::from)
        })
        .unwrap_or_default()
}

fn wait_for_record(env: &Env, needle: &str) -> String {
    let until = Instant::now() + Duration::from_secs(40);
    loop {
        let r = record(env);
        if r.contains(needle) {
            return r;
        }
        assert!(
            Instant::now() < until,
            "the live object never recorded {needle:?}; last: {r:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn patches(env: &Env) -> usize {
    env.kube
        .requests()
        .iter()
        .filter(|r| r.method == "PATCH")
        .count()
}

#[test]
fn a_killed_run_is_resumed_and_a_finished_one_is_not_redone() {
    let Some(mut env) = Env::start(Kind::Kserve) else {
        return;
    };
    env.drive(0.0);
    let opts = Opts {
        stages: vec![10, 50, 80],
        pause: "4s",
        ..Opts::default()
    };
    let cfg = env.config(&opts);

    // Run 1: killed with SIGKILL once stage 2 (50%) is recorded.
    let first = env.spawn_run(&cfg);
    let rec = wait_for_record(&env, "phase=1;weight=50");
    first.kill9();
    assert!(
        rec.starts_with("state=in-progress;phase=1;weight=50;run="),
        "{rec}"
    );
    let run_id = rec
        .split(";run=")
        .nth(1)
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();

    // A different version while this one is mid-rollout: refused, nothing changed.
    let before = patches(&env);
    let other = env.run(&env.config(&Opts {
        model_uri: "s3://models/fd-v3".into(),
        ..opts.clone()
    }));
    assert_eq!(other.code, 2, "{}", other.log());
    assert!(
        other.stderr.contains("refusing to start") && other.stderr.contains("--force"),
        "{}",
        other.stderr
    );
    assert_eq!(patches(&env), before, "a refused run sends no write");

    // Run 2: the same version continues at 50% (no re-apply of the model at 10%) and finishes.
    let second = env.run(&cfg);
    assert_eq!(second.code, 0, "{}", second.log());
    assert!(
        second
            .stdout
            .contains(&format!("resuming run {run_id} at stage 2 (50%)")),
        "{}",
        second.stdout
    );
    let weights = second.weights_started();
    assert_eq!(weights, [50, 80, 100], "continued, not restarted");
    assert!(
        record(&env).starts_with("state=promoted;"),
        "{}",
        record(&env)
    );

    // Run 3: already promoted: reported, nothing sent.
    let before = patches(&env);
    let third = env.run(&cfg);
    assert_eq!(third.code, 0, "{}", third.log());
    assert!(
        third.stdout.contains("already promoted"),
        "{}",
        third.stdout
    );
    assert_eq!(patches(&env), before, "a finished rollout is not redone");
}

#[test]
fn status_shows_the_stored_rollout() {
    let Some(mut env) = Env::start(Kind::Kserve) else {
        return;
    };
    env.drive(0.0);
    let cfg = env.config(&Opts {
        stages: vec![10, 50],
        pause: "6s",
        ..Opts::default()
    });
    let run = env.spawn_run(&cfg);
    wait_for_record(&env, "phase=0;weight=10");
    let path = env.write_config(&cfg);
    let status = env.mlcanary(&["status".into(), "-c".into(), path.display().to_string()]);
    run.kill9();
    assert_eq!(status.code, 0, "{}", status.log());
    assert!(
        status.stdout.contains("rollout: run ")
            && status
                .stdout
                .contains("in-progress at phase 1 (canary 10%)"),
        "{}",
        status.stdout
    );
}
