//! A tiny Prometheus exporter (tiny_http on 127.0.0.1) serving `/metrics` in the text exposition
//! format (0.0.4) from counters, gauges and histograms the test drives.
//!
//! It can also play a Knative/KServe revision: `revision_app_request_count{revision_name,
//! response_code, response_code_class}` and `revision_app_request_latencies_{bucket,sum,count}`
//! (milliseconds, as the Knative queue-proxy exports them), with a controllable error rate per
//! revision, so rollout tests can run a good and a bad canary against a real Prometheus.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// Knative queue-proxy latency bucket bounds (ms).
pub const KNATIVE_LATENCY_BUCKETS_MS: &[f64] = &[
    5.0, 10.0, 20.0, 40.0, 60.0, 80.0, 100.0, 150.0, 200.0, 250.0, 300.0, 350.0, 400.0, 450.0,
    500.0, 600.0, 700.0, 800.0, 900.0, 1000.0, 2000.0, 5000.0, 10000.0,
];

#[derive(Default)]
struct Family {
    kind: &'static str,
    /// Sample line prefix (`name{labels}`) -> value, in insertion order (keeps buckets grouped).
    samples: Vec<(String, f64)>,
}

#[derive(Default)]
struct Registry {
    families: BTreeMap<String, Family>,
    /// Requests already split into errors per revision (keeps the error rate exact over time).
    served: BTreeMap<String, (u64, u64)>,
}

impl Registry {
    fn family(&mut self, name: &str, kind: &'static str) -> &mut Family {
        let family = self.families.entry(name.to_string()).or_default();
        family.kind = kind;
        family
    }

    fn add(&mut self, family: &str, kind: &'static str, sample: String, by: f64, set: bool) {
        let fam = self.family(family, kind);
        match fam.samples.iter_mut().find(|(s, _)| *s == sample) {
            Some((_, v)) if set => *v = by,
            Some((_, v)) => *v += by,
            None => fam.samples.push((sample, by)),
        }
    }

    fn observe(&mut self, name: &str, labels: &[(&str, &str)], bounds: &[f64], value: f64, n: u64) {
        let n = n as f64;
        for &bound in bounds.iter().chain(std::iter::once(&f64::INFINITY)) {
            let le = if bound.is_infinite() {
                "+Inf".to_string()
            } else {
                fmt_f64(bound)
            };
            let mut with_le: Vec<(&str, &str)> = labels.to_vec();
            with_le.push(("le", &le));
            let inc = if value <= bound { n } else { 0.0 };
            let sample = sample_name(&format!("{name}_bucket"), &with_le);
            self.add(name, "histogram", sample, inc, false);
        }
        self.add(
            name,
            "histogram",
            sample_name(&format!("{name}_sum"), labels),
            value * n,
            false,
        );
        self.add(
            name,
            "histogram",
            sample_name(&format!("{name}_count"), labels),
            n,
            false,
        );
    }

    fn render(&self) -> String {
        let mut out = String::new();
        for (name, family) in &self.families {
            out.push_str(&format!(
                "# HELP {name} test metric\n# TYPE {name} {}\n",
                family.kind
            ));
            for (sample, value) in &family.samples {
                out.push_str(&format!("{sample} {}\n", fmt_f64(*value)));
            }
        }
        out
    }
}

/// `name{a="1",b="2"}` with label values escaped as the text format wants.
pub fn sample_name(name: &str, labels: &[(&str, &str)]) -> String {
    if labels.is_empty() {
        return name.to_string();
    }
    let inner: Vec<String> = labels
        .iter()
        .map(|(k, v)| {
            let v = v
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            format!("{k}=\"{v}\"")
        })
        .collect();
    format!("{name}{{{}}}", inner.join(","))
}

fn fmt_f64(v: f64) -> String {
    if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else if v.is_nan() {
        "NaN".into()
    } else {
        format!("{v}")
    }
}

/// The exporter; stops serving when dropped.
pub struct Exporter {
    addr: SocketAddr,
    registry: Arc<Mutex<Registry>>,
    scrapes: Arc<AtomicUsize>,
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
}

