//! End-to-end tests: the `mlcanary` binary against the Kubernetes API test server and a REAL
//! Prometheus (tests/support/e2e), real MLServer model servers (tests/support/mlserver), and the
//! Prometheus and HTTP JSON providers against a real Prometheus.

#[path = "../support"]
mod support {
    pub mod e2e;
    pub mod inference;
    pub mod kube;
    pub mod mlserver;
    pub mod prom;
}

mod compare;
mod compare_mlserver;
mod e2e_kube;
mod e2e_kube_manual;
mod e2e_kube_resume;
mod e2e_mlserver;
mod e2e_resume;
mod prometheus_exporter;
mod prometheus_http_json;
mod prometheus_provider;
