//! Secret hygiene: recognisable secret values (a Prometheus bearer token, webhook URLs and a webhook
//! header from `${VAR}`, an Azure client secret) go into a whole rollout, and every output is
//! searched for them: console lines, log records at trace level, the JSON record, the summary,
//! JUnit, the outputs file, warnings; then the binary's stdout, stderr and files for a dry run and
//! for a live run, where the only place a secret may appear is its own `::add-mask::` line.
#[path = "support"]
mod support {
    pub mod notify;
    pub mod platform;
}
use assert_cmd::Command;
use std::io::Read;
use std::sync::{Arc, Mutex};
use support::notify::{Answer, Receiver};

const PROM_TOKEN: &str = "prom-token-S3CR3T-7f3a9c";
const HOOK_TOKEN: &str = "hook-token-S3CR3T-91bd2e";
const AZURE_SECRET: &str = "azure-secret-S3CR3T-c0ffee";

/// Every log record the binary would print at `MLCANARY_LOG=trace`, as text.
struct Collect(Arc<Mutex<String>>);
impl log::Log for Collect {
    /// The binary's filter (src/main.rs): everything, except the HTTP stack below info.
    fn enabled(&self, m: &log::Metadata) -> bool {
        let wire = mlcanary::clients::http::WIRE_LOG_TARGETS
            .iter()
            .any(|t| m.target().starts_with(t));
        !wire || m.level() <= log::Level::Info
    }
    fn log(&self, r: &log::Record) {
        if !self.enabled(r.metadata()) {
            return;
        }
        let mut s = self.0.lock().unwrap();
        s.push_str(&format!("{} {} {}\n", r.level(), r.target(), r.args()));
    }
    fn flush(&self) {}
}

/// A Prometheus `/api/v1/query` that demands the bearer token: 401 without it, a low error rate with it.
fn fake_prometheus() -> (String, Arc<Mutex<Vec<Option<String>>>>) {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let addr = format!("http://{}", server.server_addr().to_ip().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    std::thread::spawn(move || {
        for rq in server.incoming_requests() {
            let auth = rq
                .headers()
                .iter()
                .find(|h| h.field.equiv("Authorization"))
                .map(|h| h.value.to_string());
            s.lock().unwrap().push(auth.clone());
            let json = tiny_http::Header::from_bytes("Content-Type", "application/json").unwrap();
            let (code, body) = if auth.as_deref() == Some(&format!("Bearer {PROM_TOKEN}")) {
                (
                    200,
                    r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1767225600,"0.001"]}]}}"#,
                )
            } else {
                (
                    401,
                    r#"{"status":"error","errorType":"unauthorized","error":"missing or bad token"}"#,
                )
            };
            let _ = rq.respond(
                tiny_http::Response::from_string(body)
                    .with_status_code(code)
                    .with_header(json),
            );
        }
    });
    (addr, seen)
}

fn config(prom: &str) -> String {
    format!(
        r#"apiVersion: mlcanary/v1
name: fraud
model: {{uri: "s3://m/v2", format: sklearn, version: v2}}
target: {{platform: kserve, namespace: ml}}
stages: [{{weight: 10, pause: 1m}}, {{weight: 50, pause: 1m}}]
analysis: {{interval: 1m, warmup: 0s}}
providers: {{prom: {{type: prometheus, address: "{prom}", bearerTokenEnv: PROM_TOKEN}}}}
guardrails:
  - {{name: error-rate, provider: prom, query: errors, promote: "< 0.5%", rollback: "> 1%"}}
notify:
  - url: "${{SLACK_WEBHOOK_URL}}"
    on: [started, stage, promoted, rollback, failed]
    headers: {{Authorization: "Bearer ${{HOOK_TOKEN}}"}}
  - {{url: "${{FAIL_WEBHOOK_URL}}", on: [promoted]}}
"#
    )
}

/// The secrets, and the parts of them that would give them away on their own.
fn secrets(urls: &[&str]) -> Vec<String> {
    let mut s = vec![
        PROM_TOKEN.to_string(),
        HOOK_TOKEN.to_string(),
        AZURE_SECRET.to_string(),
    ];
    for u in urls {
        s.push(u.to_string());
        s.push(u.splitn(4, '/').nth(3).unwrap().to_string()); // the path: the webhook's key
    }
    s.push("S3CR3T".into());
    s
}

fn assert_clean(what: &str, text: &str, secrets: &[String]) {
    for s in secrets {
        assert!(
            !text.contains(s.as_str()),
            "{what} contains secret {s:?}:\n{text}"
        );
    }
}

#[test]
fn no_secret_reaches_any_output() {
    let (prom, seen) = fake_prometheus();
    let good = Receiver::start(vec![]);
    let bad = Receiver::start(vec![Answer::Status(500); 20]);
    let good_url = good.url.replace("SECRET", "S3CR3T");
    let bad_url = bad.url.replace("SECRET", "S3CR3T");
    let secrets = secrets(&[&good_url, &bad_url]);
    std::env::set_var("PROM_TOKEN", PROM_TOKEN);
    std::env::set_var("HOOK_TOKEN", HOOK_TOKEN);
    std::env::set_var("AZURE_CLIENT_SECRET", AZURE_SECRET);
    std::env::set_var("SLACK_WEBHOOK_URL", &good_url);
    std::env::set_var("FAIL_WEBHOOK_URL", &bad_url);
    let text = config(&prom);

    in_process(&text, &secrets, &seen, &good);
    binary(&text, &secrets);
}

