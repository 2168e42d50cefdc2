//! KServe InferenceService controller (Knative mode), reduced to what a canary rollout observes:
//! a new `storageUri` creates revision `{name}-predictor-0000N`, which becomes latestReadyRevision
//! after K polls (never when the URI contains "broken"); `traffic` follows `canaryTrafficPercent`
//! with tags `prev`/`latest`; removing the field promotes (latestRolledoutRevision moves).

use super::controllers::{condition, count_down, generation, status_mut, Side};
use serde_json::{json, Value};

fn storage_uri(obj: &Value) -> String {
    let p = &obj["spec"]["predictor"];
    p["model"]["storageUri"]
        .as_str()
        .or_else(|| {
            p.as_object()?
                .values()
                .find_map(|v| v.get("storageUri")?.as_str())
        })
        .unwrap_or("")
        .to_string()
}

fn revision_name(obj: &Value, n: u32) -> String {
    format!(
        "{}-predictor-{n:05}",
        obj["metadata"]["name"].as_str().unwrap_or("")
    )
}

pub fn on_write(obj: &mut Value, _old: Option<&Value>, side: &mut Side, ready_after: u32) {
    let uri = storage_uri(obj);
    if side.uri.as_deref() != Some(uri.as_str()) {
        side.revision += 1;
        side.polls_left = Some(ready_after);
        side.uri = Some(uri);
    }
    let name = revision_name(obj, side.revision);
    let st = status_mut(obj);
    st.entry("components")
        .or_insert_with(|| json!({"predictor": {}}));
    st["components"]["predictor"]["latestCreatedRevision"] = json!(name);
    let gen = generation(obj);
    status_mut(obj).insert("observedGeneration".into(), json!(gen));
    reconcile(obj, side);
}

pub fn on_poll(obj: &mut Value, side: &mut Side) {
    count_down(side);
    reconcile(obj, side);
}

fn target(tag: &str, rev: &str, latest: bool, percent: u64) -> Value {
    json!({"tag": tag, "revisionName": rev, "latestRevision": latest, "percent": percent})
}

fn reconcile(obj: &mut Value, side: &Side) {
    let broken = side.uri.as_deref().is_some_and(|u| u.contains("broken"));
    let canary = obj["spec"]["predictor"]["canaryTrafficPercent"].as_u64();
    let (name, ns) = (
        obj["metadata"]["name"].clone(),
        obj["metadata"]["namespace"].clone(),
    );
    let st = status_mut(obj);
    st.insert(
        "url".into(),
        json!(format!(
            "http://{}.{}.example.com",
            name.as_str().unwrap_or(""),
            ns.as_str().unwrap_or("")
        )),
    );
    st.entry("components")
        .or_insert_with(|| json!({"predictor": {}}));
    let p = &mut st["components"]["predictor"];
    let created = p["latestCreatedRevision"]
        .as_str()
        .unwrap_or("")
        .to_string();
    if !broken && side.polls_left == Some(0) {
        p["latestReadyRevision"] = json!(created);
    }
    let ready = p["latestReadyRevision"].as_str().map(str::to_string);
    let rolled = p["latestRolledoutRevision"].as_str().map(str::to_string);
    let traffic = match (&ready, &rolled, canary) {
        (None, _, _) => json!([]),
        (Some(r), Some(prev), Some(n)) => json!([
            target("prev", prev, false, 100 - n.min(100)),
            target("latest", r, true, n.min(100))
        ]),
        (Some(r), _, None) | (Some(r), None, Some(_)) => {
            if rolled.as_deref() != Some(r.as_str()) {
                if let Some(prev) = &rolled {
                    p["previousRolledoutRevision"] = json!(prev);
                }
                p["latestRolledoutRevision"] = json!(r);
            }
            json!([target("latest", r, true, 100)])
        }
    };
    p["traffic"] = traffic;
    let is_ready = ready.as_deref() == Some(created.as_str());
    let (s, reason, msg) = if is_ready {
        ("True", "", String::new())
    } else if broken {
        ("False", "RevisionFailed", format!("Revision \"{created}\" failed with message: Container failed with: model could not be loaded."))
    } else {
        (
            "Unknown",
            "RevisionMissing",
            format!("Revision \"{created}\" is not ready yet."),
        )
    };
    st.insert(
        "conditions".into(),
        json!([
            condition("PredictorReady", s, reason, &msg),
            condition("Ready", s, reason, &msg)
        ]),
    );
}
