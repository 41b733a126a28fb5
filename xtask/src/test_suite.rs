//! The `test` task: builds the guest fixtures, then runs every test of the workspace twice,
//! once with warm instances (the default) and once with every call in a fresh instance
//! (`WASMOD_WARM_INSTANCES=off`). Its arguments are passed on to `cargo test`.
//!
//! The file is not called `test.rs` so that the module's name cannot be confused with the
//! `#[test]` attribute or the `test` crate.

use anyhow::Result;

use crate::fixtures::build_fixtures;
use crate::util::{cargo, run};

/// Runs the whole suite twice: with warm instances (the default), then with every call
/// in a fresh instance, so that both paths pass every test.
pub(crate) fn test(args: &[String]) -> Result<()> {
    build_fixtures(&[])?;
    for warm in ["on", "off"] {
        eprintln!("xtask: the test suite with warm instances {warm}");
        let mut cmd = cargo();
        cmd.args(["test", "--workspace"]).args(args).env("WASMOD_WARM_INSTANCES", warm);
        run(cmd)?;
    }
    Ok(())
}
