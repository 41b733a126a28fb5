//! What every command that touches a store starts from: the policy, the opened store,
//! and the operator's spelling of modules (`name@version`, `name@requirement`).

use std::path::Path;

use anyhow::{Context, Result, anyhow};
use wasmod::{Host, HostPolicy, ModuleName, Request, Version};

use crate::args::Cli;

/// The policy `--policy` names, or the development policy.
pub(crate) fn policy(cli: &Cli) -> Result<HostPolicy> {
    match &cli.policy {
        None => Ok(HostPolicy::development()),
        Some(path) => {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("reading the policy {}", path.display()))?;
            wasmod::load_policy(&text).with_context(|| format!("in the policy {}", path.display()))
        }
    }
}

/// Opens the store `--store` names, under the policy and artifact key of the options.
pub(crate) fn open(cli: &Cli) -> Result<Host> {
    let mut builder = Host::builder().store(&cli.store).policy(policy(cli)?);
    if let Some(key) = &cli.artifact_key {
        builder = builder.artifact_key_file(key);
    }
    builder.open().with_context(|| format!("opening the store {}", cli.store.display()))
}

/// `name@version`.
pub(crate) fn parse_id(text: &str) -> Result<(ModuleName, Version)> {
    let (name, version) = text.split_once('@').ok_or_else(|| anyhow!("expected `name@version`, got `{text}`"))?;
    let name = ModuleName::new(name)?;
    let version = Version::parse(version).with_context(|| format!("version `{version}`"))?;
    Ok((name, version))
}

/// `name` or `name@requirement`.
pub(crate) fn parse_request(text: &str) -> Result<Request> {
    Ok(text.parse::<Request>()?)
}

/// A package archive's bytes.
pub(crate) fn read_archive(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}
