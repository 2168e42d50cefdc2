//! Azure ML managed online endpoints: a canary deployment beside the stable one, traffic moved by
//! the endpoint's `properties.traffic` map.
//!
//! Why GET-edit-PUT: ARM's PATCH on an online endpoint only takes tags and identity, so every
//! traffic change re-sends the whole endpoint, guarded by `If-Match` when ARM gave an ETag; a 412
//! (someone else changed it) re-reads and tries again, and so does a 409 (another operation on the
//! endpoint is still running), after a backoff. The canary deployment (when the lead passes
//! a rendered body) is created with a PUT whose provisioning [`Platform::poll_ready`] watches; its
//! traffic is applied only once it is Succeeded, so a failed deployment never receives users.

use super::azureml_assets::{self as assets, AssetKind, AssetRef};
use super::{Platform, PlatformError, Readiness, Revisions, Traffic};
use crate::clients::azure::arm::{ArmApi, ArmResponse, Operation};
use crate::clients::azure::AzureError;
use crate::core::progress::{Progress, State};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// The most ARM accepts in `mirrorTraffic`.
pub const MAX_MIRROR_PERCENT: u32 = 50;
/// Attempts of one GET-edit-PUT when ARM answers 412 or 409.
const ETAG_ATTEMPTS: u32 = 4;

/// Which endpoint and deployments to drive (from `target:` in the config).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct AzureMlTarget {
    pub subscription_id: String,
    pub resource_group: String,
    pub workspace: String,
    pub endpoint: String,
    pub stable_deployment: String,
    pub canary_deployment: String,
    /// After promotion, delete the old (stable) deployment.
    pub delete_old_deployment: bool,
    /// After rollback, delete the canary deployment.
    pub delete_canary_on_rollback: bool,
}

impl AzureMlTarget {
    /// The `target:` section of a validated azureml config (validation requires every name).
    pub fn from_config(c: &crate::config::Config) -> AzureMlTarget {
        let t = &c.target;
        let s = |v: &Option<String>| v.clone().unwrap_or_default();
        AzureMlTarget {
            subscription_id: s(&t.subscription_id),
            resource_group: s(&t.resource_group),
            workspace: s(&t.workspace),
            endpoint: s(&t.endpoint),
            stable_deployment: s(&t.stable_deployment),
            canary_deployment: s(&t.canary_deployment),
            delete_old_deployment: t.delete_old_deployment,
            delete_canary_on_rollback: t.delete_canary_on_rollback,
        }
    }

    /// ARM id of the workspace.
    pub fn workspace_path(&self) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.MachineLearningServices/workspaces/{}",
            self.subscription_id, self.resource_group, self.workspace
        )
    }
    /// ARM id of the online endpoint (also the default Azure Monitor resource).
    pub fn endpoint_path(&self) -> String {
        format!(
            "{}/onlineEndpoints/{}",
            self.workspace_path(),
            self.endpoint
        )
    }
    pub fn deployment_path(&self, name: &str) -> String {
        format!("{}/deployments/{name}", self.endpoint_path())
    }
}

/// Read `properties.traffic` / `properties.mirrorTraffic` of an endpoint body.
pub fn traffic_of(endpoint: &Value) -> Traffic {
    let map = |key: &str| -> BTreeMap<String, u32> {
        endpoint
            .pointer(&format!("/properties/{key}"))
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| v.as_u64().map(|n| (k.clone(), n as u32)))
                    .collect()
            })
            .unwrap_or_default()
    };
    Traffic {
        split: map("traffic"),
        mirror: map("mirrorTraffic"),
    }
}

