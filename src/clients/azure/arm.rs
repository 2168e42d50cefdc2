//! Azure Resource Manager over ureq: GET/PUT/DELETE with a fresh token per request, 429/5xx
//! retried with backoff (honouring `Retry-After`), and long-running operations followed through
//! `Azure-AsyncOperation`, else `Location`, to Succeeded / Failed / Canceled.
//!
//! Waiting is measured in [`PollPolicy`] units, so tests run the same code with millisecond delays.
//!
//! Reads can be made abandonable through a [`ReadGuard`] (the rollout gives one that watches its
//! cancel flag and deadline): a GET or an operation poll in flight when a signal arrives is given up
//! so the rollback starts at once, as Kubernetes reads are. Writes are never abandoned (traffic
//! would be unknown); reads started after the signal (the rollback's own) run to completion; an
//! operation wait that began before the signal is given up with its next poll or pause.

use super::credential::TokenSource;
use super::AzureError;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// api-version for Microsoft.MachineLearningServices resources.
pub const API_VERSION: &str = "2025-12-01";

/// Delays and budgets for retries and long-running-operation polling.
#[derive(Debug, Clone, PartialEq)]
pub struct PollPolicy {
    /// What one second of `Retry-After` means (1 s in production, 1 ms in tests).
    pub retry_after_unit: Duration,
    /// Delay between polls when the service gives no `Retry-After`, and the first backoff step.
    pub default_delay: Duration,
    /// Upper bound of any single delay.
    pub max_delay: Duration,
    /// Retries of one request answered 429 / 5xx / a transport error.
    pub max_retries: u32,
    /// Polls of one long-running operation before giving up.
    pub max_polls: u32,
    /// How long a rollback retries writes ARM refuses with 409 (another operation on the
    /// resource is running) when no signal limits it.
    pub busy_patience: Duration,
}

impl Default for PollPolicy {
    fn default() -> Self {
        PollPolicy {
            retry_after_unit: Duration::from_secs(1),
            default_delay: Duration::from_secs(5),
            max_delay: Duration::from_secs(60),
            max_retries: 5,
            max_polls: 720,
            busy_patience: Duration::from_secs(15 * 60),
        }
    }
}

impl PollPolicy {
    /// The same rules with every delay in milliseconds.
    pub fn fast() -> Self {
        PollPolicy {
            retry_after_unit: Duration::from_millis(1),
            default_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(60),
            max_retries: 5,
            max_polls: 200,
            busy_patience: Duration::from_secs(2),
        }
    }

    /// Delay before retry/poll number `attempt` (0-based): `Retry-After` seconds (in units) when the
    /// service sent one, else exponential backoff from `default_delay`; never above `max_delay`.
    pub fn delay(&self, retry_after: Option<&str>, attempt: u32) -> Duration {
        let wanted = match retry_after.and_then(|v| v.trim().parse::<u32>().ok()) {
            Some(secs) => self.retry_after_unit * secs,
            None => self.default_delay * 2u32.saturating_pow(attempt.min(16)),
        };
        wanted.min(self.max_delay)
    }
}

/// An ARM answer: status, headers (lower-case names) and the JSON body (`Null` when empty), with
/// the request it answers (method, absolute URL, our `x-ms-client-request-id`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ArmResponse {
    pub status: u16,
    pub headers: BTreeMap<String, String>,
    pub body: Value,
    pub method: String,
    pub url: String,
    pub request_id: String,
}

