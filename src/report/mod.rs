//! Reports: step summary, outputs, JSON decision record, JUnit; writers over one run record.

pub mod record;
