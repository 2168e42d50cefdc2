//! Rollout progress stored on the live object (a Kubernetes annotation, an Azure endpoint tag), so
//! a re-run continues where the last run stopped instead of starting over, refuses to trample a
//! different version's rollout, and recognises one that already finished. Pure: the record and the
//! decision; platforms store the JSON.

use serde::{Deserialize, Serialize};

/// Where the record lives on Kubernetes objects.
pub const ANNOTATION: &str = "mlcanary.io/rollout";
/// The Azure ML endpoint tag.
pub const TAG: &str = "mlcanary-rollout";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    InProgress,
    Promoted,
    RolledBack,
    /// A platform failure; traffic was rolled back (or the report says where it is).
    Failed,
    /// Holds outlasted inconclusiveLimit with onInconclusive: fail: traffic left at `weight`.
    Inconclusive,
    /// Cancelled; `weight` says where traffic was left (0 when rolled back).
    Interrupted,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    pub run_id: String,
    /// [`fingerprint`] of the model uri and version (tag values are short; uris are not).
    pub model: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    pub state: State,
    /// Index into the plan's phases (shadow included).
    pub phase: usize,
    /// Canary weight as last applied.
    pub weight: u32,
    /// Unix milliseconds.
    pub started_at: i64,
    /// Failed checks per guardrail so far (failureLimit counts over the whole rollout).
    #[serde(default)]
    pub failed: Vec<u32>,
}

/// FNV-1a of "uri\nversion", 16 hex digits: identifies the model version being rolled out.
pub fn fingerprint(uri: &str, version: Option<&str>) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in uri
        .bytes()
        .chain(std::iter::once(b'\n'))
        .chain(version.unwrap_or("").bytes())
    {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

fn state_word(s: State) -> &'static str {
    match s {
        State::InProgress => "in-progress",
        State::Promoted => "promoted",
        State::RolledBack => "rolled-back",
        State::Failed => "failed",
        State::Inconclusive => "inconclusive",
        State::Interrupted => "interrupted",
    }
}

impl Progress {
    pub fn same_model(&self, uri: &str, version: Option<&str>) -> bool {
        self.model == fingerprint(uri, version)
    }
    pub fn describe(&self) -> String {
        match &self.version {
            Some(v) => format!("version {v} (model {})", self.model),
            None => format!("model {}", self.model),
        }
    }

    /// `state=..;phase=..;weight=..;run=..;started=..;failed=1,0;model=..;version=..`: fits an
    /// Azure tag (256 characters) and reads well in `kubectl get -o yaml`.
    pub fn encode(&self) -> String {
        let failed: Vec<String> = self.failed.iter().map(u32::to_string).collect();
        let version: String = self
            .version
            .as_deref()
            .unwrap_or("")
            .chars()
            .filter(|c| *c != ';' && *c != '=')
            .take(60)
            .collect();
        format!(
            "state={};phase={};weight={};run={};started={};failed={};model={};version={version}",
            state_word(self.state),
            self.phase,
            self.weight,
            self.run_id,
            self.started_at,
            failed.join(","),
            self.model
        )
    }

    pub fn decode(s: &str) -> Option<Progress> {
        let mut m = std::collections::BTreeMap::new();
        for part in s.split(';') {
            let (k, v) = part.split_once('=')?;
            m.insert(k.trim(), v.trim());
        }
        let state = match *m.get("state")? {
            "in-progress" => State::InProgress,
            "promoted" => State::Promoted,
            "rolled-back" => State::RolledBack,
            "failed" => State::Failed,
            "inconclusive" => State::Inconclusive,
            "interrupted" => State::Interrupted,
            _ => return None,
        };
        let failed = m
            .get("failed")
            .filter(|f| !f.is_empty())
            .map_or(Some(vec![]), |f| {
                f.split(',').map(|n| n.parse().ok()).collect()
            })?;
        Some(Progress {
            run_id: m.get("run")?.to_string(),
            model: m.get("model")?.to_string(),
            version: m
                .get("version")
                .filter(|v| !v.is_empty())
                .map(|v| v.to_string()),
            state,
            phase: m.get("phase")?.parse().ok()?,
            weight: m.get("weight")?.parse().ok()?,
            started_at: m.get("started")?.parse().ok()?,
            failed,
        })
    }
}

