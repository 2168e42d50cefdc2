//! Argo Rollouts, drive mode: the Rollout's steps are `setWeight` + an indefinite `pause: {}` per
//! stage, so Argo moves traffic and waits; mlcanary judges, then moves on (unpause, exactly as the
//! kubectl plugin does), promotes (`promote --full`) or aborts (`status.abort`). Watch mode (Argo
//! judges with the rendered AnalysisTemplate) reuses apply and the phase reading here.

use super::k8s::{apply_all, observed_current, Intent, PatchKind, WriteTo, ROLLOUT};
use super::kube_platform::KubeTarget;
use super::{Platform, PlatformError, Readiness, Revisions, Traffic};
use serde_json::{json, Value};

pub struct Argo {
    t: KubeTarget,
    /// Watch mode: Argo judges with the AnalysisTemplate; we apply, follow and report.
    watch: bool,
    /// The pause step the Rollout should be paused at for the stage being judged (`None` once
    /// promoted: Healthy expected).
    expect_step: Option<u64>,
    /// A pause we judged that still has to be released once the controller has paused there
    /// (it had not added its pause condition yet when we moved on).
    release: Option<u64>,
    aborted: bool,
    /// The comparison phase's pause (`prepare` at weight 0): judged only with canary pods up.
    compare_pause: Option<u64>,
}

impl Argo {
    pub fn new(t: KubeTarget) -> Argo {
        Argo {
            t,
            watch: false,
            expect_step: Some(1),
            release: None,
            aborted: false,
            compare_pause: None,
        }
    }
    /// Watch mode: `prepare` applies the Rollout and AnalysisTemplate; `poll_ready` is ready when
    /// Argo finished the whole rollout (Healthy) and failed when Argo aborted it (Degraded).
    pub fn watch(t: KubeTarget) -> Argo {
        Argo {
            t,
            watch: true,
            expect_step: None,
            release: None,
            aborted: false,
            compare_pause: None,
        }
    }
    fn path(&self) -> String {
        ROLLOUT.path(&self.t.namespace, &self.t.name)
    }

    /// A guarded merge patch of the status subresource, computed from the live Rollout
    /// (`None`: already as intended), falling back to the main resource when the CRD has no status
    /// subresource (what the kubectl plugin does).
    fn patch_status(
        &mut self,
        mut compute: impl FnMut(&Value) -> Option<Value>,
    ) -> Result<(), PlatformError> {
        let p = self.path();
        let sp = format!("{p}/status");
        let mut intent = |obj: &Value| {
            Ok(compute(obj).map_or(Intent::Done, |b| Intent::Patch(PatchKind::Merge, b)))
        };
        match self
            .t
            .patch_from(&WriteTo::object(&p, "Rollout").at(&sp), &mut intent)
        {
            // As `kubectl argo rollouts abort`: a CRD without the status subresource answers
            // 404 there (`k8serrors.IsNotFound`); write the main resource instead.
            Err(e) if e.is_not_found() => {
                self.t.patch_from(&WriteTo::object(&p, "Rollout"), intent)
            }
            other => other,
        }
    }

    /// `spec.paused: false` unless it already is.
    fn unpause_spec(&mut self) -> Result<(), PlatformError> {
        let p = self.path();
        self.t.patch_from(&WriteTo::object(&p, "Rollout"), |obj| {
            Ok(if obj["spec"]["paused"] == true {
                Intent::Patch(PatchKind::Merge, json!({"spec": {"paused": false}}))
            } else {
                Intent::Done
            })
        })
    }

    /// Release the pause at step `at`, which we judged: clear its pause conditions (what
    /// `kubectl argo rollouts promote` does when there are some), and only while the Rollout is
    /// still paused there. Never the plugin's other branch (no conditions: step the index on),
    /// which skips a step when the controller is already unpausing (controllerPause true, no
    /// conditions) or has not paused yet. Returns whether the pause is released (or being so).
    fn release_pause(&mut self, at: u64) -> Result<bool, PlatformError> {
        let mut released = false;
        self.patch_status(|now| {
            let s = at_pause(now, at);
            released = matches!(
                s,
                PauseState::Paused | PauseState::Unpausing | PauseState::Past
            );
            (s == PauseState::Paused).then(|| json!({"status": {"pauseConditions": null}}))
        })?;
        Ok(released)
    }
}

