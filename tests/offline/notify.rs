//! Notifications end to end: a rollout on a virtual clock posts to a real HTTP receiver on
//! 127.0.0.1. Bodies per event, custom templates and headers, retries on 5xx, no retry on 4xx, and
//! a webhook that never answers or is unset: the rollout still finishes, with a warning that never
//! shows the webhook URL.
use crate::support::notify as support;

use mlcanary::config::load_str;
use mlcanary::notify::Timing;
use mlcanary::rollout::driver::Quiet;
use std::time::Duration;
use support::{constant, rollout, Answer, Receiver};

fn config(notify: &str) -> mlcanary::config::Config {
    let text = format!(
        r#"
apiVersion: mlcanary/v1
name: fraud
model: {{uri: "s3://m/v2", format: sklearn, version: v2}}
target: {{platform: kserve, namespace: ml}}
stages: [{{weight: 10, pause: 1m}}, {{weight: 50, pause: 1m}}]
analysis: {{interval: 1m, warmup: 0s}}
providers: {{prom: {{type: prometheus, address: "http://prom:9090"}}}}
guardrails:
  - {{name: error-rate, provider: prom, query: errors, promote: "< 0.5%", rollback: "> 1%"}}
notify:
{notify}
"#
    );
    load_str("c.yaml", &text, None).unwrap()
}

fn fast() -> Timing {
    Timing {
        attempt_timeout: Duration::from_millis(500),
        attempts: 3,
        backoff: Duration::from_millis(50),
        budget: Duration::from_secs(2),
        deadline: Duration::from_secs(3),
    }
}

fn env_with(url: &str) -> impl Fn(&str) -> Option<String> + '_ {
    move |k: &str| match k {
        "HOOK" => Some(url.to_string()),
        "HOOK_TOKEN" => Some("hook-token-SECRET".to_string()),
        _ => None,
    }
}

#[test]
fn every_event_of_a_promoted_rollout_posts_a_slack_compatible_body_in_order() {
    let rx = Receiver::start(vec![]);
    let c = config("  - {url: \"${HOOK}\", on: [started, stage, promoted, rollback, failed]}");
    let r = rollout(&c, constant(0.001), &env_with(&rx.url), fast(), &mut Quiet);
    assert_eq!(r.outcome.result(), "promoted");
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    let got = rx.received();
    let texts: Vec<String> = got
        .iter()
        .map(|g| g.json()["text"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        texts,
        [
            "mlcanary: rolling out fraud v2 (s3://m/v2) on kserve",
            "mlcanary: fraud v2: stage 1 (10%)",
            "mlcanary: fraud v2: stage 2 (50%)",
            "mlcanary: fraud v2 promoted to 100%",
        ]
    );
    for g in &got {
        assert_eq!(g.path, "/services/T0SECRET/B0SECRET/XXXXwebhookSECRETpath");
        assert_eq!(g.header("Content-Type"), Some("application/json"));
    }
}

#[test]
fn the_default_events_are_the_outcomes_and_a_rollback_says_why() {
    let rx = Receiver::start(vec![]);
    let c = config("  - url: \"${HOOK}\"");
    let r = rollout(&c, constant(0.05), &env_with(&rx.url), fast(), &mut Quiet);
    assert_eq!(r.outcome.result(), "rolled-back");
    let got = rx.received();
    assert_eq!(got.len(), 1, "only the outcome: {got:?}");
    let text = got[0].json()["text"].as_str().unwrap().to_string();
    assert!(
        text.starts_with("mlcanary: fraud v2 rolled-back at stage 1 (10%): guardrail error-rate"),
        "{text}"
    );
}

#[test]
fn a_body_template_and_headers_see_the_context_and_the_environment() {
    let rx = Receiver::start(vec![]);
    let c = config(
        r#"  - url: "${HOOK}"
    on: [rollback]
    headers: {Authorization: "Bearer ${HOOK_TOKEN}", Content-Type: "application/vnd.test+json"}
    body: '{"event": {{ event | tojson }}, "result": {{ result | tojson }}, "stage": {{ stage.label | tojson }}, "weight": {{ stage.weight }}, "canary": {{ canary.revision | tojson }}}'"#,
    );
    let r = rollout(&c, constant(0.05), &env_with(&rx.url), fast(), &mut Quiet);
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    let got = rx.received();
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].header("Authorization"),
        Some("Bearer hook-token-SECRET")
    );
    assert_eq!(
        got[0].header("Content-Type"),
        Some("application/vnd.test+json")
    );
    assert_eq!(
        got[0].json(),
        serde_json::json!({"event": "rollback", "result": "rolled-back",
            "stage": "stage 1 (10%)", "weight": 10, "canary": "m-00002"})
    );
}

