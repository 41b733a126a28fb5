//! Project automation, run as `cargo xtask <task>` (the alias lives in
//! `.cargo/config.toml`). With no task it lists the tasks.
//!
//! Every task installs what it needs itself (e.g. the `wasm32-unknown-unknown` target),
//! so a fresh clone needs nothing but a Rust toolchain managed by rustup.
//!
//! This file holds only the table of tasks and the dispatch; each task lives in a module
//! of its own, and `util` has what they share (the workspace root, running commands).
//! Under `cargo test`, `tidy` checks the repository's mechanical conventions.

#![allow(clippy::print_stdout, clippy::print_stderr)]

mod bench;
mod ci;
mod demo;
mod demo_http;
mod fixtures;
mod fuzz;
mod test_suite;
#[cfg(test)]
mod tidy;
mod util;

use std::process::ExitCode;

use anyhow::Result;

/// A task: name, one-line description, entry point.
struct Task {
    name: &'static str,
    about: &'static str,
    run: fn(&[String]) -> Result<()>,
}

const TASKS: &[Task] = &[
    Task {
        name: "build-fixtures",
        about: "build the guest fixtures (tests/fixtures) for wasm32 and pack them into target/fixtures/packages",
        run: fixtures::build_fixtures,
    },
    Task {
        name: "test",
        about: "build the guest fixtures, then run every test of the workspace",
        run: test_suite::test,
    },
    Task {
        name: "bench",
        about: "run the criterion benchmarks and write BENCHMARKS.md (`--quick`: a short smoke run, written to target/)",
        run: bench::bench,
    },
    Task {
        name: "fuzz",
        about: "run each fuzz target (tests/fuzz) for `--seconds N` (default 60); findings go to tests/hostile/fuzz",
        run: fuzz::fuzz,
    },
    Task {
        name: "demo",
        about: "build the example modules, install them in a fresh store, activate and call them, reject a malicious one",
        run: demo::demo,
    },
    Task {
        name: "ci",
        about: "what CI runs: fmt check, clippy -D warnings, docs with warnings as errors, then `test`",
        run: ci::ci,
    },
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(name) = args.first() else {
        print_tasks();
        return ExitCode::SUCCESS;
    };
    let Some(task) = TASKS.iter().find(|t| t.name == name) else {
        eprintln!("xtask: unknown task `{name}`\n");
        print_tasks();
        return ExitCode::from(2);
    };
    match (task.run)(&args[1..]) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask {name}: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn print_tasks() {
    println!("usage: cargo xtask <task> [args]\n\ntasks:");
    for t in TASKS {
        println!("  {:<16} {}", t.name, t.about);
    }
}