/// What a new run does given what the live object says.
#[derive(Debug, Clone, PartialEq)]
pub enum Resume {
    /// Nothing (or nothing to continue): start at the first stage.
    Fresh,
    /// Same model, mid-rollout: continue at `phase` with the earlier failure counts.
    Continue {
        run_id: String,
        phase: usize,
        started_at: i64,
        failed: Vec<u32>,
    },
    /// Same model, already finished: report it, change nothing.
    Done { state: State },
    /// A different model is mid-rollout: refuse (unless forced).
    Busy {
        other: String,
        phase: usize,
        weight: u32,
    },
}

pub fn decide(
    stored: Option<&Progress>,
    uri: &str,
    version: Option<&str>,
    force: bool,
    phases: usize,
) -> Resume {
    let Some(p) = stored else {
        return Resume::Fresh;
    };
    let live_traffic = matches!(p.state, State::InProgress | State::Inconclusive)
        || (p.state == State::Interrupted && p.weight > 0);
    if !p.same_model(uri, version) {
        return if live_traffic && !force {
            Resume::Busy {
                other: p.describe(),
                phase: p.phase,
                weight: p.weight,
            }
        } else {
            Resume::Fresh
        };
    }
    if force {
        return Resume::Fresh;
    }
    match p.state {
        State::Promoted | State::RolledBack => Resume::Done { state: p.state },
        _ if live_traffic && p.phase < phases => Resume::Continue {
            run_id: p.run_id.clone(),
            phase: p.phase,
            started_at: p.started_at,
            failed: p.failed.clone(),
        },
        _ => Resume::Fresh,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(state: State, uri: &str, phase: usize, weight: u32) -> Progress {
        Progress {
            run_id: "r1".into(),
            model: fingerprint(uri, Some("v2")),
            version: Some("v2".into()),
            state,
            phase,
            weight,
            started_at: 1,
            failed: vec![1, 0],
        }
    }

    #[test]
    fn decision_table() {
        let cont = Resume::Continue {
            run_id: "r1".into(),
            phase: 2,
            started_at: 1,
            failed: vec![1, 0],
        };
        let other = p(State::InProgress, "s3://other", 1, 25);
        let cases: Vec<(Option<Progress>, bool, Resume)> = vec![
            (None, false, Resume::Fresh),
            (
                Some(p(State::InProgress, "s3://m", 2, 50)),
                false,
                cont.clone(),
            ),
            (
                Some(p(State::InProgress, "s3://m", 2, 50)),
                true,
                Resume::Fresh,
            ),
            (
                Some(p(State::Inconclusive, "s3://m", 2, 50)),
                false,
                cont.clone(),
            ),
            (Some(p(State::Interrupted, "s3://m", 2, 50)), false, cont),
            (
                Some(p(State::Interrupted, "s3://m", 2, 0)),
                false,
                Resume::Fresh,
            ),
            (Some(p(State::Failed, "s3://m", 2, 0)), false, Resume::Fresh),
            (
                Some(p(State::Promoted, "s3://m", 3, 100)),
                false,
                Resume::Done {
                    state: State::Promoted,
                },
            ),
            (
                Some(p(State::RolledBack, "s3://m", 1, 0)),
                false,
                Resume::Done {
                    state: State::RolledBack,
                },
            ),
            (
                Some(p(State::RolledBack, "s3://m", 1, 0)),
                true,
                Resume::Fresh,
            ),
            (
                Some(other.clone()),
                false,
                Resume::Busy {
                    other: other.describe(),
                    phase: 1,
                    weight: 25,
                },
            ),
            (Some(other), true, Resume::Fresh),
            (
                Some(p(State::Promoted, "s3://other", 3, 100)),
                false,
                Resume::Fresh,
            ),
            // A stored phase beyond this plan (the config changed): start over.
            (
                Some(p(State::InProgress, "s3://m", 9, 50)),
                false,
                Resume::Fresh,
            ),
        ];
        for (stored, force, want) in cases {
            assert_eq!(
                decide(stored.as_ref(), "s3://m", Some("v2"), force, 4),
                want,
                "{stored:?} force={force}"
            );
        }
    }

    #[test]
    fn encodes_compactly_and_round_trips() {
        let x = p(
            State::InProgress,
            "s3://a-very-long/model/uri/".repeat(20).as_str(),
            2,
            50,
        );
        let s = x.encode();
        assert!(s.len() < 256, "fits an Azure tag: {s}");
        assert!(
            s.starts_with("state=in-progress;phase=2;weight=50;run=r1;started=1;failed=1,0;model=")
        );
        assert_eq!(Progress::decode(&s), Some(x));
        assert_eq!(Progress::decode("garbage"), None);
        assert_ne!(
            fingerprint("s3://m", Some("v2")),
            fingerprint("s3://m", Some("v3"))
        );
    }
}