/// Set the canary's live share to `weight`; the stable deployment takes what other deployments
/// leave; a canary receiving live traffic is removed from mirroring. `drop` names a deployment to
/// take out of the map entirely (before deleting it).
pub fn with_weight(
    endpoint: &mut Value,
    target: &AzureMlTarget,
    weight: u32,
    drop: Option<&str>,
) -> Result<(), PlatformError> {
    if weight > 100 {
        return Err(PlatformError::Other(format!(
            "weight {weight} is above 100"
        )));
    }
    let current = traffic_of(endpoint);
    let mut split = current.split.clone();
    if let Some(d) = drop {
        split.remove(d);
    }
    let (canary, stable) = (&target.canary_deployment, &target.stable_deployment);
    let others: u32 = split
        .iter()
        .filter(|(k, _)| *k != canary && *k != stable)
        .map(|(_, v)| *v)
        .sum();
    if others + weight > 100 {
        return Err(PlatformError::Other(format!(
            "other deployments hold {others}% of traffic; cannot give {weight}% to {canary}"
        )));
    }
    let rest = 100 - others - weight;
    // A canary that never joined the map (e.g. its provisioning failed) is not added at 0%: ARM
    // refuses traffic entries naming a deployment that is not Succeeded.
    if drop != Some(canary.as_str()) && (weight > 0 || split.contains_key(canary)) {
        split.insert(canary.clone(), weight);
    }
    if drop != Some(stable.as_str()) {
        split.insert(stable.clone(), rest);
    } else if rest > 0 {
        return Err(PlatformError::Other(format!(
            "cannot remove {stable} while it would still need {rest}% of traffic"
        )));
    }
    let mut mirror = current.mirror;
    if weight > 0 || drop == Some(canary.as_str()) {
        mirror.remove(canary);
    }
    set_maps(endpoint, &split, &mirror);
    Ok(())
}

/// Mirror `percent` of traffic to the canary (0 removes it).
pub fn with_mirror(
    endpoint: &mut Value,
    target: &AzureMlTarget,
    percent: u32,
) -> Result<(), PlatformError> {
    if percent > MAX_MIRROR_PERCENT {
        return Err(PlatformError::Other(format!(
            "Azure ML mirrors at most {MAX_MIRROR_PERCENT}% of traffic (asked {percent}%)"
        )));
    }
    let current = traffic_of(endpoint);
    let mut mirror = current.mirror;
    if percent == 0 {
        mirror.remove(&target.canary_deployment);
    } else {
        mirror.insert(target.canary_deployment.clone(), percent);
    }
    set_maps(endpoint, &current.split, &mirror);
    Ok(())
}

fn set_maps(endpoint: &mut Value, split: &BTreeMap<String, u32>, mirror: &BTreeMap<String, u32>) {
    if !endpoint.get("properties").is_some_and(Value::is_object) {
        endpoint["properties"] = json!({});
    }
    endpoint["properties"]["traffic"] = json!(split);
    endpoint["properties"]["mirrorTraffic"] = json!(mirror);
}

/// Drop what ARM computes itself, so the PUT body is what a client may set: the swagger's
/// read-only properties (`id`, `name`, `type`, `systemData`, `properties.provisioningState`,
/// `scoringUri`, `swaggerUri`, the identity's `principalId`/`tenantId` and each user-assigned
/// identity's `principalId`/`clientId`) and `properties.keys` (write-only: never sent back).
fn writable(mut endpoint: Value) -> Value {
    if let Some(obj) = endpoint.as_object_mut() {
        for key in ["id", "name", "type", "systemData", "etag"] {
            obj.shift_remove(key);
        }
    }
    if let Some(props) = endpoint
        .get_mut("properties")
        .and_then(Value::as_object_mut)
    {
        for key in ["provisioningState", "scoringUri", "swaggerUri", "keys"] {
            props.shift_remove(key);
        }
    }
    if let Some(identity) = endpoint.get_mut("identity").and_then(Value::as_object_mut) {
        identity.shift_remove("principalId");
        identity.shift_remove("tenantId");
        if let Some(Value::Object(users)) = identity.get_mut("userAssignedIdentities") {
            for user in users.values_mut() {
                if let Some(u) = user.as_object_mut() {
                    u.shift_remove("principalId");
                    u.shift_remove("clientId");
                }
            }
        }
    }
    endpoint
}

/// What one endpoint write sends.
enum Write {
    /// The whole endpoint (traffic changes: ARM's PATCH cannot change traffic).
    Put(Value),
    /// Tags only.
    Patch(Value),
}

