//! Azure ML for `run --dry-run`: the same traffic edits as the live driver (`with_weight`,
//! `with_mirror`), applied to an in-memory endpoint, with every ARM request logged instead of sent.

use super::azureml::{with_mirror, with_weight, AzureMlTarget};
use super::{ApiRequest, Platform, PlatformError, Readiness, Revisions, Traffic};
use crate::clients::azure::arm::API_VERSION;
use serde_json::{json, Value};
use std::cell::RefCell;
use std::rc::Rc;

pub struct AzureMlDry {
    target: AzureMlTarget,
    deployment: Option<Value>,
    endpoint: Value,
    log: Rc<RefCell<Vec<ApiRequest>>>,
}

impl AzureMlDry {
    pub fn new(
        target: AzureMlTarget,
        deployment: Option<Value>,
        log: Rc<RefCell<Vec<ApiRequest>>>,
    ) -> Self {
        let endpoint = json!({"properties": {"authMode": "Key", "traffic": {target.stable_deployment.clone(): 100}, "mirrorTraffic": {}}});
        AzureMlDry {
            target,
            deployment,
            endpoint,
            log,
        }
    }
    fn req(&self, method: &str, path: &str, body: Option<Value>) {
        self.log.borrow_mut().push(ApiRequest {
            method: method.into(),
            path: format!("{path}?api-version={API_VERSION}"),
            content_type: body.as_ref().map(|_| "application/json".into()),
            body,
        });
    }
    fn edit(
        &mut self,
        f: impl FnOnce(&mut Value, &AzureMlTarget) -> Result<(), PlatformError>,
    ) -> Result<(), PlatformError> {
        let path = self.target.endpoint_path();
        self.req("GET", &path, None);
        f(&mut self.endpoint, &self.target)?;
        self.req("PUT", &path, Some(self.endpoint.clone()));
        Ok(())
    }
}

impl Platform for AzureMlDry {
    fn prepare(&mut self, weight: u32, mirror: u32) -> Result<(), PlatformError> {
        if let Some(mut body) = self.deployment.clone() {
            // `@latest` is looked up at ARM in a live run; the dry run shows it as written.
            super::azureml::expand_assets(&mut body, &self.target)?;
            let p = self.target.deployment_path(&self.target.canary_deployment);
            self.req("PUT", &p, Some(body));
            self.req("GET", &p, None);
        }
        if weight > 0 {
            self.set_weight(weight)?;
        }
        if mirror > 0 {
            self.set_shadow(mirror)?;
        }
        Ok(())
    }
    fn poll_ready(&mut self) -> Result<Readiness, PlatformError> {
        Ok(Readiness::Ready)
    }
    fn set_weight(&mut self, weight: u32) -> Result<(), PlatformError> {
        self.edit(|ep, t| with_weight(ep, t, weight, None))
    }
    fn set_shadow(&mut self, percent: u32) -> Result<(), PlatformError> {
        self.edit(|ep, t| with_mirror(ep, t, percent))
    }
    fn traffic(&mut self) -> Result<Traffic, PlatformError> {
        Ok(super::azureml::traffic_of(&self.endpoint))
    }
    fn revisions(&mut self) -> Result<Revisions, PlatformError> {
        let t = &self.target;
        Ok(Revisions {
            canary_name: t.canary_deployment.clone(),
            canary_revision: Some(t.canary_deployment.clone()),
            stable_name: t.stable_deployment.clone(),
            stable_revision: Some(t.stable_deployment.clone()),
        })
    }
    fn promote(&mut self) -> Result<(), PlatformError> {
        let delete = self.target.delete_old_deployment;
        let stable = self.target.stable_deployment.clone();
        self.edit(|ep, t| with_weight(ep, t, 100, delete.then_some(stable.as_str())))?;
        if delete {
            self.req("DELETE", &self.target.deployment_path(&stable), None);
        }
        Ok(())
    }
    fn rollback(&mut self) -> Result<(), PlatformError> {
        let delete = self.target.delete_canary_on_rollback;
        let canary = self.target.canary_deployment.clone();
        self.edit(|ep, t| {
            with_weight(ep, t, 0, delete.then_some(canary.as_str()))?;
            with_mirror(ep, t, 0)
        })?;
        if delete {
            self.req("DELETE", &self.target.deployment_path(&canary), None);
        }
        Ok(())
    }
}
