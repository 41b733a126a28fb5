//! The `fuzz` task: runs each cargo-fuzz target of `tests/fuzz` for a while (installing
//! `cargo-fuzz` first if it is missing) and copies whatever it finds into
//! `tests/hostile/fuzz/<target>/`, where the suite replays every finding as a regression
//! test, fixed or not.

use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::util::{root, run};

/// What libFuzzer must leave to wasmer for the targets that run wasm: wasmer handles wasm
/// traps with its own signal handlers. The memory bound is above the harnesses' own.
macro_rules! wasm_flags {
    ($($extra:literal),*) => {
        &["-handle_segv=0", "-handle_bus=0", "-handle_ill=0", "-handle_fpe=0", "-rss_limit_mb=8192", $($extra),*]
    };
}

/// The fuzz targets: name, sanitizer, and the extra libFuzzer flags each needs.
const FUZZ_TARGETS: &[(&str, &str, &[&str])] = &[
    ("manifest", "address", &[]),
    ("archive", "address", &[]),
    ("validate", "address", &[]),
    // wasmer runs wasm on its own stacks and unwinds traps across them, which
    // AddressSanitizer reports as a stack-buffer-overflow on the first trap (a known false
    // positive, google/sanitizers#189), so the targets that run wasm have no sanitizer.
    ("call", "none", wasm_flags!()),
    // Warm against fresh instances, call by call; and the hostile chains of
    // `host_survives`, whose own memory bound (4 GiB) is below libFuzzer's. Both read
    // their inputs as a structure, which needs hundreds of bytes to say much: start at
    // full length rather than grow from 4 bytes.
    ("warm_reset", "none", wasm_flags!("-len_control=0", "-max_len=4096")),
    ("host_survives", "none", wasm_flags!("-len_control=0", "-max_len=2048")),
];

/// Runs every fuzz target (or only `--target NAME`) for `--seconds N` each (default 60).
pub(crate) fn fuzz(args: &[String]) -> Result<()> {
    let mut seconds = 60u64;
    let mut only: Option<String> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--seconds" => seconds = it.next().context("--seconds needs a value")?.parse().context("--seconds N")?,
            "--target" => only = Some(it.next().context("--target needs a name")?.clone()),
            other => bail!("unknown argument `{other}` (usage: cargo xtask fuzz [--seconds N] [--target NAME])"),
        }
    }
    let has_fuzz = Command::new("cargo").args(["fuzz", "--version"]).output().is_ok_and(|o| o.status.success());
    if !has_fuzz {
        let mut install = Command::new("cargo");
        install.args(["install", "cargo-fuzz", "--locked"]);
        run(install)?;
    }
    let root = root();
    for (target, sanitizer, flags) in FUZZ_TARGETS {
        if only.as_deref().is_some_and(|o| o != *target) {
            continue;
        }
        let mut cmd = Command::new("cargo");
        cmd.current_dir(&root)
            // libFuzzer instrumentation needs unstable flags; the toolchain here is stable.
            .env("RUSTC_BOOTSTRAP", "1")
            .args(["fuzz", "run", "--fuzz-dir", "tests/fuzz", "--sanitizer", sanitizer]);
        cmd.arg(target).arg("--").arg(format!("-max_total_time={seconds}")).arg("-timeout=20").args(*flags);
        let result = run(cmd);
        // Keep every finding as a regression test, fixed or not.
        let artifacts = root.join("tests/fuzz/artifacts").join(target);
        if let Ok(entries) = std::fs::read_dir(&artifacts) {
            let keep = root.join("tests/hostile/fuzz").join(target);
            for entry in entries {
                let path = entry?.path();
                if path.is_file() {
                    std::fs::create_dir_all(&keep)?;
                    std::fs::copy(&path, keep.join(path.file_name().expect("a file name")))?;
                }
            }
        }
        result?;
    }
    Ok(())
}
