//! Azure: Entra ID credentials over a ureq transport, ARM requests, long-running operations.
