//! Integration tests against the local Azure fakes (tests/support/azure): ARM with long-running
//! operations, Entra ID, GitHub OIDC, Azure Monitor, Log Analytics. One binary, as the fakes share
//! process-wide state on purpose: the test CA in `SSL_CERT_FILE`, the log capture, and one test's
//! stand-in `az` on `PATH` (only the CLI credential runs it, and no other test uses that mode).

#[path = "../support"]
mod support {
    pub mod azure;
    pub mod inference;
    pub mod matrix;
}

mod azure_auth;
mod azure_cancel;
mod azure_lro;
mod azure_providers;
mod azure_rollout;
mod compare_azure;
mod e2e_azure;
mod e2e_azure_resume;
mod fault_matrix_azure;
