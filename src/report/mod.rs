//! Reports: step summary, outputs, JSON decision record, JUnit, CI workflow commands; writers over
//! one run record ([`record::RunRecord`]).

pub mod compare;
pub mod console;
pub mod github;
pub mod json;
pub mod junit;
pub mod logging;
pub mod out;
pub mod outputs;
pub mod record;
pub mod redact;
pub mod summary;
