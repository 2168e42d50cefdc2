//! Manifest and query templates (minijinja), embedded in the binary and overridable by name.
