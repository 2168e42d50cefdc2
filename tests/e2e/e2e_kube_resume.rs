//! A slow cluster and `kill -9` at every stage, on every Kubernetes platform: the controllers
//! react 0.7 s after each write and a model version takes 1.2 s to load (status read in between
//! is stale), and the runner is killed at every stage, once right as the stage's record is
//! written (before the controller acted) and once after the stage was judged. Each re-run must
//! continue where the live object says, and the last one must end where its report says
//! (promoted, the new version at 100%), while a sampler watching what the cluster serves sees
//! the new version's share never go down and every stage judged before traffic moves past it.
use crate::support::e2e;

use e2e::kube::KubeServer;
use e2e::{model_path, Env, Kind, Opts, CANARY_URI, NAME, NS};
use mlcanary::platform::k8s::ROLLOUT;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const LAG: Duration = Duration::from_millis(700);
const LOAD: Duration = Duration::from_millis(1200);
const ANNOTATION: &str = "mlcanary.io/rollout";

/// Where the rollout record lives.
fn record_path(kind: Kind) -> String {
    match kind {
        Kind::SeldonV2 => model_path("fd-v1"),
        k => k.path(),
    }
}

fn record(env: &Env) -> String {
    env.object(&record_path(env.kind))
        .and_then(|o| {
            o["metadata"]["annotations"][ANNOTATION]
                .as_str()
                .map(String::from)
        })
        .unwrap_or_default()
}

/// The new version's share of live traffic as the cluster serves it (controller truth: the
/// status the controller wrote, or for Seldon v2 the Model version the scheduler serves).
fn served_share(kube: &KubeServer, kind: Kind, stable: &str) -> Option<u64> {
    match kind {
        Kind::Kserve => {
            let o = kube.object(&Kind::Kserve.path())?;
            let traffic = o["status"]["components"]["predictor"]["traffic"].as_array()?;
            Some(
                traffic
                    .iter()
                    .filter(|t| t["revisionName"] == format!("{NAME}-predictor-00002"))
                    .map(|t| t["percent"].as_u64().unwrap_or(0))
                    .sum(),
            )
        }
        Kind::Seldon => {
            // Seldon v1 (Istio) routes by the VirtualService the operator writes once every
            // Deployment is available: the canary's route weight, or everything once the
            // stable predictor alone is routed and runs the new graph.
            let o = kube.object(&Kind::Seldon.path())?;
            let vs = kube.object(&format!(
                "/apis/networking.istio.io/v1alpha3/namespaces/{NS}/virtualservices/{NAME}"
            ));
            if let Some(routes) = vs
                .as_ref()
                .and_then(|v| v["spec"]["http"][0]["route"].as_array())
            {
                let canary = routes
                    .iter()
                    .find(|r| r["destination"]["subset"] == "canary");
                return Some(match canary {
                    Some(_) if routes.len() == 1 => 100,
                    Some(r) => r["weight"].as_u64().unwrap_or(0),
                    None if o["spec"]["predictors"][0]["graph"]["modelUri"] == CANARY_URI
                        && o["status"]["state"] == "Available" =>
                    {
                        100
                    }
                    None => 0,
                });
            }
            let preds = o["spec"]["predictors"].as_array()?;
            let canary = preds.iter().find(|p| p["name"] == "canary");
            Some(match canary {
                Some(c)
                    if o["status"]["deploymentStatus"]
                        .as_object()
                        .is_some_and(|d| d.keys().any(|k| k.starts_with("fd-canary-"))) =>
                {
                    c["traffic"].as_u64().unwrap_or(0)
                }
                Some(_) => 0,
                None => {
                    if preds[0]["graph"]["modelUri"] == CANARY_URI {
                        100
                    } else {
                        0
                    }
                }
            })
        }
        Kind::SeldonV2 => {
            let stable_new = kube.serving_uri(&model_path("fd-v1")).as_deref() == Some(CANARY_URI);
            match kube.object(&Kind::SeldonV2.path()) {
                Some(exp) => {
                    let cs = exp["spec"]["candidates"].as_array()?;
                    let sum: u64 = cs.iter().map(|c| c["weight"].as_u64().unwrap_or(0)).sum();
                    let share = |name: &str| {
                        cs.iter()
                            .filter(|c| c["name"] == name)
                            .map(|c| c["weight"].as_u64().unwrap_or(0) * 100 / sum.max(1))
                            .sum::<u64>()
                    };
                    Some(share("fd-v2") + if stable_new { share("fd-v1") } else { 0 })
                }
                None => Some(if stable_new { 100 } else { 0 }),
            }
        }
        Kind::ArgoDrive | Kind::ArgoWatch => {
            let o = kube.object(&ROLLOUT.path(NS, NAME))?;
            let st = &o["status"];
            if st["currentPodHash"] == stable {
                return Some(0);
            }
            st["canary"]["weights"]["canary"]["weight"].as_u64()
        }
    }
}