/// Where a Rollout stands relative to the pause step `at`, as upstream computes it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum PauseState {
    /// Not there yet (or there without the controller having paused: no condition, no
    /// controllerPause: `reconcileCanaryPause` will add them).
    Before,
    /// Paused at it: a `CanaryPauseStep` condition (the controller's own pause).
    Paused,
    /// At it with `controllerPause: true` and no pause conditions: someone cleared them and
    /// the controller has not reconciled yet (upstream `IsUnpausing`, "waiting for rollout to
    /// unpause"); its next reconcile completes the step (`CompletedCanaryPauseStep`).
    Unpausing,
    /// Past it.
    Past,
}

fn at_pause(obj: &Value, at: u64) -> PauseState {
    let st = &obj["status"];
    let idx = st["currentStepIndex"].as_u64().unwrap_or(0);
    if idx > at || fully_promoted(obj) {
        return PauseState::Past;
    }
    if idx < at {
        return PauseState::Before;
    }
    let cond = st["pauseConditions"]
        .as_array()
        .is_some_and(|a| a.iter().any(|c| c["reason"] == "CanaryPauseStep"));
    if cond {
        PauseState::Paused
    } else if st["controllerPause"] == true && !has_pause_conditions(obj) {
        PauseState::Unpausing
    } else {
        PauseState::Before
    }
}

/// The canary ReplicaSet has pods: upstream `status.updatedReplicas` (the new ReplicaSet's
/// actual replicas, `rollout/sync.go`; omitted when 0). Without them Argo leaves `canaryService`
/// on the stable ReplicaSet (`ensureSVCTargets` switches only to an available ReplicaSet), so a
/// comparison would ask the stable version twice.
fn canary_pods(obj: &Value) -> bool {
    obj["status"]["updatedReplicas"].as_u64().unwrap_or(0) > 0
}

/// Upstream `IsFullyPromoted`: the stable ReplicaSet is the desired one.
fn fully_promoted(obj: &Value) -> bool {
    let st = &obj["status"];
    st["stableRS"].is_string() && st["stableRS"] == st["currentPodHash"]
}

