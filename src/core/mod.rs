//! The decision core. PURE: no network, no clock, no environment. It takes observations and
//! times as arguments and returns verdicts and actions, so `simulate`, `replay`, the tests and the
//! live loop all drive exactly this code.

pub mod api_request;
pub mod compare;
pub mod fault;
pub mod guardrail;
pub mod judge;
pub mod judge_stats;
pub mod judgement;
pub mod machine;
pub mod observation;
pub mod plan;
pub mod progress;
pub mod progress_events;
pub mod seldon_names;
pub mod sim;
pub mod stats;
pub mod traffic;
pub mod units;
pub mod verdict;
