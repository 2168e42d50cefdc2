//! Kubernetes API client: kubeconfig, auth, GET and the three patch types.
