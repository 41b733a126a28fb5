//! The `ci` task, what CI runs on a clean clone (`.ci/run`): the formatting check, clippy
//! with warnings as errors, the docs with warnings as errors, then the `test` task.
//! It stops at the first step that fails.

use anyhow::{Result, bail};

use crate::test_suite::test;
use crate::util::{cargo, run};

/// Runs every check in order; takes no arguments.
pub(crate) fn ci(args: &[String]) -> Result<()> {
    if !args.is_empty() {
        bail!("`ci` takes no arguments");
    }
    let mut fmt = cargo();
    fmt.args(["fmt", "--all", "--check"]);
    run(fmt)?;
    let mut clippy = cargo();
    clippy.args(["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]);
    run(clippy)?;
    let mut doc = cargo();
    doc.args(["doc", "--workspace", "--no-deps"]).env("RUSTDOCFLAGS", "-D warnings");
    run(doc)?;
    test(&[])
}