/// How long a write goes on retrying ARM's 409 (another operation on the endpoint is running).
#[derive(Clone, Copy, PartialEq)]
enum Patience {
    /// A forward move or a record: [`ETAG_ATTEMPTS`] tries, and none once a signal came.
    Bounded,
    /// The rollback: until the process must exit after a signal, else the policy's
    /// `busy_patience` (15 minutes).
    UntilExit,
}

/// The Azure ML driver.
#[derive(Debug)]
pub struct AzureMl {
    arm: Box<dyn ArmApi>,
    /// The dry run's recorder: provisioning is over as soon as it is asked for, so `prepare`
    /// polls once itself (the dry-run loop assumes readiness and never polls).
    assume_ready: bool,
    target: AzureMlTarget,
    deployment: Option<Value>,
    /// Weight to give the canary once its deployment is Succeeded.
    pending_weight: Option<u32>,
    /// Mirror percent to set once the canary deployment is ready (shadow-first rollouts).
    pending_mirror: u32,
    /// The canary deployment's running operation, for the failure message.
    deployment_op: Option<Operation>,
    /// Our own endpoint write whose operation we stopped following (a signal came): the next
    /// write follows it to its end first, since ARM refuses writes (409) until then.
    in_flight: Option<ArmResponse>,
    /// The progress record last stored or read (see `update_endpoint`).
    record: Option<Progress>,
    /// Whether this driver has sent a write (PUT, PATCH or DELETE; sent is enough: a failed write
    /// may have landed). The progress record does not count: it changes no service, and a
    /// rollback must never write to resources a run did not change.
    wrote: std::cell::Cell<bool>,
}

impl AzureMl {
    /// `deployment`: the rendered ManagedOnlineDeployment body, when the canary is to be created
    /// or updated; `None` when it already exists.
    pub fn new(
        arm: impl ArmApi + 'static,
        target: AzureMlTarget,
        deployment: Option<Value>,
    ) -> Self {
        AzureMl {
            arm: Box::new(arm),
            assume_ready: false,
            target,
            deployment,
            pending_weight: None,
            pending_mirror: 0,
            deployment_op: None,
            in_flight: None,
            record: None,
            wrote: Default::default(),
        }
    }

    /// The driver over the dry run's recorder (see `assume_ready`).
    pub fn assuming_ready(mut self) -> Self {
        self.assume_ready = true;
        self
    }

    pub fn target(&self) -> &AzureMlTarget {
        &self.target
    }

    /// GET the endpoint, apply `edit`, PUT it back with If-Match, wait for the operation.
    /// `record`: the progress record describing the endpoint once this change is applied, sent
    /// in the same PUT (as the endpoint's tag), so a crash cannot separate the two.
    fn update_endpoint(
        &mut self,
        what: &str,
        patience: Patience,
        record: Option<String>,
        edit: &dyn Fn(&mut Value) -> Result<(), PlatformError>,
    ) -> Result<(), PlatformError> {
        self.write_endpoint(what, patience, &|current: &Value| {
            let before = traffic_of(current);
            let mut body = writable(current.clone());
            edit(&mut body)?;
            // Nothing to change: no PUT, so the endpoint is left exactly as it was.
            if traffic_of(&body) == before {
                return Ok(None);
            }
            if let Some(r) = &record {
                if !body.get("tags").is_some_and(Value::is_object) {
                    body["tags"] = json!({});
                }
                body["tags"][crate::core::progress::TAG] = json!(r);
            }
            Ok(Some(Write::Put(body)))
        })?;
        if let Some(r) = record {
            self.record = Progress::decode(&r);
        }
        Ok(())
    }

    /// The record after a traffic change to `weight` in `state`, from the last one stored (none
    /// before the run's first record). The driver stores one after every traffic change, each
    /// change one phase further: an in-progress move to a new weight is the next phase.
    fn record_after(&self, weight: u32, state: State) -> Option<String> {
        let mut r = self.record.clone()?;
        if state == State::InProgress && weight != r.weight {
            r.phase += 1;
        }
        r.weight = weight;
        r.state = state;
        Some(r.encode())
    }