/// Samples [`served_share`] every 10 ms until finished.
struct Sampler {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<u64>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Sampler {
    fn start(env: &Env) -> Sampler {
        let (stop, seen) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(Mutex::new(vec![])),
        );
        let (kube, kind, stable) = (env.kube.clone(), env.kind, env.stable_revision.clone());
        let (s2, seen2) = (stop.clone(), seen.clone());
        let thread = std::thread::spawn(move || {
            while !s2.load(Ordering::SeqCst) {
                if let Some(s) = served_share(&kube, kind, &stable) {
                    let mut v = seen2.lock().unwrap();
                    if v.last() != Some(&s) {
                        v.push(s);
                    }
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        Sampler {
            stop,
            seen,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> Vec<u64> {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.seen.lock().unwrap().clone()
    }
}

/// The stages each run judged (labels `stage N (W%)` followed by a check line before the next
/// stage's line), from its stdout.
fn judged(stdout: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in stdout.lines() {
        // `[ m:ss] text`
        let line = line.split_once("] ").map_or(line, |(_, t)| t);
        if let Some(rest) = line.trim_start().strip_prefix("stage ") {
            if let Some((label, _)) = rest.split_once("):") {
                current = Some(format!("stage {label})"));
            }
        } else if line.trim_start().starts_with("check ") {
            if let Some(c) = current.take() {
                out.push(c);
            }
        }
    }
    out
}

/// Within one run, traffic moves past a stage (a later stage's line, or the promote) only
/// after that stage was judged in this run: a resumed run never releases a stage (an Argo
/// pause) it did not judge. Its first stage line is exempt: it repeats the move the record
/// says was already decided.
fn assert_moves_follow_checks(stdout: &str) {
    let mut stages = 0;
    let mut checked = false;
    for line in stdout.lines() {
        let text = line.split_once("] ").map_or(line, |(_, t)| t).trim_start();
        let stage_line = text.starts_with("stage ")
            && (text.contains("): applying") || text.contains("): moving"));
        if stage_line || text.contains("promoting the canary") {
            assert!(
                stages == 0 || checked,
                "moved on without judging the stage before: {text}\n{stdout}"
            );
            if stage_line {
                stages += 1;
            }
            checked = false;
        } else if text.starts_with("check ") {
            checked = true;
        }
    }
}

fn wait_until(what: &str, outputs: &[String], mut f: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(60);
    while !f() {
        assert!(
            Instant::now() < until,
            "timed out waiting for {what}\n{}",
            outputs.join("\n")
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn kill_at_every_stage(kind: Kind) {
    let Some(mut env) = Env::start_slow(kind, LAG, LOAD) else {
        return;
    };
    env.drive(0.0);
    let opts = Opts {
        stages: vec![10, 25, 50],
        pause: "4s",
        ..Opts::default()
    };
    let cfg = env.config(&opts);
    let sampler = Sampler::start(&env);
    let mut judged_all: Vec<String> = Vec::new();
    let mut outputs: Vec<String> = Vec::new();
    // Where each run is killed: right as a stage's record is written (before the controller
    // acted), after a stage was judged once, and right as the promote is sent.
    enum At {
        Record(&'static str),
        Judged(&'static str),
        Promoting,
    }
    let kills = [
        At::Record("phase=0;weight=10"),
        At::Judged("phase=0;weight=10"),
        At::Record("phase=1;weight=25"),
        At::Judged("phase=1;weight=25"),
        At::Record("phase=2;weight=50"),
        At::Judged("phase=2;weight=50"),
        At::Promoting,
    ];
    for (i, at) in kills.iter().enumerate() {
        let run = env.spawn_run(&cfg);
        let what = match at {
            At::Record(needle) | At::Judged(needle) => {
                wait_until(&format!("record {needle}"), &outputs, || {
                    record(&env).contains(needle)
                });
                if let At::Judged(n) = at {
                    // The stage's line ("applying" at the first stage, "moving" later).
                    let stage = format!("({}%): ", n.rsplit('=').next().unwrap_or(""));
                    run.wait_for_stdout_after(&stage, "check 1: ");
                }
                needle.to_string()
            }
            At::Promoting => {
                run.wait_for_stdout("promoting the canary");
                "promote".to_string()
            }
        };
        let out = run.kill9();
        outputs.push(format!(
            "--- run {i} (killed at {what}), record then: {}\n{out}",
            record(&env)
        ));
        if i > 0 {
            assert!(
                out.contains("resuming run"),
                "run {i} resumed:\n{}",
                outputs.join("\n")
            );
        }
        judged_all.extend(judged(&out));
        assert_moves_follow_checks(&out);
    }
    let last = env.run(&cfg);
    judged_all.extend(judged(&last.stdout));
    assert_moves_follow_checks(&last.stdout);
    assert_eq!(last.code, 0, "{}", last.log());
    assert_eq!(last.result(), "promoted", "{}", last.report);
    // Killed as the promote went out: the re-run either finds it promoted (the write landed:
    // the live object wins over the record) or resumes the last stage and promotes.
    assert!(
        last.stdout.contains("resuming run") || last.stdout.contains("already promoted"),
        "{}\n--- last\n{}",
        outputs.join("\n"),
        last.stdout
    );
    // "Already promoted" was concluded from the live object; the stored record may still say
    // in-progress (the next run concludes the same from the live object).
    assert!(
        record(&env).starts_with("state=promoted;") || last.stdout.contains("already promoted"),
        "{}",
        record(&env)
    );
    let seen = sampler.finish();
    assert_eq!(
        served_share(&env.kube, kind, &env.stable_revision),
        Some(100),
        "served at the end: {seen:?}"
    );
    // The report's traffic is confirmed by the platform (read after the controller acted).
    assert!(
        !last.stdout.contains("not yet confirmed"),
        "{}",
        last.stdout
    );
    assert!(
        seen.windows(2).all(|w| w[1] >= w[0]),
        "the new version's share went down: {seen:?}"
    );
    for w in [10, 25, 50] {
        assert!(
            judged_all.iter().any(|s| s.contains(&format!("({w}%)"))),
            "stage at {w}% was never judged: {judged_all:?}"
        );
    }
    eprintln!("[{kind:?}] served shares over the runs: {seen:?}; judged: {judged_all:?}");
}

#[test]
fn kserve_resumes_after_kill_at_every_stage_on_a_slow_cluster() {
    kill_at_every_stage(Kind::Kserve);
}

#[test]
fn seldon_resumes_after_kill_at_every_stage_on_a_slow_cluster() {
    kill_at_every_stage(Kind::Seldon);
}

#[test]
fn seldon_v2_resumes_after_kill_at_every_stage_on_a_slow_cluster() {
    kill_at_every_stage(Kind::SeldonV2);
}

#[test]
fn argo_resumes_after_kill_at_every_stage_on_a_slow_cluster() {
    kill_at_every_stage(Kind::ArgoDrive);
}

/// Seldon v2 promotion on a cluster where a model version takes 2 s to load: the new version's
/// share never drops (the Experiment goes only once the stable Model serves the new version),
/// and the report's final traffic is what is served.
#[test]
fn seldon_v2_promotion_never_drops_the_new_versions_share_while_the_stable_model_loads() {
    let Some(mut env) = Env::start_slow(
        Kind::SeldonV2,
        Duration::from_millis(300),
        Duration::from_millis(2000),
    ) else {
        return;
    };
    env.drive(0.0);
    let sampler = Sampler::start(&env);
    let run = env.run(&env.config(&Opts {
        stages: vec![10, 50],
        pause: "2s",
        ..Opts::default()
    }));
    let seen = sampler.finish();
    assert_eq!(run.code, 0, "{}", run.log());
    assert_eq!(run.result(), "promoted", "{}", run.report);
    assert!(
        seen.windows(2).all(|w| w[1] >= w[0]),
        "the new version's share went down: {seen:?}"
    );
    assert_eq!(seen.last(), Some(&100), "{seen:?}");
    assert!(
        env.object(&Kind::SeldonV2.path()).is_none(),
        "the Experiment is removed"
    );
    assert_eq!(
        run.report["traffic"]["split"]["fd-v1"], 100,
        "{}",
        run.report
    );
}
