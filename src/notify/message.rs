//! What a notification says: the milestone the driver reports, the one-line message a human reads
//! in Slack or Teams, and the JSON body (the default `{"text": ...}` both accept, or the config's
//! minijinja template). A body that does not render to valid JSON is refused, never sent half-built:
//! a value cannot break out of the JSON it is put in.

use crate::config::NotifyEvent;
use crate::core::machine::Outcome;
pub use crate::core::progress_events::Milestone;
use crate::render::Renderer;
use serde_json::{json, Value};

/// The event the end of a rollout sends: rollback for anything that put traffic back on stable.
pub fn final_event(o: &Outcome) -> NotifyEvent {
    match o {
        Outcome::Promoted => NotifyEvent::Promoted,
        Outcome::RolledBack { .. } | Outcome::Interrupted { rolled_back: true } => {
            NotifyEvent::Rollback
        }
        Outcome::Failed { .. } | Outcome::Inconclusive { .. } | Outcome::Interrupted { .. } => {
            NotifyEvent::Failed
        }
    }
}

pub fn event_name(e: NotifyEvent) -> &'static str {
    match e {
        NotifyEvent::Started => "started",
        NotifyEvent::Stage => "stage",
        NotifyEvent::Promoted => "promoted",
        NotifyEvent::Rollback => "rollback",
        NotifyEvent::Failed => "failed",
    }
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

/// The human message: one line, starting with what happened to which model.
pub fn message(m: &Milestone) -> String {
    let name = text(&m.ctx["name"]);
    let model = match m.ctx["model"]["version"].as_str() {
        Some(v) => format!("{name} {v}"),
        None => name.to_string(),
    };
    let platform = text(&m.ctx["target"]["platform"]);
    let line = match (m.event, m.outcome) {
        (NotifyEvent::Started, _) => format!(
            "mlcanary: rolling out {model} ({}) on {platform}",
            text(&m.ctx["model"]["uri"])
        ),
        (NotifyEvent::Stage, _) => format!("mlcanary: {model}: {}", m.stage),
        (NotifyEvent::Promoted, _) => format!("mlcanary: {model} promoted to 100%"),
        (_, Some(o)) => format!(
            "mlcanary: {model} {} at {}: {}",
            o.result(),
            m.stage,
            o.reason().unwrap_or("interrupted")
        ),
        (e, None) => format!("mlcanary: {model}: {}", event_name(e)),
    };
    crate::report::github::one_line(&line)
}

/// The context a body template sees: the template context plus `event`, `message`, `result`
/// (empty until the end) and `stage.label`.
pub fn body_context(m: &Milestone, message: &str) -> Value {
    let mut ctx = m.ctx.clone();
    if let Some(obj) = ctx.as_object_mut() {
        obj.insert("event".into(), json!(event_name(m.event)));
        obj.insert("message".into(), json!(message));
        obj.insert(
            "result".into(),
            json!(m.outcome.map(|o| o.result()).unwrap_or("")),
        );
        match obj.get_mut("stage").and_then(|s| s.as_object_mut()) {
            Some(stage) => {
                stage.insert("label".into(), json!(m.stage));
            }
            None => {
                obj.insert("stage".into(), json!({"label": m.stage}));
            }
        }
    }
    ctx
}

/// Why a body could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("{0}")]
    Render(#[from] crate::render::RenderError),
    #[error("the body template did not render valid JSON ({0}); use `| tojson` for values")]
    NotJson(String),
}

/// The JSON body for one webhook.
pub fn body(
    template: Option<&str>,
    what: &str,
    m: &Milestone,
    renderer: &Renderer,
) -> Result<String, BodyError> {
    let msg = message(m);
    match template {
        None => Ok(json!({ "text": msg }).to_string()),
        Some(t) => {
            let out = renderer.render_str(what, t, &body_context(m, &msg))?;
            // Position only: serde_json's message never quotes the input.
            serde_json::from_str::<Value>(&out).map_err(|e| {
                BodyError::NotJson(format!("line {} column {}", e.line(), e.column()))
            })?;
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Value {
        json!({"name": "fraud", "model": {"uri": "s3://m/v2", "version": "v2"},
               "target": {"platform": "kserve"}, "stage": {"index": 1, "weight": 50}})
    }

    #[test]
    fn messages_name_the_model_and_what_happened() {
        let c = ctx();
        let rb = Outcome::RolledBack {
            reason: "error-rate\nfailed".into(),
        };
        let m = |event, outcome| Milestone {
            event,
            ctx: &c,
            stage: "stage 2 (50%)",
            outcome,
        };
        assert_eq!(
            message(&m(NotifyEvent::Started, None)),
            "mlcanary: rolling out fraud v2 (s3://m/v2) on kserve"
        );
        assert_eq!(
            message(&m(NotifyEvent::Stage, None)),
            "mlcanary: fraud v2: stage 2 (50%)"
        );
        assert_eq!(
            message(&m(NotifyEvent::Rollback, Some(&rb))),
            "mlcanary: fraud v2 rolled-back at stage 2 (50%): error-rate failed"
        );
        assert_eq!(final_event(&rb), NotifyEvent::Rollback);
        assert_eq!(
            final_event(&Outcome::Interrupted { rolled_back: false }),
            NotifyEvent::Failed
        );
    }

    #[test]
    fn bodies_are_json_or_refused() {
        let r = Renderer::new(None).unwrap();
        let c = ctx();
        let m = Milestone {
            event: NotifyEvent::Stage,
            ctx: &c,
            stage: "stage \"2\"",
            outcome: None,
        };
        let d: Value = serde_json::from_str(&body(None, "b", &m, &r).unwrap()).unwrap();
        assert_eq!(d["text"], "mlcanary: fraud v2: stage \"2\"");
        let t = r#"{"e": {{ event | tojson }}, "s": {{ stage.label | tojson }}, "w": {{ stage.weight }}}"#;
        let v: Value = serde_json::from_str(&body(Some(t), "b", &m, &r).unwrap()).unwrap();
        assert_eq!(v, json!({"e": "stage", "s": "stage \"2\"", "w": 50}));
        // Without tojson the quote in the label breaks the JSON: refused, not sent.
        let bad = r#"{"s": "{{ stage.label }}"}"#;
        assert!(matches!(
            body(Some(bad), "b", &m, &r),
            Err(BodyError::NotJson(_))
        ));
    }
}