    /// One endpoint write: GET, `build` the request from what was read (`None`: nothing to
    /// send), send it with `If-Match`, follow its operation to the end. A 412 re-reads and
    /// tries again; a 409 (an operation still running) waits and tries again as `patience`
    /// allows. Our own operation left unfollowed by a signal is followed to its end first.
    fn write_endpoint(
        &mut self,
        what: &str,
        patience: Patience,
        build: &dyn Fn(&Value) -> Result<Option<Write>, PlatformError>,
    ) -> Result<(), PlatformError> {
        let path = self.target.endpoint_path();
        let until =
            match patience {
                Patience::UntilExit => Some(self.arm.exit_by().unwrap_or_else(|| {
                    std::time::Instant::now() + self.arm.policy().busy_patience
                })),
                Patience::Bounded => self.arm.exit_by(),
            };
        self.finish_in_flight(what, until)?;
        let (mut stale, mut busy) = (0u32, 0u32);
        loop {
            let current = self.arm.get(&path).map_err(|e| api("GET", &path, e))?;
            if !current.body.is_object() {
                return Err(PlatformError::Api {
                    request: format!("GET {path}"),
                    message: "the endpoint's body is not a JSON object".into(),
                });
            }
            let etag = current.etag();
            let Some(write) = build(&current.body)? else {
                log::info!(
                    "{what}: endpoint {} already is as asked; nothing sent",
                    self.target.endpoint
                );
                return Ok(());
            };
            self.wrote.set(true);
            let (method, sent) = match &write {
                Write::Put(body) => ("PUT", self.arm.put(&path, body, etag.as_deref())),
                Write::Patch(body) => ("PATCH", self.arm.patch(&path, body, etag.as_deref())),
            };
            match sent {
                Ok(first) => {
                    log::info!(
                        "{what}: {method} endpoint {} (x-ms-client-request-id {})",
                        self.target.endpoint,
                        first.request_id
                    );
                    return match self.arm.wait(&first) {
                        Err(e @ AzureError::Abandoned { .. }) => {
                            self.in_flight = Some(first);
                            Err(api(method, &path, e))
                        }
                        other => other.map_err(|e| api(method, &path, e)),
                    };
                }
                Err(e) if e.status() == Some(412) && stale + 1 < ETAG_ATTEMPTS => {
                    stale += 1;
                    log::warn!(
                        "{what}: endpoint {} changed since it was read (HTTP 412); re-reading",
                        self.target.endpoint
                    );
                }
                // ARM answers 409 while another operation on the endpoint is running: nothing
                // was applied; wait, re-read and try again.
                Err(e) if e.status() == Some(409) => {
                    let delay = self.busy_delay(busy);
                    let give_up = match patience {
                        Patience::Bounded => {
                            busy + 1 >= ETAG_ATTEMPTS || self.arm.exit_by().is_some()
                        }
                        Patience::UntilExit => {
                            until.is_some_and(|u| std::time::Instant::now() + delay > u)
                        }
                    };
                    if give_up {
                        let t = crate::report::summary::traffic_line(&traffic_of(&current.body));
                        return Err(PlatformError::Api {
                            request: format!("{method} {path}"),
                            message: format!(
                                "{e}; {what} not applied after {} tries while another operation runs on the endpoint; traffic stays {t} (as last read); `mlcanary rollback` or a re-run finishes the job once it is over",
                                busy + 1
                            ),
                        });
                    }
                    busy += 1;
                    log::warn!(
                        "{what}: endpoint {} is busy with another operation (HTTP 409); retrying in {delay:?}",
                        self.target.endpoint
                    );
                    std::thread::sleep(delay);
                }
                Err(e) => return Err(api(method, &path, e)),
            }
        }
    }

    /// Pause before retry `n` of a write refused with 409: short once a signal came (the
    /// runner's kill is seconds away), else the policy's backoff.
    fn busy_delay(&self, n: u32) -> std::time::Duration {
        let policy = self.arm.policy();
        if self.arm.exit_by().is_some() {
            policy.retry_after_unit
        } else {
            policy.delay(None, n.min(3))
        }
    }

