//! Integration tests against the Kubernetes API test server (tests/support/kube) and its platform
//! controllers: the client, kubectl, TLS, Argo drive mode, late writes, exit codes, signals, the
//! fault matrix and untrusted servers. One binary: one link, one process for them all.

#[path = "../support"]
mod support {
    pub mod fault_proxy;
    pub mod kube;
    pub mod matrix;
    pub mod prom;
    pub mod spawned;
}

mod cancel;
mod fault_matrix;
mod kube_argo_drive;
mod kube_client;
mod kube_controllers;
mod kube_kubectl;
mod kube_server;
mod kube_tls;
mod late_writes;
mod run_exits;
mod untrusted;
