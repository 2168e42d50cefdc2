//! The config contract v1: serde types (`types`), value grammars (`duration`, `condition`), the
//! loader that turns YAML into typed data with positioned errors (`load`, `position`, `error`),
//! cross-field rules (`validate`) and the JSON schema (`schema`). Plain data: no I/O beyond reading
//! the file.

pub mod compare;
pub mod condition;
pub mod duration;
pub mod error;
pub mod load;
pub mod position;
pub mod schema;
pub mod types;
pub mod validate;

pub use condition::{Condition, Op};
pub use duration::Duration;
pub use error::{ConfigError, Diagnostic};
pub use load::{load_file, load_str};
pub use types::*;
