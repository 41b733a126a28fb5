//! The `bench` task: runs every criterion benchmark of the workspace and the peer
//! benchmark (`benches/peer`), then writes the results and the performance targets to
//! `BENCHMARKS.md` (with `--quick`, a short smoke run written to
//! `target/BENCHMARKS-quick.md` instead).
//!
//! This file runs the benchmarks and writes the report; [`results`] reads back what the
//! runs left under `target/criterion/`, and [`report`] turns it into markdown. The notes
//! kept by hand at the end of `BENCHMARKS.md` (from `## Notes` on) survive every rewrite.

mod report;
mod results;

use std::path::Path;

use anyhow::{Result, bail};

use crate::fixtures::build_fixtures;
use crate::util::{cargo, root, run};

/// The benchmarks, as (package, bench target).
const BENCHES: &[(&str, &str)] = &[
    ("wasmod-runtime", "call"),
    ("wasmod-runtime", "scaling"),
    ("wasmod-runtime", "artifact"),
    ("wasmod-validator", "validate"),
    ("wasmod-resolver", "resolve"),
    ("wasmod", "host"),
];

/// Runs the task: `cargo xtask bench [--quick]`.
pub(crate) fn bench(args: &[String]) -> Result<()> {
    let quick = match args {
        [] => false,
        [q] if q == "--quick" => true,
        _ => bail!("usage: cargo xtask bench [--quick]"),
    };
    build_fixtures(&[])?;
    let root = root();
    let results_dir = root.join("target/criterion");
    if results_dir.exists() {
        std::fs::remove_dir_all(&results_dir)?;
    }
    let started = std::time::Instant::now();
    let scaling_path = results_dir.join("scaling.json");
    run_criterion(quick, &scaling_path)?;
    let peer_path = results_dir.join("peer.json");
    run_peer(&root, quick, &peer_path)?;
    let peer = results::read_json(&peer_path)?;
    let results = results::read_results(&results_dir)?;
    let figures = results::Figures::collect(&results, &peer, &scaling_path)?;
    let md = report::markdown(quick, started, &results, &figures);
    write(&root, quick, md)
}

/// Runs every benchmark of [`BENCHES`]; the scaling bench writes its report to
/// `scaling_path`.
fn run_criterion(quick: bool, scaling_path: &Path) -> Result<()> {
    for (package, target) in BENCHES {
        let mut cmd = cargo();
        cmd.args(["bench", "-p", package, "--bench", target]);
        // The scaling bench is not criterion: it writes its own report.
        cmd.env("WASMOD_SCALING_OUT", scaling_path);
        if quick {
            cmd.args(["--", "--quick"]);
        }
        run(cmd)?;
    }
    Ok(())
}

/// Runs the peer: the same guest through wasmtime's pooling allocator, in its own
/// workspace (so that CI never builds wasmtime), rows alternating within one process. It
/// writes its report to `peer_path`.
fn run_peer(root: &Path, quick: bool, peer_path: &Path) -> Result<()> {
    let mut peer = cargo();
    peer.args(["run", "--release", "--manifest-path"])
        .arg(root.join("benches/peer/Cargo.toml"))
        .arg("--target-dir")
        .arg(root.join("target/peer"))
        .env("WASMOD_PEER_OUT", peer_path);
    if quick {
        peer.args(["--", "--quick"]);
    }
    run(peer)
}

/// Appends the notes kept by hand in the current `BENCHMARKS.md` to `md`, writes it (to
/// `target/BENCHMARKS-quick.md` after a quick run) and prints it.
fn write(root: &Path, quick: bool, mut md: String) -> Result<()> {
    let notes_marker = "\n## Notes\n";
    let out_path = if quick { root.join("target/BENCHMARKS-quick.md") } else { root.join("BENCHMARKS.md") };
    if let Ok(previous) = std::fs::read_to_string(root.join("BENCHMARKS.md"))
        && let Some(at) = previous.find(notes_marker)
    {
        md.push_str(&previous[at..]);
    }
    std::fs::write(&out_path, &md)?;
    println!("{md}");
    eprintln!("xtask: wrote {}", out_path.display());
    Ok(())
}