fn steps(obj: &Value) -> Vec<Value> {
    obj["spec"]["strategy"]["canary"]["steps"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The pause step that follows the `setWeight: weight` step (drive mode renders one
/// `setWeight` + `pause: {}` per stage).
fn pause_after_weight(obj: &Value, weight: u32) -> Option<u64> {
    let steps = steps(obj);
    let i = steps
        .iter()
        .position(|s| s["setWeight"].as_u64() == Some(u64::from(weight)))?;
    steps
        .iter()
        .enumerate()
        .skip(i + 1)
        .find(|(_, s)| s.get("pause").is_some())
        .map(|(j, _)| j as u64)
}

/// The last pause step before step `at`.
fn pause_before(obj: &Value, at: u64) -> Option<u64> {
    steps(obj)
        .iter()
        .take(at as usize)
        .rposition(|s| s.get("pause").is_some())
        .map(|j| j as u64)
}

fn has_pause_conditions(obj: &Value) -> bool {
    obj["status"]["pauseConditions"]
        .as_array()
        .is_some_and(|a| !a.is_empty())
}

/// The weight of the last `setWeight` at or before step `idx`.
fn weight_at(obj: &Value, idx: u64) -> u32 {
    steps(obj)
        .iter()
        .take(idx as usize + 1)
        .filter_map(|s| s["setWeight"].as_u64())
        .next_back()
        .unwrap_or(0) as u32
}

/// What Argo will do with the steps of `rollout`, in words (watch mode's log).
pub fn describe_steps(rollout: &Value) -> String {
    let words: Vec<String> = steps(rollout)
        .iter()
        .map(|s| {
            if let Some(w) = s["setWeight"].as_u64() {
                format!("setWeight {w}%")
            } else if let Some(p) = s.get("pause") {
                match &p["duration"] {
                    Value::Null => "pause".to_string(),
                    d => format!("pause {}", d.as_str().map_or(d.to_string(), String::from)),
                }
            } else if s.get("analysis").is_some() {
                "analysis".to_string()
            } else {
                s.as_object()
                    .and_then(|m| m.keys().next().cloned())
                    .unwrap_or_else(|| "step".into())
            }
        })
        .collect();
    if words.is_empty() {
        "no steps: Argo switches to the new version at once".into()
    } else {
        format!("{}, then 100%", words.join(", "))
    }
}

/// Believe the live Rollout over a stored record it has moved past: a run killed between its
/// unpause and storing the record left the record one (or more) stages behind. Returns the record
/// re-pointed at the pause the Rollout is at or heading to (phase moved by the number of pauses
/// passed, weight of that stage), or unchanged.
pub fn reconcile_record(live: &Value, record: &str) -> String {
    use crate::core::progress::{Progress, State};
    let Some(mut p) = Progress::decode(record) else {
        return record.to_string();
    };
    if p.state != State::InProgress {
        return record.to_string();
    }
    let Some(rec_pause) = pause_after_weight(live, p.weight) else {
        return record.to_string();
    };
    let idx = live["status"]["currentStepIndex"].as_u64().unwrap_or(0);
    if idx <= rec_pause || fully_promoted(live) {
        return record.to_string();
    }
    let steps = steps(live);
    let Some(next) = steps
        .iter()
        .enumerate()
        .skip(idx as usize)
        .find(|(_, s)| s.get("pause").is_some())
        .map(|(j, _)| j as u64)
    else {
        return record.to_string();
    };
    let passed = steps[(rec_pause as usize + 1)..=(next as usize)]
        .iter()
        .filter(|s| s.get("pause").is_some())
        .count();
    p.phase += passed;
    p.weight = weight_at(live, next);
    p.encode()
}

pub fn phase(obj: &Value) -> &str {
    obj["status"]["phase"].as_str().unwrap_or("")
}

impl Platform for Argo {
    fn prepare(
        &mut self,
        weight: u32,
        mirror: u32,
        manifests: &[Value],
    ) -> Result<(), PlatformError> {
        self.set_shadow(mirror)?;
        let p = self.path();
        self.t.must_get(&p, "Rollout")?;
        let ns = self.t.namespace.clone();
        apply_all(self.t.api.as_mut(), manifests, &ns)?;
        if !self.watch {
            let rollout = manifests.iter().find(|o| o["kind"] == "Rollout");
            self.expect_step = Some(
                rollout
                    .and_then(|r| pause_after_weight(r, weight))
                    .unwrap_or(1),
            );
            // Only the comparison phase starts at weight 0 (Argo has no shadow phase).
            self.compare_pause = (weight == 0).then_some(self.expect_step).flatten();
        }
        Ok(())
    }

    fn poll_ready(&mut self) -> Result<Readiness, PlatformError> {
        let p = self.path();
        let obj = self.t.must_get(&p, "Rollout")?;
        if !observed_current(&obj) {
            return Ok(Readiness::Pending(
                "the controller has not observed the change yet".into(),
            ));
        }
        let ph = phase(&obj);
        if self.watch {
            let analysis = &obj["status"]["canary"]["currentStepAnalysisRunStatus"];
            let run = match analysis["name"].as_str() {
                Some(n) => format!(
                    "; AnalysisRun {n}: {} {}",
                    analysis["status"].as_str().unwrap_or(""),
                    analysis["message"].as_str().unwrap_or("")
                ),
                None => String::new(),
            };
            return Ok(match ph {
                "Healthy" => Readiness::Ready,
                "Degraded" => Readiness::Failed(format!(
                    "Argo aborted the rollout: {}{run}",
                    obj["status"]["message"].as_str().unwrap_or("")
                )),
                _ => Readiness::Pending(format!(
                    "Rollout {ph} at step {}{run}",
                    obj["status"]["currentStepIndex"]
                )),
            });
        }
        if ph == "Degraded" && !self.aborted {
            return Ok(Readiness::Failed(format!(
                "Rollout Degraded: {}",
                obj["status"]["message"].as_str().unwrap_or("")
            )));
        }
        let Some(step) = self.expect_step else {
            return Ok(if ph == "Healthy" && fully_promoted(&obj) {
                Readiness::Ready
            } else {
                Readiness::Pending(format!("Rollout phase {ph}"))
            });
        };
        // A judged pause the controller had not reached when we moved on: release it now.
        if let Some(r) = self.release {
            match at_pause(&obj, r) {
                PauseState::Paused => {
                    if self.release_pause(r)? {
                        self.release = None;
                    }
                    return Ok(Readiness::Pending(format!(
                        "released the judged pause at step {r}"
                    )));
                }
                PauseState::Before => {
                    return Ok(Readiness::Pending(format!(
                    "waiting for the Rollout to reach the judged pause at step {r} (at step {})",
                    obj["status"]["currentStepIndex"]
                )))
                }
                PauseState::Unpausing | PauseState::Past => self.release = None,
            }
        }
        let at = obj["status"]["currentStepIndex"].as_u64();
        Ok(match at_pause(&obj, step) {
            PauseState::Paused if self.compare_pause == Some(step) && !canary_pods(&obj) => {
                Readiness::Failed(
                    "the Rollout is paused at weight 0 with no canary pods (status.updatedReplicas 0): its steps need setCanaryScale before setWeight 0, and Argo honours it only with trafficRouting; comparing now would reach the stable pods through the canaryService".into(),
                )
            }
            PauseState::Paused if obj["spec"]["paused"] != true => Readiness::Ready,
            PauseState::Past => {
                return Err(PlatformError::Other(format!(
                    "the Rollout moved past the pause at step {step} (now at step {}, phase {ph}) without mlcanary: someone else promoted it",
                    at.map_or("?".into(), |a| a.to_string())
                )))
            }
            s => Readiness::Pending(format!(
                "Rollout phase {ph} at step {}{}, waiting for the pause at step {step}",
                at.map_or("?".into(), |a| a.to_string()),
                match s {
                    PauseState::Unpausing => " (waiting for the controller to unpause)",
                    _ if obj["spec"]["paused"] == true => " (manually paused)",
                    _ => "",
                }
            )),
        })
    }

    /// Move on from the judged pause to the pause after `setWeight: weight`. Located from the
    /// live Rollout (`currentStepIndex`, its pause state), so a resumed run neither repeats a
    /// move nor releases the pause it is about to judge.
    fn set_weight(&mut self, weight: u32) -> Result<(), PlatformError> {
        let p = self.path();
        let obj = self.t.must_get(&p, "Rollout")?;
        let target = pause_after_weight(&obj, weight).ok_or_else(|| {
            PlatformError::Other(format!(
                "the Rollout has no pause after a setWeight {weight} step: re-render and apply the Rollout"
            ))
        })?;
        let judged = pause_before(&obj, target);
        self.expect_step = Some(target);
        if !observed_current(&obj) {
            // The status predates the spec (e.g. right after the apply): decide once the
            // controller has observed it (`poll_ready` releases the judged pause then).
            self.release = judged;
            return Ok(());
        }
        let idx = obj["status"]["currentStepIndex"].as_u64().unwrap_or(0);
        if idx >= target || fully_promoted(&obj) {
            return Ok(()); // already there (a resumed run): nothing to move
        }
        if let Some(j) = judged {
            if !self.release_pause(j)? {
                self.release = Some(j);
            }
        }
        Ok(())
    }

    fn set_shadow(&mut self, percent: u32) -> Result<(), PlatformError> {
        super::kube_platform::no_mirror(
            percent,
            "Argo Rollouts mirroring needs a traffic router; not supported",
        )
    }

    fn traffic(&mut self) -> Result<Traffic, PlatformError> {
        let p = self.path();
        let obj = self.t.must_get(&p, "Rollout")?;
        let canary = obj["status"]["currentPodHash"]
            .as_str()
            .unwrap_or("canary")
            .to_string();
        let stable = obj["status"]["stableRS"]
            .as_str()
            .unwrap_or("stable")
            .to_string();
        let w = match (phase(&obj), obj["status"]["abort"] == true) {
            (_, true) => 0,
            ("Healthy", _) => 100,
            _ => obj["status"]["canary"]["weights"]["canary"]["weight"]
                .as_u64()
                .map(|v| v as u32)
                .unwrap_or_else(|| {
                    weight_at(
                        &obj,
                        obj["status"]["currentStepIndex"].as_u64().unwrap_or(0),
                    )
                }),
        };
        let mut t = Traffic::default();
        if canary == stable {
            t.split.insert(stable, 100);
        } else {
            t.split.insert(canary, w);
            t.split.insert(stable, 100 - w);
        }
        Ok(t)
    }

    fn revisions(&mut self) -> Result<Revisions, PlatformError> {
        let p = self.path();
        let obj = self.t.api.get(&p)?.unwrap_or(Value::Null);
        Ok(Revisions {
            canary_name: self.t.name.clone(),
            canary_revision: obj["status"]["currentPodHash"].as_str().map(String::from),
            stable_name: self.t.name.clone(),
            stable_revision: obj["status"]["stableRS"].as_str().map(String::from),
        })
    }

    fn promote(&mut self) -> Result<(), PlatformError> {
        if self.watch {
            return Ok(()); // Argo promoted it already (Healthy)
        }
        // `kubectl argo rollouts promote --full`: skip whatever steps remain, so promote means
        // 100% from any pause (a manual gate may promote from an early stage). Nothing to do
        // once fully promoted (the plugin sends no status patch then either).
        self.unpause_spec()?;
        self.patch_status(|obj| {
            (obj["status"]["promoteFull"] != true && !fully_promoted(obj))
                .then(|| json!({"status": {"promoteFull": true}}))
        })?;
        self.expect_step = None;
        self.release = None;
        Ok(())
    }

    /// `status.abort`, unless the Rollout is already fully promoted: aborting it then only
    /// marks it Degraded with 100% on the new version (nothing to roll back to), so it is an
    /// error the report states instead.
    fn rollback(&mut self) -> Result<(), PlatformError> {
        let p = self.path();
        let live = self.t.must_get(&p, "Rollout")?;
        if fully_promoted(&live) && live["status"]["abort"] != true {
            return Err(PlatformError::Other(
                "the Rollout is already fully promoted (stable = the new version); not aborting it"
                    .into(),
            ));
        }
        self.patch_status(|obj| {
            (obj["status"]["abort"] != true && !fully_promoted(obj))
                .then(|| json!({"status": {"abort": true}}))
        })?;
        self.aborted = true;
        Ok(())
    }

    /// The controller has observed the spec and acted on our last write: fully promoted and
    /// Healthy, Degraded after an abort, or paused at the stage's pause.
    fn settled(&mut self) -> Result<Option<String>, PlatformError> {
        let p = self.path();
        let obj = self.t.must_get(&p, "Rollout")?;
        if !observed_current(&obj) {
            return Ok(Some(
                "the controller has not observed the last change".into(),
            ));
        }
        let ph = phase(&obj);
        let done = if ph == "Healthy" && fully_promoted(&obj) {
            true
        } else if self.aborted {
            ph == "Degraded"
        } else if self.watch {
            ph == "Healthy" || ph == "Degraded"
        } else {
            match self.expect_step {
                None => ph == "Healthy" && fully_promoted(&obj),
                Some(s) => matches!(at_pause(&obj, s), PauseState::Paused),
            }
        };
        Ok((!done).then(|| {
            format!(
                "Rollout phase {ph} at step {}{}",
                obj["status"]["currentStepIndex"],
                if at_pause(
                    &obj,
                    obj["status"]["currentStepIndex"].as_u64().unwrap_or(0)
                ) == PauseState::Unpausing
                {
                    " (waiting for the controller to unpause)"
                } else {
                    ""
                }
            )
        }))
    }

    fn describe_prepare(&mut self, _weight: u32) -> Option<String> {
        if !self.watch {
            return None;
        }
        // Watch mode applies the Rollout with every configured step (the final render).
        let rollout = self.t.planned("Rollout").ok()?;
        let first = steps(&rollout)
            .iter()
            .find_map(|s| s["setWeight"].as_u64())
            .unwrap_or(100);
        Some(format!(
            "Argo starts the canary at {first}% and walks its steps: {}",
            describe_steps(&rollout)
        ))
    }

    /// Found on the object `load_progress` read (no extra request).
    fn gitops_owners(&mut self) -> Vec<String> {
        self.t.take_gitops()
    }

    fn load_progress(&mut self) -> Result<Option<String>, PlatformError> {
        let p = self.path();
        // Fully promoted, or `promoteFull` sent (a run killed right after its promote, before
        // the controller acted): the re-run finishes it rather than resuming a lower stage.
        // `stableRS == currentPodHash` read before the controller observed the latest spec is
        // the OLD version's (a run killed right after applying our template): not ours.
        let found = self.t.load_progress(&p, |t, live| {
            let ours = t.planned("Rollout")?;
            Ok(((observed_current(live) && fully_promoted(live))
                || live["status"]["promoteFull"] == true)
                && live["spec"]["template"] == ours["spec"]["template"])
        })?;
        let Some((live, record)) = found else {
            return Ok(None);
        };
        Ok(Some(if self.watch {
            record
        } else {
            reconcile_record(&live, &record)
        }))
    }

    fn save_progress(&mut self, record: &str) -> Result<(), PlatformError> {
        let p = self.path();
        self.t.save_annotation(&p, record)
    }
}

/// How the AnalysisTemplate's queries name the canary's and stable's revisions: Argo's own
/// args, filled by the Rollout's analysis step with the two pod-template hashes.
pub const ANALYSIS_REVISIONS: (&str, &str) = ("{{args.canary-hash}}", "{{args.stable-hash}}");

/// The cluster before a rollout (a dry run's seed): the Rollout on the stable version; the
/// AnalysisTemplate is what the run creates.
pub fn stable_objects(planned: &[Value]) -> Vec<Value> {
    planned
        .iter()
        .filter(|o| o["kind"] != "AnalysisTemplate")
        .cloned()
        .collect()
}