    /// Follow our own endpoint operation left unfollowed (see `in_flight`) to its end, until
    /// `until`. Whatever it ended as, the caller then reads the endpoint afresh.
    fn finish_in_flight(
        &mut self,
        what: &str,
        until: Option<std::time::Instant>,
    ) -> Result<(), PlatformError> {
        let Some(first) = self.in_flight.take() else {
            return Ok(());
        };
        log::info!(
            "{what}: following our earlier {} on endpoint {} to its end first (x-ms-client-request-id {})",
            first.method,
            self.target.endpoint,
            first.request_id
        );
        match self.arm.wait_until(&first, until) {
            Ok(()) => Ok(()),
            Err(e @ AzureError::Timeout(_)) => {
                let path = self.target.endpoint_path();
                let t = self
                    .arm
                    .get(&path)
                    .map(|r| crate::report::summary::traffic_line(&traffic_of(&r.body)))
                    .unwrap_or_else(|_| "unknown (the endpoint could not be read)".into());
                let request = format!("{} {path}", first.method);
                self.in_flight = Some(first);
                Err(PlatformError::Api {
                    request,
                    message: format!(
                        "{e}: {what} not sent, our earlier change is still being applied; the endpoint shows {t}; `mlcanary rollback` or a re-run finishes the job"
                    ),
                })
            }
            Err(e) => {
                log::warn!("{what}: our earlier endpoint change did not apply: {e}");
                Ok(())
            }
        }
    }

    fn delete_deployment(&self, name: &str) -> Result<(), PlatformError> {
        let path = self.target.deployment_path(name);
        log::info!("deleting deployment {name}");
        self.wrote.set(true);
        self.arm
            .delete_and_wait(&path)
            .map_err(|e| api("DELETE", &path, e))
    }

    /// Why the canary deployment failed: the operation's error when it has one.
    fn failure_reason(&self, state: &str) -> String {
        let name = &self.target.canary_deployment;
        if let Some(op) = &self.deployment_op {
            if let Err(e) = self.arm.poll_operation(op) {
                return format!("deployment {name} {state}: {e}");
            }
        }
        format!("deployment {name} provisioningState {state}")
    }
}

impl AzureMl {
    /// The ARM id of the newest version of an asset (the SDK's `_get_latest`).
    fn latest_version(&self, kind: AssetKind, name: &str) -> Result<String, PlatformError> {
        let ws = self.target.workspace_path();
        let path = assets::latest_query(&ws, kind, name);
        let list = self.arm.get(&path).map_err(|e| api("GET", &path, e))?;
        assets::first_version_id(&list.body, &ws, kind, name).ok_or_else(|| {
            PlatformError::Other(format!(
                "azureml:{name}@latest: no version of {} {name} in workspace {}",
                kind.collection().trim_end_matches('s'),
                self.target.workspace
            ))
        })
    }
}

/// Expand the asset references of a deployment body in place (`azureml:NAME:VERSION` to ARM
/// ids; a `null` environment removed, never sent); the `@latest` ones, which need ARM, are
/// returned as (JSON pointer, kind, name) and left as written.
pub fn expand_assets(
    body: &mut Value,
    target: &AzureMlTarget,
) -> Result<Vec<(&'static str, AssetKind, String)>, PlatformError> {
    let ws = target.workspace_path();
    let mut latest = Vec::new();
    for (pointer, kind) in assets::REFERENCES {
        let Some(value) = body.pointer(pointer).cloned() else {
            continue;
        };
        let text = match value {
            Value::Null if kind == AssetKind::Environment => {
                if let Some(props) = body.get_mut("properties").and_then(Value::as_object_mut) {
                    props.remove("environmentId");
                }
                continue;
            }
            Value::String(s) => s,
            other => {
                return Err(PlatformError::Other(format!(
                    "deployment {pointer} must be a string, not {other}"
                )))
            }
        };
        match assets::parse(kind, &text, &ws).map_err(PlatformError::Other)? {
            AssetRef::Id(id) => set_pointer(body, pointer, json!(id)),
            AssetRef::Latest { kind, name } => latest.push((pointer, kind, name)),
        }
    }
    Ok(latest)
}

fn set_pointer(body: &mut Value, pointer: &str, value: Value) {
    if let Some(slot) = body.pointer_mut(pointer) {
        *slot = value;
    }
}