#[test]
fn a_server_error_is_retried_and_then_delivered() {
    let rx = Receiver::start(vec![Answer::Status(500), Answer::Status(503)]);
    let c = config("  - {url: \"${HOOK}\", on: [promoted]}");
    let r = rollout(&c, constant(0.001), &env_with(&rx.url), fast(), &mut Quiet);
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    let got = rx.received();
    assert_eq!(got.len(), 3, "two failures then success");
    assert!(got.iter().all(|g| g.body == got[0].body));
}

#[test]
fn a_client_error_is_not_retried_and_becomes_a_warning_without_the_url() {
    let rx = Receiver::start(vec![Answer::Status(404)]);
    let c = config("  - {url: \"${HOOK}\", on: [promoted]}");
    let r = rollout(&c, constant(0.001), &env_with(&rx.url), fast(), &mut Quiet);
    assert_eq!(
        r.outcome.result(),
        "promoted",
        "a webhook never changes the outcome"
    );
    assert_eq!(rx.received().len(), 1);
    assert_eq!(r.warnings.len(), 1, "{:?}", r.warnings);
    let host = rx.url.split('/').nth(2).unwrap();
    assert_eq!(
        r.warnings[0],
        format!("notify[0] ({host}): the promoted notification was not delivered: HTTP 404 Not Found (not retried)")
    );
    let summary = mlcanary::report::summary::render(&r);
    assert!(summary.contains("> [!WARNING]\n> notify[0]"), "{summary}");
    let json = serde_json::to_string(&r).unwrap();
    assert!(json.contains("\"warnings\":[\"notify[0]"), "{json}");
    assert!(!summary.contains("SECRET") && !json.contains("SECRET"));
}

#[test]
fn a_webhook_that_never_answers_does_not_hold_the_rollout() {
    let rx = Receiver::start(vec![Answer::Hang, Answer::Hang, Answer::Hang]);
    let c = config("  - {url: \"${HOOK}\", on: [started, promoted]}");
    let t = std::time::Instant::now();
    let r = rollout(&c, constant(0.001), &env_with(&rx.url), fast(), &mut Quiet);
    // Generous bound (budget 2 s + deadline 3 s): the point is that it ends, not how fast.
    assert!(t.elapsed() < Duration::from_secs(30), "{:?}", t.elapsed());
    assert_eq!(r.outcome.result(), "promoted");
    assert!(!r.warnings.is_empty());
    let all = r.warnings.join("\n");
    assert!(
        all.contains("the started notification was not delivered: timed out after"),
        "{all}"
    );
    assert!(!all.contains("SECRET"), "{all}");
}

#[test]
fn an_unset_variable_or_a_broken_body_is_a_warning_and_nothing_is_sent() {
    let rx = Receiver::start(vec![]);
    let c = config(
        r#"  - {url: "${NOT_SET_ANYWHERE}", on: [promoted]}
  - {url: "${HOOK}", on: [promoted], body: '{"text": "{{ name }}" "oops"}'}"#,
    );
    let r = rollout(&c, constant(0.001), &env_with(&rx.url), fast(), &mut Quiet);
    assert_eq!(r.outcome.result(), "promoted");
    assert!(rx.received().is_empty());
    assert_eq!(r.warnings.len(), 2, "{:?}", r.warnings);
    assert_eq!(
        r.warnings[0],
        "notify[0]: ${NOT_SET_ANYWHERE} is not set in the environment: no notifications sent"
    );
    assert!(
        r.warnings[1].contains(
            "the promoted notification was not sent: the body template did not render valid JSON"
        ),
        "{}",
        r.warnings[1]
    );
}

#[test]
fn a_retry_after_beyond_the_budget_ends_the_retries_at_once() {
    let rx = Receiver::start(vec![Answer::RetryAfter(429, 60)]);
    let c = config("  - {url: \"${HOOK}\", on: [promoted]}");
    let r = rollout(&c, constant(0.001), &env_with(&rx.url), fast(), &mut Quiet);
    assert_eq!(
        rx.received().len(),
        1,
        "a 60 s wait does not fit a 2 s budget"
    );
    assert!(
        r.warnings[0].ends_with("HTTP 429 Too Many Requests after 1 attempt(s)"),
        "{:?}",
        r.warnings
    );
}

#[test]
fn a_short_retry_after_is_honoured() {
    let rx = Receiver::start(vec![Answer::RetryAfter(503, 1)]);
    let c = config("  - {url: \"${HOOK}\", on: [promoted]}");
    let mut t = fast();
    t.budget = Duration::from_secs(4);
    let start = std::time::Instant::now();
    let r = rollout(&c, constant(0.001), &env_with(&rx.url), t, &mut Quiet);
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    assert_eq!(rx.received().len(), 2);
    // The second attempt waited the second the server asked for, not the 50 ms backoff.
    assert!(start.elapsed() >= Duration::from_secs(1));
}
