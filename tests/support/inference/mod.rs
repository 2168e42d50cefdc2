//! Test doubles of model servers, one per wire protocol, over tiny_http on 127.0.0.1 (a free
//! port, stopped on drop). Each answers as its upstream documents:
//!
//! - Open Inference Protocol v2 (MLServer, Triton, KServe v2; Seldon Core 2's mesh in front):
//!   `POST /v2/models/{name}/infer`, request `{"inputs": [{"name","shape","datatype","data"}]}`,
//!   answer `{"model_name","id","parameters","outputs":[{"name":"predict","shape":[n,1],
//!   "datatype":"INT64","data":[...]}]}`; an unknown model 404 `{"error": ...}` (MLServer
//!   `ModelNotFound`); behind the Seldon 2 mesh the `seldon-model` header picks the route and
//!   Envoy answers 404 with an empty body when no route matches (docs.seldon.ai, "Inference":
//!   the header names the model, or `NAME.experiment`).
//! - KServe v1 / TF-Serving: `POST /v1/models/{name}:predict` `{"instances": [...]}` ->
//!   `{"predictions": [...]}`; behind Knative the `Host` picks the revision (tag routing hosts
//!   `prev-`/`latest-NAME-predictor.NS.DOMAIN`); an unknown host is 404.
//! - Seldon Core v1: `POST /api/v1.0/predictions` `{"data": {"ndarray": [[...]]}}` ->
//!   `{"data": {"names": [...], "ndarray": [[...]]}, "meta": {}}` (probabilities per class).
//! - Azure ML: `POST /score`, `Authorization: Bearer KEY` (401 otherwise), the deployment from
//!   `azureml-model-deployment` (404 when unknown), the body is what `run()` returns, here a
//!   JSON-encoded list (the default scoring server encodes the return value).
//!
//! What a double cannot know (real latency, real model numerics) is played by `Model`: a rule from
//! the feature row to a label and a score.
#![allow(dead_code)]

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A model's behaviour: features -> (label, score).
pub type Model = Arc<dyn Fn(&[f64]) -> (i64, f64) + Send + Sync>;

/// The reference model: label 1 when x0 + x2 > 8, score a smooth function of the sum.
pub fn reference() -> Model {
    Arc::new(|x: &[f64]| {
        let s = x.iter().take(3).sum::<f64>();
        let score = 1.0 / (1.0 + (-(s - 11.0)).exp());
        (i64::from(x[0] + x[2] > 8.0), score)
    })
}

/// The reference model except on a slice (x0 > `from`): the label flips and the score moves.
pub fn differs_on_slice(from: f64) -> Model {
    let r = reference();
    Arc::new(move |x: &[f64]| {
        let (l, s) = r(x);
        if x[0] > from {
            (1 - l, (1.0 - s).clamp(0.0, 1.0))
        } else {
            (l, s)
        }
    })
}

#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub headers: BTreeMap<String, String>,
}

