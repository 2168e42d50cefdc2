//! The config contract v1.