fn api(method: &str, path: &str, e: AzureError) -> PlatformError {
    PlatformError::Arm {
        request: format!("{method} {path}"),
        error: Box::new(e),
    }
}

impl Platform for AzureMl {
    fn prepare(
        &mut self,
        weight: u32,
        mirror: u32,
        _manifests: &[serde_json::Value],
    ) -> Result<(), PlatformError> {
        if mirror > MAX_MIRROR_PERCENT {
            return Err(PlatformError::Unsupported(format!(
                "Azure ML mirrors at most {MAX_MIRROR_PERCENT}% of traffic (asked {mirror}%)"
            )));
        }
        self.pending_mirror = mirror;
        if let Some(mut body) = self.deployment.clone() {
            let latest = expand_assets(&mut body, &self.target)?;
            for (pointer, kind, name) in latest {
                let id = self.latest_version(kind, &name)?;
                log::info!("{pointer}: azureml:{name}@latest is {id}");
                set_pointer(&mut body, pointer, json!(id));
            }
            if body
                .get("location")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                // The deployment lives where its endpoint does.
                let path = self.target.endpoint_path();
                let ep = self.arm.get(&path).map_err(|e| api("GET", &path, e))?;
                let Some(location) = ep.body.get("location").and_then(Value::as_str) else {
                    return Err(PlatformError::Api {
                        request: format!("GET {path}"),
                        message: "the endpoint has no location to create the deployment in; set target.location".into(),
                    });
                };
                body["location"] = json!(location);
            }
            let path = self.target.deployment_path(&self.target.canary_deployment);
            self.wrote.set(true);
            let first = self
                .arm
                .put(&path, &body, None)
                .map_err(|e| api("PUT", &path, e))?;
            self.deployment_op = Operation::from_response(&first);
        }
        self.pending_weight = Some(weight);
        if self.assume_ready {
            return self.poll_ready().map(|_| ());
        }
        Ok(())
    }

    fn poll_ready(&mut self) -> Result<Readiness, PlatformError> {
        let name = self.target.canary_deployment.clone();
        let path = self.target.deployment_path(&name);
        let Some(dep) = self
            .arm
            .get_optional(&path)
            .map_err(|e| api("GET", &path, e))?
        else {
            return Ok(Readiness::Failed(format!(
                "deployment {name} does not exist on endpoint {}",
                self.target.endpoint
            )));
        };
        let state = dep
            .body
            .pointer("/properties/provisioningState")
            .and_then(Value::as_str)
            .unwrap_or("Unknown")
            .to_string();
        match state.as_str() {
            "Succeeded" => {
                if let Some(w) = self.pending_weight.take() {
                    if w > 0 {
                        self.set_weight(w)?;
                    }
                }
                let m = std::mem::take(&mut self.pending_mirror);
                if m > 0 {
                    self.set_shadow(m)?;
                }
                Ok(Readiness::Ready)
            }
            // A deployment ARM could not provision is a platform failure (exit 3), not a verdict
            // on the model: the canary never served, so there is nothing to judge.
            "Failed" | "Canceled" => Err(PlatformError::Other(self.failure_reason(&state))),
            other => Ok(Readiness::Pending(format!("deployment {name} is {other}"))),
        }
    }

    fn set_weight(&mut self, weight: u32) -> Result<(), PlatformError> {
        let target = self.target.clone();
        let record = self.record_after(weight, State::InProgress);
        self.update_endpoint(
            &format!("weight {weight}%"),
            Patience::Bounded,
            record,
            &move |ep| with_weight(ep, &target, weight, None),
        )
    }

    fn set_shadow(&mut self, percent: u32) -> Result<(), PlatformError> {
        if percent > MAX_MIRROR_PERCENT {
            return Err(PlatformError::Unsupported(format!(
                "Azure ML mirrors at most {MAX_MIRROR_PERCENT}% of traffic (asked {percent}%)"
            )));
        }
        let target = self.target.clone();
        self.update_endpoint(
            &format!("mirror {percent}%"),
            Patience::Bounded,
            None,
            &move |ep| with_mirror(ep, &target, percent),
        )
    }

    fn traffic(&mut self) -> Result<Traffic, PlatformError> {
        let path = self.target.endpoint_path();
        let ep = self.arm.get(&path).map_err(|e| api("GET", &path, e))?;
        Ok(traffic_of(&ep.body))
    }

    fn revisions(&mut self) -> Result<Revisions, PlatformError> {
        Ok(Revisions {
            canary_name: self.target.canary_deployment.clone(),
            canary_revision: Some(self.target.canary_deployment.clone()),
            stable_name: self.target.stable_deployment.clone(),
            stable_revision: Some(self.target.stable_deployment.clone()),
        })
    }

    fn promote(&mut self) -> Result<(), PlatformError> {
        let target = self.target.clone();
        let stable = target.stable_deployment.clone();
        let delete = target.delete_old_deployment && stable != target.canary_deployment;
        let record = self.record_after(100, State::Promoted);
        self.update_endpoint("promote", Patience::Bounded, record, &move |ep| {
            with_weight(ep, &target, 100, delete.then_some(stable.as_str()))
        })?;
        if delete {
            self.delete_deployment(&self.target.stable_deployment)?;
        }
        Ok(())
    }

    fn rollback(&mut self) -> Result<(), PlatformError> {
        self.pending_weight = None;
        let target = self.target.clone();
        let canary = target.canary_deployment.clone();
        let delete = target.delete_canary_on_rollback;
        // The canary may never have joined the endpoint's traffic map (failed provisioning):
        // dropping an absent key is a no-op, so the PUT only confirms stable = 100.
        let record = self.record_after(0, State::RolledBack);
        self.update_endpoint("rollback", Patience::UntilExit, record, &move |ep| {
            with_weight(ep, &target, 0, delete.then_some(canary.as_str()))?;
            with_mirror(ep, &target, 0)
        })?;
        if delete {
            self.delete_deployment(&self.target.canary_deployment)?;
        }
        Ok(())
    }

    fn load_progress(&mut self) -> Result<Option<String>, PlatformError> {
        let path = self.target.endpoint_path();
        let ep = self.arm.get(&path).map_err(|e| api("GET", &path, e))?;
        let stored = ep
            .body
            .pointer(&format!("/tags/{}", crate::core::progress::TAG))
            .and_then(Value::as_str)
            .map(String::from);
        self.record = stored.as_deref().and_then(Progress::decode);
        Ok(stored)
    }

    /// The record as an endpoint tag (values are at most 256 characters: it is compact). Traffic
    /// changes carry it in their own PUT already (then nothing is sent here); otherwise tags go
    /// by PATCH, the one thing ARM's PATCH takes: traffic is never re-sent to store progress.
    fn save_progress(&mut self, record: &str) -> Result<(), PlatformError> {
        let wrote = self.wrote.get();
        let r = self.store_record(record);
        self.wrote.set(wrote);
        r
    }

    fn has_written(&self) -> bool {
        self.wrote.get()
    }
}

