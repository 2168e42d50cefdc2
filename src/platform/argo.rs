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
    /// The step index the Rollout should be paused at (or `None` once promoted: Healthy expected).
    expect_step: Option<u64>,
    expect_weight: u32,
    aborted: bool,
}

impl Argo {
    pub fn new(t: KubeTarget) -> Argo {
        Argo {
            t,
            watch: false,
            expect_step: Some(1),
            expect_weight: 0,
            aborted: false,
        }
    }
    /// Watch mode: `prepare` applies the Rollout and AnalysisTemplate; `poll_ready` is ready when
    /// Argo finished the whole rollout (Healthy) and failed when Argo aborted it (Degraded).
    pub fn watch(t: KubeTarget) -> Argo {
        Argo {
            t,
            watch: true,
            expect_step: None,
            expect_weight: 100,
            aborted: false,
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
            Err(PlatformError::Api { message, .. })
                if message.contains("404") || message.contains("NotFound") =>
            {
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

    /// `kubectl argo rollouts promote`: unpause the spec if paused, clear pause conditions (or
    /// step forward when there are none). What "moved on" means is fixed by the first read, so a
    /// recomputed retry (after a conflict or our own late write) never skips a second step.
    fn unpause(&mut self) -> Result<(), PlatformError> {
        let p = self.path();
        let obj = self.t.must_get(&p, "Rollout")?;
        let from = obj["status"]["currentStepIndex"].as_u64().unwrap_or(0);
        let had_conditions = has_pause_conditions(&obj);
        self.unpause_spec()?;
        self.patch_status(|now| {
            let at = now["status"]["currentStepIndex"].as_u64().unwrap_or(0);
            if at > from {
                None
            } else if has_pause_conditions(now) {
                Some(json!({"status": {"pauseConditions": null}}))
            } else if had_conditions {
                None // cleared (by us, or by unpausing the spec): the controller steps on
            } else {
                Some(json!({"status": {"currentStepIndex": from + 1}}))
            }
        })
    }
}

fn has_pause_conditions(obj: &Value) -> bool {
    obj["status"]["pauseConditions"]
        .as_array()
        .is_some_and(|a| !a.is_empty())
}

/// The weight of the last `setWeight` at or before step `idx`.
fn weight_at(obj: &Value, idx: u64) -> u32 {
    let steps = obj["spec"]["strategy"]["canary"]["steps"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    steps
        .iter()
        .take(idx as usize + 1)
        .filter_map(|s| s["setWeight"].as_u64())
        .next_back()
        .unwrap_or(0) as u32
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
        self.expect_step = Some(1);
        self.expect_weight = weight;
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
        match self.expect_step {
            None => Ok(if ph == "Healthy" {
                Readiness::Ready
            } else {
                Readiness::Pending(format!("Rollout phase {ph}"))
            }),
            Some(step) => {
                let at = obj["status"]["currentStepIndex"].as_u64();
                if at == Some(step) && ph == "Paused" {
                    Ok(Readiness::Ready)
                } else {
                    Ok(Readiness::Pending(format!(
                        "Rollout phase {ph} at step {}, waiting for the pause at step {step}",
                        at.map_or("?".into(), |a| a.to_string())
                    )))
                }
            }
        }
    }

    fn set_weight(&mut self, weight: u32) -> Result<(), PlatformError> {
        let p = self.path();
        let obj = self.t.must_get(&p, "Rollout")?;
        let next = self.expect_step.map_or(1, |s| s + 2);
        let planned = weight_at(&obj, next - 1);
        if planned != weight {
            return Err(PlatformError::Other(format!(
                "the Rollout's step {} sets weight {planned}, the plan wants {weight}: re-render and apply the Rollout",
                next - 1
            )));
        }
        self.unpause()?;
        self.expect_step = Some(next);
        self.expect_weight = weight;
        Ok(())
    }

    fn set_shadow(&mut self, percent: u32) -> Result<(), PlatformError> {
        if percent == 0 {
            return Ok(());
        }
        Err(PlatformError::Unsupported(
            "Argo Rollouts mirroring needs a traffic router; not supported".into(),
        ))
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
        // 100% from any pause (a manual gate may promote from an early stage).
        self.unpause_spec()?;
        self.patch_status(|obj| {
            (obj["status"]["promoteFull"] != true).then(|| json!({"status": {"promoteFull": true}}))
        })?;
        self.expect_step = None;
        self.expect_weight = 100;
        Ok(())
    }

    fn rollback(&mut self) -> Result<(), PlatformError> {
        self.patch_status(|obj| {
            (obj["status"]["abort"] != true).then(|| json!({"status": {"abort": true}}))
        })?;
        self.aborted = true;
        Ok(())
    }

    fn load_progress(&mut self) -> Result<Option<String>, PlatformError> {
        let p = self.path();
        self.t.load_annotation(&p)
    }

    fn save_progress(&mut self, record: &str) -> Result<(), PlatformError> {
        let p = self.path();
        self.t.save_annotation(&p, record)
    }
}
