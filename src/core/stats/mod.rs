//! Statistics for guardrails: sequential tests, PSI, special functions.
