//! Kubernetes API client: kubeconfig, auth, GET and the three patch types.
//!
//! Layers as in kube-rs, without an async runtime: [`kubeconfig`] (files, merging, in-cluster)
//! resolves to a [`ClusterConfig`]; [`auth`] and [`exec`] turn its user into per-request
//! credentials; [`Client`] sends requests with retries and turns `Status` answers into
//! [`KubeError`]s a CI log reader understands. Platforms only see paths and JSON.

pub mod auth;
mod client;
pub mod error;
pub mod exec;
mod identity;
pub mod kubeconfig;
mod path;
mod request;
mod server_name;

pub use client::{
    resolve_config, Client, ClientOptions, PatchParams, RetryPolicy, StopHook, STOPPED_BUDGET,
    STOPPED_WAIT,
};
pub use error::KubeError;
pub use identity::check_identity;
pub use kubeconfig::{AuthSpec, ClusterConfig, Kubeconfig};
pub use path::{parse_path, resource_path, PathInfo};
pub use request::{patch_path, PatchKind};
