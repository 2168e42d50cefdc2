//! Azure ML for `run --dry-run`: the live driver ([`AzureMl`]) over an ARM that records every
//! request instead of sending it, and answers from an in-memory endpoint (the stable deployment
//! at 100%, every operation over at once). What the dry run prints is what the live code sends,
//! body for body, in order: one request builder serves both.

use super::azureml::{AzureMl, AzureMlTarget};
use super::ApiRequest;
use crate::clients::azure::arm::{
    ArmApi, ArmResponse, Operation, PollOutcome, PollPolicy, API_VERSION,
};
use crate::clients::azure::AzureError;
use serde_json::{json, Value};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

/// The live driver over a recorder logging into `log`.
pub fn platform(
    target: AzureMlTarget,
    deployment: Option<Value>,
    log: Rc<RefCell<Vec<ApiRequest>>>,
) -> AzureMl {
    // The endpoint is in the region the config names (when it names one).
    let location = deployment
        .as_ref()
        .and_then(|d| d.get("location"))
        .and_then(Value::as_str)
        .map(String::from);
    let rec = Recorder::new(&target, location.as_deref(), deployment.is_none(), log);
    AzureMl::new(rec, target, deployment).assuming_ready()
}

/// An ARM that records and answers from memory.
#[derive(Debug)]
pub struct Recorder {
    resources: RefCell<BTreeMap<String, Value>>,
    etag: RefCell<u64>,
    log: Rc<RefCell<Vec<ApiRequest>>>,
    policy: PollPolicy,
}

impl Recorder {
    /// The endpoint with `stable` at 100%; the canary deployment too when it already exists.
    pub fn new(
        target: &AzureMlTarget,
        location: Option<&str>,
        canary_exists: bool,
        log: Rc<RefCell<Vec<ApiRequest>>>,
    ) -> Recorder {
        let mut resources = BTreeMap::new();
        resources.insert(
            target.endpoint_path(),
            json!({"location": location.unwrap_or("(the endpoint's location)"),
                "properties": {"authMode": "Key", "provisioningState": "Succeeded",
                    "traffic": {target.stable_deployment.clone(): 100}, "mirrorTraffic": {}}}),
        );
        let mut names = vec![&target.stable_deployment];
        if canary_exists {
            names.push(&target.canary_deployment);
        }
        for name in names {
            resources.insert(
                target.deployment_path(name),
                json!({"properties": {"provisioningState": "Succeeded"}}),
            );
        }
        Recorder {
            resources: RefCell::new(resources),
            etag: RefCell::new(1),
            log,
            policy: PollPolicy::default(),
        }
    }

    fn record(&self, method: &str, path: &str, body: Option<&Value>) -> String {
        let sep = if path.contains('?') { '&' } else { '?' };
        let full = format!("{path}{sep}api-version={API_VERSION}");
        self.log.borrow_mut().push(ApiRequest {
            method: method.into(),
            path: full.clone(),
            content_type: body.map(|_| "application/json".into()),
            body: body.cloned(),
        });
        full
    }

    fn answer(&self, method: &str, url: String, body: Value) -> ArmResponse {
        let mut headers = BTreeMap::new();
        headers.insert("etag".into(), format!("\"{}\"", self.etag.borrow()));
        ArmResponse {
            status: 200,
            headers,
            body,
            method: method.into(),
            url,
            request_id: "(dry run)".into(),
        }
    }

    fn stored(&self, path: &str, body: &Value) -> Value {
        let mut b = body.clone();
        if !b.get("properties").is_some_and(Value::is_object) {
            b["properties"] = json!({});
        }
        b["properties"]["provisioningState"] = json!("Succeeded");
        *self.etag.borrow_mut() += 1;
        self.resources.borrow_mut().insert(path.into(), b.clone());
        b
    }
}

impl ArmApi for Recorder {
    fn get(&self, path: &str) -> Result<ArmResponse, AzureError> {
        match self.get_optional(path)? {
            Some(r) => Ok(r),
            None => Err(AzureError::Api {
                method: "GET".into(),
                url: path.into(),
                status: 404,
                code: "ResourceNotFound".into(),
                message: "(dry run) not found".into(),
                request_id: "(dry run)".into(),
            }),
        }
    }
    fn get_optional(&self, path: &str) -> Result<Option<ArmResponse>, AzureError> {
        let url = self.record("GET", path, None);
        if let Some((_, query)) = path.split_once("/versions?") {
            // `@latest` is looked up at ARM in a live run; its answer is unknown here.
            let _ = query;
            return Ok(Some(self.answer(
                "GET",
                url,
                json!({"value": [{"name": "(latest)"}]}),
            )));
        }
        let found = self.resources.borrow().get(path).cloned();
        Ok(found.map(|b| self.answer("GET", url, b)))
    }
    fn put(
        &self,
        path: &str,
        body: &Value,
        _if_match: Option<&str>,
    ) -> Result<ArmResponse, AzureError> {
        let url = self.record("PUT", path, Some(body));
        let stored = self.stored(path, body);
        Ok(self.answer("PUT", url, stored))
    }
    fn patch(
        &self,
        path: &str,
        body: &Value,
        _if_match: Option<&str>,
    ) -> Result<ArmResponse, AzureError> {
        let url = self.record("PATCH", path, Some(body));
        let mut current = self
            .resources
            .borrow()
            .get(path)
            .cloned()
            .unwrap_or(json!({}));
        if let Some(tags) = body.get("tags") {
            current["tags"] = tags.clone();
        }
        let stored = self.stored(path, &current);
        Ok(self.answer("PATCH", url, stored))
    }
    fn delete_and_wait(&self, path: &str) -> Result<(), AzureError> {
        self.record("DELETE", path, None);
        self.resources.borrow_mut().remove(path);
        Ok(())
    }
    fn wait(&self, _first: &ArmResponse) -> Result<(), AzureError> {
        Ok(())
    }
    fn wait_until(
        &self,
        _first: &ArmResponse,
        _until: Option<std::time::Instant>,
    ) -> Result<(), AzureError> {
        Ok(())
    }
    fn poll_operation(&self, _op: &Operation) -> Result<PollOutcome, AzureError> {
        Ok(PollOutcome::Done)
    }
    fn exit_by(&self) -> Option<std::time::Instant> {
        None
    }
    fn policy(&self) -> &PollPolicy {
        &self.policy
    }
}