impl Exporter {
    pub fn start() -> Exporter {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("exporter bind"));
        let addr = server.server_addr().to_ip().expect("ip listener");
        let registry = Arc::new(Mutex::new(Registry::default()));
        let scrapes = Arc::new(AtomicUsize::new(0));
        let thread = {
            let (server, registry, scrapes) = (server.clone(), registry.clone(), scrapes.clone());
            thread::spawn(move || {
                for request in server.incoming_requests() {
                    let response = if request.url().starts_with("/metrics") {
                        scrapes.fetch_add(1, Ordering::SeqCst);
                        let body = registry.lock().unwrap().render();
                        tiny_http::Response::from_string(body).with_header(
                            "Content-Type: text/plain; version=0.0.4; charset=utf-8"
                                .parse::<tiny_http::Header>()
                                .unwrap(),
                        )
                    } else {
                        tiny_http::Response::from_string("not found").with_status_code(404)
                    };
                    let _ = request.respond(response);
                }
            })
        };
        Exporter {
            addr,
            registry,
            scrapes,
            server,
            thread: Some(thread),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many times `/metrics` was fetched.
    pub fn scrapes(&self) -> usize {
        self.scrapes.load(Ordering::SeqCst)
    }

    pub fn counter_add(&self, name: &str, labels: &[(&str, &str)], by: f64) {
        self.registry
            .lock()
            .unwrap()
            .add(name, "counter", sample_name(name, labels), by, false);
    }

    pub fn gauge_set(&self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.registry
            .lock()
            .unwrap()
            .add(name, "gauge", sample_name(name, labels), value, true);
    }

    /// Records `n` observations of `value` in histogram `name` (cumulative buckets `bounds` + `+Inf`).
    pub fn histogram_observe(
        &self,
        name: &str,
        labels: &[(&str, &str)],
        bounds: &[f64],
        value: f64,
        n: u64,
    ) {
        self.registry
            .lock()
            .unwrap()
            .observe(name, labels, bounds, value, n);
    }

    /// Serves `requests` Knative requests for `revision` (namespace `default`), of which
    /// `error_rate` (0..=1) answered 500 and the rest 200, all taking `latency_ms`. Errors are spread
    /// exactly: after N requests in total, round(N * error_rate) of them failed.
    pub fn serve_revision(&self, revision: &str, requests: u64, error_rate: f64, latency_ms: f64) {
        let mut reg = self.registry.lock().unwrap();
        let (total, errors) = reg.served.get(revision).copied().unwrap_or((0, 0));
        let new_total = total + requests;
        let new_errors = ((new_total as f64) * error_rate).round() as u64;
        let new_errors = new_errors.clamp(errors, errors + requests);
        let failed = new_errors - errors;
        reg.served
            .insert(revision.to_string(), (new_total, new_errors));
        let configuration = revision.rsplit_once('-').map_or(revision, |(c, _)| c);
        for (code, class, n) in [("200", "2xx", requests - failed), ("500", "5xx", failed)] {
            let labels = [
                ("namespace_name", "default"),
                ("configuration_name", configuration),
                ("revision_name", revision),
                ("response_code", code),
                ("response_code_class", class),
            ];
            let name = "revision_app_request_count";
            reg.add(name, "counter", sample_name(name, &labels), n as f64, false);
            reg.observe(
                "revision_app_request_latencies",
                &labels,
                KNATIVE_LATENCY_BUCKETS_MS,
                latency_ms,
                n,
            );
        }
    }

    /// Serves `per_second` requests per second for `revision` in the background (ticks of 100 ms)
    /// until the returned [`Traffic`] is dropped, so `rate()` over a window sees steady traffic.
    pub fn drive_revision(
        self: &Arc<Self>,
        revision: &str,
        per_second: u64,
        error_rate: f64,
        latency_ms: f64,
    ) -> Traffic {
        let stop = Arc::new(AtomicBool::new(false));
        let handle = {
            let (exporter, stop, revision) = (self.clone(), stop.clone(), revision.to_string());
            thread::spawn(move || {
                let per_tick = (per_second / 10).max(1);
                while !stop.load(Ordering::SeqCst) {
                    exporter.serve_revision(&revision, per_tick, error_rate, latency_ms);
                    thread::sleep(Duration::from_millis(100));
                }
            })
        };
        Traffic {
            stop,
            handle: Some(handle),
        }
    }

    /// The current `/metrics` text (for debugging a test).
    pub fn render(&self) -> String {
        self.registry.lock().unwrap().render()
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Background traffic for one revision; stops when dropped.
pub struct Traffic {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Drop for Traffic {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}