impl AzureMl {
    /// The progress record as the endpoint's tag (a PATCH of the tags alone, If-Match guarded).
    fn store_record(&mut self, record: &str) -> Result<(), PlatformError> {
        self.record = Progress::decode(record);
        let record = record.to_string();
        self.write_endpoint("progress record", Patience::Bounded, &move |current| {
            let mut tags = match current.get("tags") {
                Some(Value::Object(t)) => t.clone(),
                _ => Map::new(),
            };
            if tags.get(crate::core::progress::TAG).and_then(Value::as_str) == Some(&record) {
                return Ok(None);
            }
            // PATCH replaces the whole tags map: the others are sent back as read.
            tags.insert(crate::core::progress::TAG.into(), json!(record));
            Ok(Some(Write::Patch(json!({ "tags": tags }))))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> AzureMlTarget {
        AzureMlTarget {
            subscription_id: "sub".into(),
            resource_group: "rg".into(),
            workspace: "ws".into(),
            endpoint: "ep".into(),
            stable_deployment: "blue".into(),
            canary_deployment: "green".into(),
            ..Default::default()
        }
    }

    /// A run that wrote nothing is never "rolled back" (issue 9 point 8): the progress record is
    /// not a change; a traffic edit is.
    #[test]
    fn only_a_change_of_the_service_counts_as_written() {
        let log = Default::default();
        let mut p = super::super::azureml_dry::platform(target(), None, log);
        assert!(!p.has_written());
        p.save_progress("state=in-progress").unwrap();
        assert!(!p.has_written(), "the progress record is not a change");
        p.set_weight(10).unwrap();
        assert!(p.has_written());
    }

    #[test]
    fn weight_moves_the_rest_to_stable_and_stops_mirroring_the_canary() {
        let mut ep =
            json!({"properties": {"traffic": {"blue": 100}, "mirrorTraffic": {"green": 10}}});
        with_weight(&mut ep, &target(), 25, None).unwrap();
        let t = traffic_of(&ep);
        assert_eq!(t.split.get("blue"), Some(&75));
        assert_eq!(t.split.get("green"), Some(&25));
        assert!(t.mirror.is_empty());
    }

    #[test]
    fn other_deployments_keep_their_share() {
        let mut ep = json!({"properties": {"traffic": {"blue": 90, "red": 10}}});
        with_weight(&mut ep, &target(), 50, None).unwrap();
        let t = traffic_of(&ep);
        assert_eq!(t.split.values().sum::<u32>(), 100);
        assert_eq!(t.split["red"], 10);
        assert_eq!(t.split["blue"], 40);
        assert!(with_weight(&mut ep, &target(), 95, None).is_err());
    }

    #[test]
    fn promote_with_deletion_drops_the_stable_entry() {
        let mut ep = json!({"properties": {"traffic": {"blue": 50, "green": 50}}});
        with_weight(&mut ep, &target(), 100, Some("blue")).unwrap();
        let t = traffic_of(&ep);
        assert_eq!(t.split, BTreeMap::from([("green".to_string(), 100)]));
    }

    #[test]
    fn rollback_does_not_name_a_canary_that_never_joined_the_map() {
        let mut ep = json!({"properties": {"traffic": {"blue": 100}}});
        with_weight(&mut ep, &target(), 0, None).unwrap();
        assert_eq!(
            traffic_of(&ep).split,
            BTreeMap::from([("blue".to_string(), 100)])
        );
        let mut ep = json!({"properties": {"traffic": {"blue": 80, "green": 20}}});
        with_weight(&mut ep, &target(), 0, None).unwrap();
        assert_eq!(traffic_of(&ep).split["green"], 0);
    }

    #[test]
    fn mirror_is_capped_at_fifty() {
        let mut ep = json!({"properties": {"traffic": {"blue": 100}}});
        assert!(with_mirror(&mut ep, &target(), 51).is_err());
        with_mirror(&mut ep, &target(), 50).unwrap();
        assert_eq!(traffic_of(&ep).mirror["green"], 50);
        with_mirror(&mut ep, &target(), 0).unwrap();
        assert!(traffic_of(&ep).mirror.is_empty());
    }

    #[test]
    fn read_only_fields_are_not_sent_back() {
        let ep = json!({"id": "/x", "name": "ep", "type": "t", "location": "westeurope",
            "properties": {"authMode": "Key", "provisioningState": "Succeeded", "scoringUri": "https://s"}});
        let w = writable(ep);
        assert_eq!(
            w,
            json!({"location": "westeurope", "properties": {"authMode": "Key"}})
        );
    }

    #[test]
    fn identity_ids_and_keys_are_not_sent_back() {
        let ep = json!({"location": "westeurope",
            "identity": {"type": "SystemAssigned,UserAssigned", "principalId": "p", "tenantId": "t",
                "userAssignedIdentities": {"/subscriptions/s/id1": {"principalId": "p1", "clientId": "c1"}}},
            "properties": {"authMode": "Key", "keys": {"primaryKey": "k1"}}});
        assert_eq!(
            writable(ep),
            json!({"location": "westeurope",
                "identity": {"type": "SystemAssigned,UserAssigned",
                    "userAssignedIdentities": {"/subscriptions/s/id1": {}}},
                "properties": {"authMode": "Key"}})
        );
    }
}