fn in_process(
    text: &str,
    secrets: &[String],
    seen: &Arc<Mutex<Vec<Option<String>>>>,
    good: &Receiver,
) {
    let logs = Arc::new(Mutex::new(String::new()));
    log::set_boxed_logger(Box::new(Collect(logs.clone()))).unwrap();
    log::set_max_level(log::LevelFilter::Trace);

    let c = mlcanary::config::load_str("c.yaml", text, None).unwrap();
    let providers =
        mlcanary::rollout::build::providers(&c, Arc::new(mlcanary::rollout::azure::NoTokens))
            .unwrap();
    let env = |k: &str| std::env::var(k).ok();
    let timing = mlcanary::notify::Timing {
        attempt_timeout: std::time::Duration::from_millis(500),
        backoff: std::time::Duration::from_millis(20),
        ..Default::default()
    };
    let mut out = Vec::new();
    let r = {
        let mut console = mlcanary::report::console::Console::new(
            &mut out,
            mlcanary::report::console::Ci::GitHub,
        );
        support::notify::rollout(&c, providers, &env, timing, &mut console)
    };
    // The secrets were really used: the token reached Prometheus, the header reached the webhook.
    assert_eq!(r.outcome.result(), "promoted", "{:?}", r.outcome);
    assert!(seen
        .lock()
        .unwrap()
        .iter()
        .all(|a| a.as_deref() == Some(&*format!("Bearer {PROM_TOKEN}"))));
    let got = good.received();
    assert_eq!(got.len(), 4);
    assert_eq!(
        got[0].header("Authorization"),
        Some(&*format!("Bearer {HOOK_TOKEN}"))
    );
    assert_eq!(r.warnings.len(), 1, "the failing webhook: {:?}", r.warnings);

    let dir = tempfile::tempdir().unwrap();
    let outputs = dir.path().join("outputs");
    mlcanary::report::outputs::write(&outputs, &r, None).unwrap();
    let logs = logs.lock().unwrap().clone();
    for (what, text) in [
        ("console", String::from_utf8(out).unwrap()),
        ("log records", logs),
        ("JSON record", serde_json::to_string_pretty(&r).unwrap()),
        ("record Debug", format!("{r:?}")),
        ("summary", mlcanary::report::summary::render(&r)),
        ("JUnit", mlcanary::report::junit::render(&r)),
        ("outputs", std::fs::read_to_string(&outputs).unwrap()),
        ("warnings", r.warnings.join("\n")),
    ] {
        assert!(!text.is_empty() || what == "log records", "{what} is empty");
        assert_clean(what, &text, secrets);
    }
}

fn binary(text: &str, secrets: &[String]) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("mlcanary.yaml");
    std::fs::write(&cfg, text).unwrap();
    let files = ["summary.md", "outputs", "report.json", "junit.xml"].map(|f| dir.path().join(f));
    let run = |args: &[&str], live: bool| {
        let mut cmd = Command::cargo_bin("mlcanary").unwrap();
        cmd.args(args)
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_STEP_SUMMARY", &files[0])
            .env("GITHUB_OUTPUT", &files[1])
            .env("MLCANARY_LOG", "trace")
            // A live run fails at the cluster connection (nothing listens there), after masking.
            .env("KUBECONFIG", dir.path().join("no-such-kubeconfig"))
            .env("KUBERNETES_SERVICE_HOST", "127.0.0.1")
            .env("KUBERNETES_SERVICE_PORT", "1");
        let out = cmd.output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(live || out.status.success(), "{args:?}: {stderr}");
        (stdout, stderr)
    };
    let c = cfg.to_str().unwrap();
    let (r, j) = (files[2].to_str().unwrap(), files[3].to_str().unwrap());
    for args in [
        vec!["validate", "--config", c],
        vec!["plan", "--config", c],
        vec!["render", "--config", c],
        vec![
            "run",
            "--dry-run",
            "--config",
            c,
            "--report",
            r,
            "--junit",
            j,
        ],
        vec!["run", "--dry-run", "--format", "json", "--config", c],
    ] {
        let (stdout, stderr) = run(&args, false);
        assert_clean(&format!("{args:?} stdout"), &stdout, secrets);
        assert_clean(&format!("{args:?} stderr"), &stderr, secrets);
    }
    for f in &files {
        let mut text = String::new();
        std::fs::File::open(f)
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        assert_clean(&f.display().to_string(), &text, secrets);
    }

    // Live: every secret is masked first, and appears nowhere but in its own mask line.
    let (stdout, stderr) = run(&["run", "--config", c], true);
    assert_clean("live stderr", &stderr, secrets);
    let masks: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("::add-mask::"))
        .collect();
    let (good, bad) = (&secrets[3], &secrets[5]);
    for s in [PROM_TOKEN, HOOK_TOKEN, AZURE_SECRET, good, bad] {
        let line = format!("::add-mask::{s}");
        assert_eq!(
            masks.iter().filter(|m| **m == line).count(),
            1,
            "{s}: {stdout}"
        );
    }
    let rest: String = stdout
        .lines()
        .filter(|l| !l.starts_with("::add-mask::"))
        .collect::<Vec<_>>()
        .join("\n");
    assert_clean("live stdout", &rest, secrets);
}
