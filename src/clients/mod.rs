//! The network edges: HTTP (timeouts, TLS, retries), Kubernetes (kubeconfig, auth, patch types),
//! Azure (credentials, ARM, long-running operations). Nothing above this layer opens a socket.

pub mod azure;
pub mod http;
pub mod inference;
pub mod kube;