/// One running double.
pub struct Server {
    pub url: String,
    stop: Arc<AtomicBool>,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    pub count: Arc<AtomicUsize>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

type Handler = Arc<dyn Fn(&str, &BTreeMap<String, String>, &[u8]) -> (u16, String) + Send + Sync>;

fn serve(handler: Handler) -> Server {
    let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind 127.0.0.1:0"));
    let url = format!(
        "http://{}",
        server.server_addr().to_ip().expect("ip address")
    );
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let count = Arc::new(AtomicUsize::new(0));
    let (s2, seen2, count2) = (stop.clone(), seen.clone(), count.clone());
    let thread = std::thread::spawn(move || {
        // A few workers so concurrent requests overlap as on a real server.
        let workers: Vec<_> = (0..8)
            .map(|_| {
                let (server, stop, seen, count, handler) = (
                    server.clone(),
                    s2.clone(),
                    seen2.clone(),
                    count2.clone(),
                    handler.clone(),
                );
                std::thread::spawn(move || {
                    while !stop.load(Ordering::SeqCst) {
                        let Ok(Some(mut req)) = server.recv_timeout(Duration::from_millis(50))
                        else {
                            continue;
                        };
                        let headers: BTreeMap<String, String> = req
                            .headers()
                            .iter()
                            .map(|h| {
                                (
                                    h.field.as_str().as_str().to_ascii_lowercase(),
                                    h.value.as_str().to_string(),
                                )
                            })
                            .collect();
                        let path = req.url().to_string();
                        let mut body = Vec::new();
                        let _ = std::io::Read::read_to_end(req.as_reader(), &mut body);
                        count.fetch_add(1, Ordering::SeqCst);
                        seen.lock().unwrap().push(Seen {
                            path: path.clone(),
                            headers: headers.clone(),
                        });
                        let (status, text) = handler(&path, &headers, &body);
                        let resp = tiny_http::Response::from_string(text)
                            .with_status_code(status)
                            .with_header(
                                "Content-Type: application/json"
                                    .parse::<tiny_http::Header>()
                                    .unwrap(),
                            );
                        let _ = req.respond(resp);
                    }
                })
            })
            .collect();
        for w in workers {
            let _ = w.join();
        }
    });
    Server {
        url,
        stop,
        seen,
        count,
        thread: Some(thread),
    }
}

/// The feature rows of a request body in any of the four protocols.
fn rows(body: &Value) -> Option<Vec<Vec<f64>>> {
    let to_rows = |v: &Value| -> Option<Vec<Vec<f64>>> {
        let a = v.as_array()?;
        if a.first()?.is_array() {
            a.iter()
                .map(|r| r.as_array()?.iter().map(Value::as_f64).collect())
                .collect()
        } else {
            Some(vec![a
                .iter()
                .map(Value::as_f64)
                .collect::<Option<Vec<f64>>>()?])
        }
    };
    if let Some(inputs) = body.get("inputs").and_then(Value::as_array) {
        let i = inputs.first()?;
        let flat: Vec<f64> = i["data"]
            .as_array()?
            .iter()
            .flat_map(|v| match v {
                Value::Array(r) => r.iter().filter_map(Value::as_f64).collect::<Vec<_>>(),
                other => other.as_f64().into_iter().collect(),
            })
            .collect();
        let k = i["shape"]
            .as_array()
            .and_then(|s| s.get(1))
            .and_then(Value::as_u64)
            .unwrap_or(flat.len() as u64) as usize;
        return Some(flat.chunks(k.max(1)).map(<[f64]>::to_vec).collect());
    }
    if let Some(inst) = body.get("instances") {
        return to_rows(inst);
    }
    if let Some(nd) = body.get("data").and_then(|d| d.get("ndarray")) {
        return to_rows(nd);
    }
    body.get("data").and_then(to_rows)
}

/// Open Inference Protocol v2 over models by name; with `mesh` the `seldon-model` header routes.
pub fn v2(models: BTreeMap<String, Model>, mesh: bool) -> Server {
    serve(Arc::new(move |path, headers, body| {
        let name = path
            .strip_prefix("/v2/models/")
            .and_then(|p| p.strip_suffix("/infer"))
            .unwrap_or("");
        if mesh {
            match headers.get("seldon-model") {
                Some(m) if models.contains_key(m) && m == name => {}
                _ => return (404, String::new()),
            }
        }
        let Some(model) = models.get(name) else {
            return (
                404,
                json!({"error": format!("Model {name} with version  not found")}).to_string(),
            );
        };
        let Some(rows) = serde_json::from_slice::<Value>(body)
            .ok()
            .as_ref()
            .and_then(rows)
        else {
            return (422, json!({"error": "Invalid request body"}).to_string());
        };
        let data: Vec<i64> = rows.iter().map(|r| model(r).0).collect();
        (
            200,
            json!({
                "model_name": if mesh { format!("{name}_1") } else { name.to_string() },
                "id": "2f0a8a4e-0000-4000-8000-000000000000",
                "parameters": {},
                "outputs": [{"name": "predict", "shape": [data.len(), 1], "datatype": "INT64",
                              "parameters": {"content_type": "np"}, "data": data}]
            })
            .to_string(),
        )
    }))
}

/// KServe v1 behind Knative tag routing: `Host` -> model.
pub fn kserve_v1(hosts: BTreeMap<String, Model>) -> Server {
    serve(Arc::new(move |path, headers, body| {
        let host = headers
            .get("host")
            .map(|h| h.split(':').next().unwrap_or(""))
            .unwrap_or("");
        let Some(model) = hosts.get(host) else {
            return (404, String::new());
        };
        if !(path.starts_with("/v1/models/") && path.ends_with(":predict")) {
            return (404, json!({"error": "Model not found"}).to_string());
        }
        let Some(rows) = serde_json::from_slice::<Value>(body)
            .ok()
            .as_ref()
            .and_then(rows)
        else {
            return (400, json!({"error": "Invalid input"}).to_string());
        };
        let preds: Vec<i64> = rows.iter().map(|r| model(r).0).collect();
        (200, json!({"predictions": preds}).to_string())
    }))
}

/// Seldon Core v1 predictor: class probabilities per row.
pub fn seldon_v1(model: Model) -> Server {
    serve(Arc::new(move |path, _, body| {
        if path != "/api/v1.0/predictions" {
            return (404, String::new());
        }
        let Some(rows) = serde_json::from_slice::<Value>(body)
            .ok()
            .as_ref()
            .and_then(rows)
        else {
            return (
                400,
                json!({"status": {"code": 400, "info": "Invalid JSON", "status": "FAILURE"}})
                    .to_string(),
            );
        };
        let nd: Vec<Vec<f64>> = rows
            .iter()
            .map(|r| {
                let s = model(r).1;
                vec![1.0 - s, s]
            })
            .collect();
        (200, json!({"data": {"names": ["t:0", "t:1"], "ndarray": nd}, "meta": {"requestPath": {"classifier": "seldonio/sklearnserver:1.18.0"}}}).to_string())
    }))
}

/// Azure ML scoring: key auth, deployment header, JSON-encoded `run()` result.
pub fn azureml(key: &str, deployments: BTreeMap<String, Model>) -> Server {
    let want = format!("Bearer {key}");
    azureml_auth(Arc::new(move |a: &str| a == want), deployments)
}

/// Azure ML scoring accepting the `Authorization` values `accept` says (e.g. Entra tokens).
pub fn azureml_auth(
    accept: Arc<dyn Fn(&str) -> bool + Send + Sync>,
    deployments: BTreeMap<String, Model>,
) -> Server {
    serve(Arc::new(move |path, headers, body| {
        if path != "/score" {
            return (404, String::new());
        }
        if !headers.get("authorization").is_some_and(|a| accept(a)) {
            return (401, json!({"message": "Unauthorized"}).to_string());
        }
        let Some(model) = headers
            .get("azureml-model-deployment")
            .and_then(|d| deployments.get(d))
        else {
            return (404, json!({"message": "No deployment found"}).to_string());
        };
        let Some(rows) = serde_json::from_slice::<Value>(body)
            .ok()
            .as_ref()
            .and_then(rows)
        else {
            return (400, json!({"message": "bad input"}).to_string());
        };
        let labels: Vec<i64> = rows.iter().map(|r| model(r).0).collect();
        // run() returned a list; the scoring server JSON-encodes it.
        (200, Value::String(json!(labels).to_string()).to_string())
    }))
}

/// An answer that is not the protocol's (e.g. an HTML error page with 200).
pub fn garbage() -> Server {
    serve(Arc::new(|_, _, _| (200, "<html>gateway</html>".into())))
}

/// Feature rows for tests: `n` rows of 4 features, deterministic.
pub fn feature_rows(n: usize) -> Vec<Vec<f64>> {
    (0..n)
        .map(|i| {
            let t = i as f64;
            vec![
                4.0 + (t * 0.37) % 4.0,
                2.0 + (t * 0.53) % 2.5,
                1.0 + (t * 0.71) % 6.0,
                0.1 + (t * 0.29) % 2.4,
            ]
        })
        .collect()
}

/// A JSONL requests file body for `proto`.
pub fn jsonl(proto: &str, rows: &[Vec<f64>]) -> String {
    rows.iter()
        .map(|r| {
            let v = match proto {
                "v2" => json!({"inputs": [{"name": "predict", "shape": [1, 4], "datatype": "FP64", "data": r}]}),
                "v1" => json!({"instances": [r]}),
                "seldon" => json!({"data": {"ndarray": [r]}}),
                _ => json!({"data": [r]}),
            };
            v.to_string() + "\n"
        })
        .collect()
}