impl ArmResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
    /// The `ETag` header, else `etag` in the body.
    pub fn etag(&self) -> Option<String> {
        self.header("etag").map(str::to_string).or_else(|| {
            self.body
                .get("etag")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
    }
}

/// A read handed to a [`ReadGuard`].
pub type Read = Box<dyn FnOnce() -> Result<ArmResponse, AzureError> + Send>;

/// Decides whether reads may be abandoned and runs them so (kept abstract so this client does
/// not depend on the rollout loop).
pub trait ReadGuard: Send + Sync + std::fmt::Debug {
    /// True while reads may still be abandoned (no signal yet, deadline not passed).
    fn armed(&self) -> bool;
    /// Run `read` on another thread and wait for it; `Err(why)` when it was abandoned.
    fn run(&self, read: Read) -> Result<Result<ArmResponse, AzureError>, String>;
    /// Once a signal came: the moment by which the process must have finished (the CI runner
    /// kills it soon after its first signal). `None` while there is no such limit.
    fn exit_by(&self) -> Option<std::time::Instant> {
        None
    }
}

/// What the Azure ML driver asks of ARM: the real [`ArmClient`], or the dry run's recorder
/// (`platform::azureml_dry`), so `run --dry-run` shows exactly the requests a live run sends.
pub trait ArmApi: std::fmt::Debug {
    fn get(&self, path: &str) -> Result<ArmResponse, AzureError>;
    fn get_optional(&self, path: &str) -> Result<Option<ArmResponse>, AzureError>;
    fn put(
        &self,
        path: &str,
        body: &Value,
        if_match: Option<&str>,
    ) -> Result<ArmResponse, AzureError>;
    fn patch(
        &self,
        path: &str,
        body: &Value,
        if_match: Option<&str>,
    ) -> Result<ArmResponse, AzureError>;
    fn delete_and_wait(&self, path: &str) -> Result<(), AzureError>;
    fn wait(&self, first: &ArmResponse) -> Result<(), AzureError>;
    fn wait_until(
        &self,
        first: &ArmResponse,
        until: Option<std::time::Instant>,
    ) -> Result<(), AzureError>;
    fn poll_operation(&self, op: &Operation) -> Result<PollOutcome, AzureError>;
    fn exit_by(&self) -> Option<std::time::Instant>;
    fn policy(&self) -> &PollPolicy;
}

impl ArmApi for ArmClient {
    fn get(&self, path: &str) -> Result<ArmResponse, AzureError> {
        ArmClient::get(self, path)
    }
    fn get_optional(&self, path: &str) -> Result<Option<ArmResponse>, AzureError> {
        ArmClient::get_optional(self, path)
    }
    fn put(
        &self,
        path: &str,
        body: &Value,
        if_match: Option<&str>,
    ) -> Result<ArmResponse, AzureError> {
        ArmClient::put(self, path, body, if_match)
    }
    fn patch(
        &self,
        path: &str,
        body: &Value,
        if_match: Option<&str>,
    ) -> Result<ArmResponse, AzureError> {
        ArmClient::patch(self, path, body, if_match)
    }
    fn delete_and_wait(&self, path: &str) -> Result<(), AzureError> {
        ArmClient::delete_and_wait(self, path)
    }
    fn wait(&self, first: &ArmResponse) -> Result<(), AzureError> {
        ArmClient::wait(self, first)
    }
    fn wait_until(
        &self,
        first: &ArmResponse,
        until: Option<std::time::Instant>,
    ) -> Result<(), AzureError> {
        ArmClient::wait_until(self, first, until)
    }
    fn poll_operation(&self, op: &Operation) -> Result<PollOutcome, AzureError> {
        ArmClient::poll_operation(self, op)
    }
    fn exit_by(&self) -> Option<std::time::Instant> {
        ArmClient::exit_by(self)
    }
    fn policy(&self) -> &PollPolicy {
        ArmClient::policy(self)
    }
}

/// A synchronous ARM client.
#[derive(Debug, Clone)]
pub struct ArmClient {
    agent: ureq::Agent,
    base: String,
    scope: String,
    tokens: Arc<dyn TokenSource>,
    policy: PollPolicy,
    guard: Option<Arc<dyn ReadGuard>>,
}

impl ArmClient {
    /// `base`: e.g. `https://management.azure.com` (see `AzureSettings::arm_url`); `scope`: the token scope.
    pub fn new(
        agent: ureq::Agent,
        base: &str,
        scope: &str,
        tokens: Arc<dyn TokenSource>,
        policy: PollPolicy,
    ) -> Self {
        ArmClient {
            agent,
            base: base.trim_end_matches('/').to_string(),
            scope: scope.to_string(),
            tokens,
            policy,
            guard: None,
        }
    }

    /// Reads (GET, operation polls) become abandonable through `guard` (see the module docs).
    pub fn interruptible_by(mut self, guard: Arc<dyn ReadGuard>) -> Self {
        self.guard = Some(guard);
        self
    }

    /// When the process must have finished (after a signal), as the guard says.
    pub fn exit_by(&self) -> Option<std::time::Instant> {
        self.guard.as_ref().and_then(|g| g.exit_by())
    }

    /// The guard, while it may still abandon reads.
    fn armed(&self) -> Option<&Arc<dyn ReadGuard>> {
        self.guard.as_ref().filter(|g| g.armed())
    }

    /// GET `url` (retries included), through the guard when `guarded`.
    fn read(&self, url: &str, guarded: bool) -> Result<ArmResponse, AzureError> {
        match self.guard.as_ref().filter(|_| guarded) {
            Some(guard) => {
                let (me, u) = (self.clone(), url.to_string());
                guard
                    .run(Box::new(move || me.send("GET", &u, None, &[])))
                    .map_err(|why| abandoned(url, why))?
            }
            None => self.send("GET", url, None, &[]),
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn policy(&self) -> &PollPolicy {
        &self.policy
    }

    /// Absolute URL of a resource path with the api-version.
    pub fn url(&self, path: &str, api_version: &str) -> String {
        let sep = if path.contains('?') { '&' } else { '?' };
        format!("{}{path}{sep}api-version={api_version}", self.base)
    }

    /// GET a resource; non-2xx is an error.
    pub fn get(&self, path: &str) -> Result<ArmResponse, AzureError> {
        let url = self.url(path, API_VERSION);
        check("GET", &url, self.read(&url, self.armed().is_some())?)
    }

    /// GET a resource; `None` on 404.
    pub fn get_optional(&self, path: &str) -> Result<Option<ArmResponse>, AzureError> {
        let url = self.url(path, API_VERSION);
        let resp = self.read(&url, self.armed().is_some())?;
        if resp.status == 404 {
            return Ok(None);
        }
        check("GET", &url, resp).map(Some)
    }

    /// PUT a whole resource (with `If-Match` when given) and return the first answer (200/201);
    /// call [`ArmClient::wait`] to follow the operation.
    pub fn put(
        &self,
        path: &str,
        body: &Value,
        if_match: Option<&str>,
    ) -> Result<ArmResponse, AzureError> {
        self.write("PUT", path, body, if_match)
    }

    /// PATCH a resource (ARM takes only `tags` / `identity` this way on an online endpoint) and
    /// return the first answer (200, or 202 with `Location`); call [`ArmClient::wait`] to follow it.
    pub fn patch(
        &self,
        path: &str,
        body: &Value,
        if_match: Option<&str>,
    ) -> Result<ArmResponse, AzureError> {
        self.write("PATCH", path, body, if_match)
    }

    /// Send a body (`If-Match` when given) and check the first answer.
    fn write(
        &self,
        method: &str,
        path: &str,
        body: &Value,
        if_match: Option<&str>,
    ) -> Result<ArmResponse, AzureError> {
        let url = self.url(path, API_VERSION);
        let headers: Vec<(&str, &str)> = if_match.map(|e| ("If-Match", e)).into_iter().collect();
        check(method, &url, self.send(method, &url, Some(body), &headers)?)
    }

    /// DELETE a resource; 404 counts as already deleted (returns `None`).
    pub fn delete(&self, path: &str) -> Result<Option<ArmResponse>, AzureError> {
        let url = self.url(path, API_VERSION);
        let resp = self.send("DELETE", &url, None, &[])?;
        if resp.status == 404 || resp.status == 204 {
            return Ok(None);
        }
        check("DELETE", &url, resp).map(Some)
    }

    /// PUT then wait for the operation to succeed.
    pub fn put_and_wait(
        &self,
        path: &str,
        body: &Value,
        if_match: Option<&str>,
    ) -> Result<ArmResponse, AzureError> {
        let first = self.put(path, body, if_match)?;
        self.wait(&first)?;
        Ok(first)
    }

    /// DELETE then wait for the operation to finish.
    pub fn delete_and_wait(&self, path: &str) -> Result<(), AzureError> {
        match self.delete(path)? {
            Some(first) => self.wait(&first),
            None => Ok(()),
        }
    }

    /// Poll once: `Running` while it runs, `Done` when Succeeded, an error when it ended
    /// Failed/Canceled. The answer's `Retry-After` is returned for the caller's next delay.
    pub fn poll_operation(&self, op: &Operation) -> Result<PollOutcome, AzureError> {
        self.poll(op, self.armed().is_some())
    }

    fn poll(&self, op: &Operation, guarded: bool) -> Result<PollOutcome, AzureError> {
        let running = |resp: &ArmResponse| PollOutcome::Running {
            retry_after: resp.header("retry-after").map(str::to_string),
        };
        match op {
            Operation::AsyncOperation(url) => {
                let resp = check("GET", url, self.read(url, guarded)?)?;
                let status = resp
                    .body
                    .get("status")
                    .and_then(Value::as_str)
                    .unwrap_or("InProgress");
                match status {
                    "Succeeded" => Ok(PollOutcome::Done),
                    "Failed" | "Canceled" => Err(operation_error(&resp, status)),
                    _ => Ok(running(&resp)),
                }
            }
            Operation::Location(url) => {
                let resp = self.read(url, guarded)?;
                if resp.status == 202 {
                    return Ok(running(&resp));
                }
                check("GET", url, resp).map(|_| PollOutcome::Done)
            }
            Operation::Resource { url, delete } => {
                let resp = self.read(url, guarded)?;
                if resp.status == 404 && *delete {
                    return Ok(PollOutcome::Done);
                }
                let resp = check("GET", url, resp)?;
                match provisioning_state(&resp.body) {
                    _ if *delete => Ok(running(&resp)),
                    Some(state @ ("Failed" | "Canceled")) => Err(operation_error(&resp, state)),
                    Some(state) if !is_terminal(state) => Ok(running(&resp)),
                    _ => Ok(PollOutcome::Done),
                }
            }
        }
    }

    /// Follow a long-running operation started by `first` until it ends. Started before a
    /// signal, it is given up (its pauses and polls) when one comes: see the module docs.
    pub fn wait(&self, first: &ArmResponse) -> Result<(), AzureError> {
        self.follow(first, self.armed().cloned(), None)
    }

    /// Follow the operation `first` started to its end whatever signal comes (it is ours: what
    /// comes next must wait for it), giving up only at `until` ([`AzureError::Timeout`]).
    pub fn wait_until(
        &self,
        first: &ArmResponse,
        until: Option<std::time::Instant>,
    ) -> Result<(), AzureError> {
        self.follow(first, None, until)
    }

    fn follow(
        &self,
        first: &ArmResponse,
        guard: Option<Arc<dyn ReadGuard>>,
        until: Option<std::time::Instant>,
    ) -> Result<(), AzureError> {
        if let Some(state @ ("Failed" | "Canceled")) = provisioning_state(&first.body) {
            return Err(operation_error(first, state));
        }
        let Some(op) = Operation::from_response(first) else {
            return Ok(());
        };
        let mut retry_after = first.header("retry-after").map(str::to_string);
        for attempt in 0..self.policy.max_polls {
            let delay = match &retry_after {
                Some(v) => self.policy.delay(Some(v), 0),
                None => self.policy.delay(None, attempt.min(3)),
            };
            if until.is_some_and(|u| std::time::Instant::now() + delay > u) {
                return Err(AzureError::Timeout(op.url().to_string()));
            }
            pause(delay, guard.as_deref()).map_err(|why| abandoned(op.url(), why))?;
            let outcome = self.poll(&op, guard.is_some()).map_err(|e| match e {
                // The id users quote is the one of the request that started the operation.
                AzureError::Operation {
                    url,
                    status,
                    code,
                    message,
                    ..
                } => AzureError::Operation {
                    url,
                    status,
                    code,
                    message,
                    request_id: first.request_id.clone(),
                },
                other => other,
            })?;
            match outcome {
                PollOutcome::Done => return Ok(()),
                PollOutcome::Running { retry_after: next } => retry_after = next,
            }
        }
        Err(AzureError::Timeout(op.url().to_string()))
    }

    /// Send one request with a fresh token, retrying 429, 5xx and transport errors.
    pub fn send(
        &self,
        method: &str,
        url: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Result<ArmResponse, AzureError> {
        let mut attempt = 0;
        // One id per request, kept across its retries: users quote it to Azure support, and
        // ARM echoes it in its logs (and in the `x-ms-client-request-id` answer header).
        let request_id = new_request_id();
        loop {
            let token = self.tokens.token(&self.scope)?;
            let mut builder = ureq::http::Request::builder()
                .method(method)
                .uri(url)
                .header("Authorization", format!("Bearer {}", token.secret()))
                .header("Accept", "application/json")
                .header("x-ms-client-request-id", request_id.as_str())
                .header("x-ms-return-client-request-id", "true");
            for (k, v) in headers {
                builder = builder.header(*k, *v);
            }
            let payload = match body {
                Some(b) => {
                    builder = builder.header("Content-Type", "application/json");
                    serde_json::to_vec(b).unwrap_or_default()
                }
                None => Vec::new(),
            };
            let req = builder.body(payload).map_err(|e| AzureError::Transport {
                method: method.into(),
                url: url.into(),
                message: e.to_string(),
            })?;
            let outcome = self.agent.run(req);
            let (retry, retry_after, result) = match outcome {
                Ok(mut resp) => {
                    let status = resp.status().as_u16();
                    let mut hdrs = BTreeMap::new();
                    for (name, value) in resp.headers() {
                        if let Ok(v) = value.to_str() {
                            hdrs.insert(name.as_str().to_ascii_lowercase(), v.to_string());
                        }
                    }
                    let text = resp.body_mut().read_to_string();
                    match answer_body(status, text) {
                        Ok(body) => {
                            let retry_after = hdrs.get("retry-after").cloned();
                            let retry = status == 429 || status >= 500;
                            (
                                retry,
                                retry_after,
                                Ok(ArmResponse {
                                    status,
                                    headers: hdrs,
                                    body,
                                    method: method.to_string(),
                                    url: url.to_string(),
                                    request_id: request_id.clone(),
                                }),
                            )
                        }
                        // A success whose body is cut short or not JSON says nothing reliable
                        // (not even which operation to follow): asked again, like a lost answer.
                        Err(message) => (
                            true,
                            None,
                            Err(AzureError::Transport {
                                method: method.into(),
                                url: url.into(),
                                message: format!("{message} (x-ms-client-request-id {request_id})"),
                            }),
                        ),
                    }
                }
                Err(e) => (
                    true,
                    None,
                    Err(AzureError::Transport {
                        method: method.into(),
                        url: url.into(),
                        message: format!("{e} (x-ms-client-request-id {request_id})"),
                    }),
                ),
            };
            if !retry || attempt >= self.policy.max_retries {
                return result;
            }
            log::warn!(
                "{method} {url}: {}; retrying",
                match &result {
                    Ok(r) => format!("HTTP {}", r.status),
                    Err(e) => e.to_string(),
                }
            );
            std::thread::sleep(self.policy.delay(retry_after.as_deref(), attempt));
            attempt += 1;
        }
    }
}

/// Sleep `d`, in short slices while `guard` may abandon the wait; `Err` once it no longer may.
fn pause(d: Duration, guard: Option<&dyn ReadGuard>) -> Result<(), String> {
    let Some(guard) = guard else {
        std::thread::sleep(d);
        return Ok(());
    };
    let until = std::time::Instant::now() + d;
    loop {
        if !guard.armed() {
            return Err("abandoned: the run was cancelled or its deadline passed".into());
        }
        let left = until.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Ok(());
        }
        std::thread::sleep(left.min(Duration::from_millis(100)));
    }
}

fn abandoned(url: &str, why: String) -> AzureError {
    AzureError::Abandoned {
        url: url.into(),
        message: why,
    }
}

/// The JSON body of an answer (`Null` when empty). An error status may carry any text (kept as a
/// string for the message); a success must carry JSON, else it is reported as unusable.
fn answer_body(status: u16, text: Result<String, ureq::Error>) -> Result<Value, String> {
    let success = (200..300).contains(&status);
    let text = match text {
        Ok(t) => t,
        Err(e) if success => return Err(format!("HTTP {status} answer could not be read: {e}")),
        Err(_) => String::new(),
    };
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    match serde_json::from_str(&text) {
        Ok(v) => Ok(v),
        Err(e) if success => Err(format!("HTTP {status} answer is not valid JSON: {e}")),
        Err(_) => Ok(Value::String(text)),
    }
}

/// How a long-running operation is tracked.
#[derive(Debug, Clone, PartialEq)]
pub enum Operation {
    AsyncOperation(String),
    Location(String),
    /// No operation header, yet the answer's `provisioningState` is not terminal (or a DELETE
    /// was accepted without one): the resource itself is polled, as the spec's
    /// `final-state-via: original-uri` and the Azure SDK's ARM polling do. A DELETE ends at 404.
    Resource {
        url: String,
        delete: bool,
    },
}

impl Operation {
    /// `Azure-AsyncOperation` when present, else `Location` (on 201/202), else the resource
    /// itself while its state is not terminal; none when the change was synchronous.
    pub fn from_response(resp: &ArmResponse) -> Option<Operation> {
        if let Some(u) = resp.header("azure-asyncoperation") {
            return Some(Operation::AsyncOperation(u.to_string()));
        }
        if resp.status == 202 || resp.status == 201 {
            if let Some(u) = resp.header("location") {
                return Some(Operation::Location(u.to_string()));
            }
        }
        if resp.url.is_empty() {
            return None;
        }
        let delete = resp.method == "DELETE";
        let unfinished = match provisioning_state(&resp.body) {
            Some(state) => !is_terminal(state),
            None => resp.status == 202,
        };
        (unfinished && (delete || resp.status != 204)).then(|| Operation::Resource {
            url: resp.url.clone(),
            delete,
        })
    }
    pub fn url(&self) -> &str {
        match self {
            Operation::AsyncOperation(u)
            | Operation::Location(u)
            | Operation::Resource { url: u, .. } => u,
        }
    }
}

/// `properties.provisioningState` of a resource body.
pub fn provisioning_state(body: &Value) -> Option<&str> {
    body.pointer("/properties/provisioningState")
        .and_then(Value::as_str)
}

/// ARM's terminal provisioning states (anything else is still running).
pub fn is_terminal(state: &str) -> bool {
    matches!(state, "Succeeded" | "Failed" | "Canceled")
}

/// One poll's result.
#[derive(Debug, Clone, PartialEq)]
pub enum PollOutcome {
    Running { retry_after: Option<String> },
    Done,
}

/// `{"error":{"code","message"}}` -> (code, message); anything else is shown as text.
pub fn error_parts(body: &Value) -> (String, String) {
    let err = body.get("error").unwrap_or(body);
    let code = err
        .get("code")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let message = match err.get("message").and_then(Value::as_str) {
        Some(m) => m.to_string(),
        None if body.is_null() => String::new(),
        None => body.to_string(),
    };
    (code, message)
}

/// An operation (or a resource) that ended Failed/Canceled, with the error ARM gave: the
/// operation's `error`, else the resource's `properties.error`, else its whole body.
fn operation_error(resp: &ArmResponse, status: &str) -> AzureError {
    let body = match resp.body.pointer("/properties/error") {
        Some(e) if resp.body.get("error").is_none() => json!({ "error": e }),
        _ => resp.body.clone(),
    };
    let (code, message) = error_parts(&body);
    AzureError::Operation {
        url: resp.url.clone(),
        status: status.to_string(),
        code,
        message,
        request_id: resp.request_id.clone(),
    }
}

fn check(method: &str, url: &str, resp: ArmResponse) -> Result<ArmResponse, AzureError> {
    if (200..300).contains(&resp.status) {
        return Ok(resp);
    }
    let (code, message) = error_parts(&resp.body);
    Err(AzureError::Api {
        method: method.to_string(),
        url: url.to_string(),
        status: resp.status,
        code,
        message,
        request_id: resp.request_id,
    })
}

/// A fresh `x-ms-client-request-id` (a random UUID, as the Azure SDKs send).
pub fn new_request_id() -> String {
    azure_core::Uuid::new_v4().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_honoured_in_policy_units_and_capped() {
        let p = PollPolicy::default();
        assert_eq!(p.delay(Some("7"), 0), Duration::from_secs(7));
        assert_eq!(p.delay(Some("600"), 0), Duration::from_secs(60));
        let f = PollPolicy::fast();
        assert_eq!(f.delay(Some("3"), 4), Duration::from_millis(3));
    }

    #[test]
    fn backoff_doubles_without_retry_after() {
        let p = PollPolicy::default();
        assert_eq!(p.delay(None, 0), Duration::from_secs(5));
        assert_eq!(p.delay(None, 1), Duration::from_secs(10));
        assert_eq!(
            p.delay(Some("Wed, 21 Oct 2015 07:28:00 GMT"), 2),
            Duration::from_secs(20)
        );
        assert_eq!(p.delay(None, 30), Duration::from_secs(60));
    }

    fn resp(status: u16, headers: &[(&str, &str)]) -> ArmResponse {
        ArmResponse {
            status,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn async_operation_header_wins_over_location() {
        let r = resp(
            201,
            &[
                ("azure-asyncoperation", "https://a/op"),
                ("location", "https://a/loc"),
            ],
        );
        assert_eq!(
            Operation::from_response(&r),
            Some(Operation::AsyncOperation("https://a/op".into()))
        );
        let r = resp(202, &[("location", "https://a/loc")]);
        assert_eq!(
            Operation::from_response(&r),
            Some(Operation::Location("https://a/loc".into()))
        );
        assert_eq!(Operation::from_response(&resp(200, &[])), None);
    }

    #[test]
    fn a_success_must_carry_json_an_error_may_carry_text() {
        assert_eq!(
            answer_body(200, Ok("{\"a\": 1}".into())),
            Ok(serde_json::json!({"a": 1}))
        );
        assert_eq!(answer_body(202, Ok(" ".into())), Ok(Value::Null));
        assert!(answer_body(200, Ok("{\"id\": \"/subscr".into())).is_err());
        assert_eq!(
            answer_body(502, Ok("<html>Bad Gateway</html>".into())),
            Ok(Value::String("<html>Bad Gateway</html>".into()))
        );
    }

    #[test]
    fn arm_error_body_is_split_into_code_and_message() {
        let body = serde_json::json!({"error": {"code": "BadRequest", "message": "Traffic must sum to 100"}});
        assert_eq!(
            error_parts(&body),
            (
                "BadRequest".to_string(),
                "Traffic must sum to 100".to_string()
            )
        );
        assert_eq!(error_parts(&Value::Null), (String::new(), String::new()));
    }
}
