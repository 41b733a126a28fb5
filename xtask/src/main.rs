//! Project automation, run as `cargo xtask <task>` (the alias lives in
//! `.cargo/config.toml`). With no task it lists the tasks.
//!
//! Every task installs what it needs itself (e.g. the `wasm32-unknown-unknown` target),
//! so a fresh clone needs nothing but a Rust toolchain managed by rustup.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};

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
        run: build_fixtures,
    },
    Task { name: "test", about: "build the guest fixtures, then run every test of the workspace", run: test },
    Task {
        name: "demo",
        about: "build the example modules, install them in a fresh store, activate and call them, reject a malicious one",
        run: demo,
    },
    Task {
        name: "ci",
        about: "what CI runs: fmt check, clippy -D warnings, docs with warnings as errors, then `test`",
        run: ci,
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

/// The workspace root (the parent of this crate's directory).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_path_buf()
}

fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(root());
    cmd
}

/// Runs a command, failing with the command line if it fails.
fn run(mut cmd: Command) -> Result<()> {
    let shown = format!("{cmd:?}");
    eprintln!("xtask: running {shown}");
    let status = cmd.status().with_context(|| format!("could not start {shown}"))?;
    if !status.success() {
        bail!("{shown} failed with {status}");
    }
    Ok(())
}

const WASM_TARGET: &str = "wasm32-unknown-unknown";

/// Makes sure the wasm target is installed (guest fixtures and examples are built for it).
fn ensure_wasm_target() -> Result<()> {
    let out = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .context("rustup is needed to install the wasm32-unknown-unknown target")?;
    if String::from_utf8_lossy(&out.stdout).lines().any(|l| l.trim() == WASM_TARGET) {
        return Ok(());
    }
    let mut cmd = Command::new("rustup");
    cmd.args(["target", "add", WASM_TARGET]);
    run(cmd)
}

/// Builds a guest workspace (release, wasm32) into `target/<out>/` and packs every member
/// that has a `module.ron` into `target/<out>/packages/<member>.zip`. Returns the paths of
/// the packages.
fn build_guests(workspace: &str, out: &str) -> Result<Vec<PathBuf>> {
    ensure_wasm_target()?;
    let root = root();
    let target_dir = root.join("target").join(out);
    let mut cmd = cargo();
    cmd.args(["build", "--release", "--target", WASM_TARGET, "--manifest-path"])
        .arg(root.join(workspace).join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir);
    run(cmd)?;

    let builds = target_dir.join(WASM_TARGET).join("release");
    let packages = target_dir.join("packages");
    std::fs::create_dir_all(&packages)?;
    let mut written = Vec::new();
    let mut members: Vec<PathBuf> =
        std::fs::read_dir(root.join(workspace))?.map(|e| e.map(|e| e.path())).collect::<std::io::Result<_>>()?;
    members.sort();
    for member in members.into_iter().filter(|m| m.join("Cargo.toml").is_file()) {
        let cargo_toml = std::fs::read_to_string(member.join("Cargo.toml"))?;
        let crate_name = cargo_toml
            .lines()
            .find_map(|l| l.trim().strip_prefix("name = ").map(|n| n.trim_matches('"').to_string()))
            .with_context(|| format!("no package name in {}", member.display()))?;
        let build_path = builds.join(format!("{}.wasm", crate_name.replace('-', "_")));
        let dir_name = member.file_name().expect("a member directory has a name").to_string_lossy().into_owned();
        // `module.ron` packs as `<member>.zip`; `<x>.module.ron` as `<member>-<x>.zip`
        // (one build can hold several modules).
        let mut manifests: Vec<(PathBuf, String)> = Vec::new();
        for entry in std::fs::read_dir(&member)? {
            let path = entry?.path();
            let file = path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
            if file == "module.ron" {
                manifests.push((path, dir_name.clone()));
            } else if let Some(stem) = file.strip_suffix(".module.ron") {
                manifests.push((path, format!("{dir_name}-{stem}")));
            }
        }
        manifests.sort();
        if manifests.is_empty() {
            continue;
        }
        let build = std::fs::read(&build_path).with_context(|| format!("reading {}", build_path.display()))?;
        for (manifest_path, package_name) in manifests {
            let manifest = std::fs::read_to_string(&manifest_path)?;
            let archive = wasmod_pack::pack_build(&manifest, &build)
                .with_context(|| format!("packing {} with {}", build_path.display(), manifest_path.display()))?;
            let out_path = packages.join(format!("{package_name}.zip"));
            std::fs::write(&out_path, archive)?;
            written.push(out_path);
        }
    }
    Ok(written)
}

fn build_fixtures(args: &[String]) -> Result<()> {
    if !args.is_empty() {
        bail!("`build-fixtures` takes no arguments");
    }
    for p in build_guests("tests/fixtures", "fixtures")? {
        eprintln!("xtask: packed {}", p.display());
    }
    Ok(())
}

fn test(args: &[String]) -> Result<()> {
    build_fixtures(&[])?;
    let mut cmd = cargo();
    cmd.args(["test", "--workspace"]).args(args);
    run(cmd)
}

fn ci(args: &[String]) -> Result<()> {
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

/// Runs the `wasmod` CLI, echoing the command; fails unless it exits as expected.
fn wasmod(cli: &Path, args: &[&str], expect_success: bool) -> Result<String> {
    let shown: Vec<String> = args
        .iter()
        .map(|a| if a.contains(' ') || a.contains('{') { format!("'{a}'") } else { (*a).to_string() })
        .collect();
    println!("\n$ wasmod {}", shown.join(" "));
    let out = Command::new(cli).args(args).current_dir(root()).output().context("running wasmod")?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    print!("{stdout}");
    if !stdout.is_empty() && !stdout.ends_with('\n') {
        println!();
    }
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    match (out.status.success(), expect_success) {
        (true, true) | (false, false) => Ok(stdout),
        (true, false) => bail!("`wasmod {}` should have failed", shown.join(" ")),
        (false, true) => bail!("`wasmod {}` failed with {}", shown.join(" "), out.status),
    }
}

fn demo(args: &[String]) -> Result<()> {
    if !args.is_empty() {
        bail!("`demo` takes no arguments");
    }
    let root = root();
    println!("== Building the example modules (examples/) for wasm32 and the wasmod CLI");
    ensure_wasm_target()?;
    let mut build = cargo();
    build
        .args(["build", "--release", "--target", WASM_TARGET, "--manifest-path"])
        .arg(root.join("examples/Cargo.toml"))
        .arg("--target-dir")
        .arg(root.join("target/examples"));
    run(build)?;
    let mut cli_build = cargo();
    cli_build.args(["build", "-p", "wasmod-cli"]);
    run(cli_build)?;
    let cli = root.join("target/debug/wasmod");

    let out = root.join("target/demo");
    if out.exists() {
        std::fs::remove_dir_all(&out).with_context(|| format!("clearing {}", out.display()))?;
    }
    std::fs::create_dir_all(&out)?;
    let rel = |p: PathBuf| p.strip_prefix(&root).map(Path::to_path_buf).unwrap_or(p).to_string_lossy().into_owned();
    let store = rel(out.join("store"));
    let policy = "examples/policy.ron";
    let config = "examples/app-config.ron";

    println!("\n== Packing: one build per crate, split into one wasm file per function");
    let mut packages = Vec::new();
    for (dir, module) in
        [("audit", "acme-audit-1.0.0"), ("pricing", "acme-pricing-1.2.0"), ("orders", "acme-orders-2.0.0")]
    {
        let package = rel(out.join(format!("{module}.zip")));
        let build = format!("target/examples/{WASM_TARGET}/release/example_{dir}.wasm");
        let manifest = format!("examples/{dir}/module.ron");
        wasmod(&cli, &["pack", "--manifest", &manifest, "--wasm", &build, "-o", &package], true)?;
        packages.push(package);
    }

    println!("\n== Installing into a fresh store ({store}) under the example host policy");
    let base = ["--store", store.as_str(), "--policy", policy];
    let with = |rest: &[&str]| -> Vec<String> { base.iter().chain(rest).map(|s| s.to_string()).collect() };
    let call = |rest: &[&str], ok: bool| -> Result<String> {
        let args = with(rest);
        wasmod(&cli, &args.iter().map(String::as_str).collect::<Vec<_>>(), ok)
    };
    let mut install = vec!["install"];
    install.extend(packages.iter().map(String::as_str));
    call(&install, true)?;
    let listed = call(&["list"], true)?;
    call(&["inspect", "acme/orders@2.0.0"], true)?;
    call(&["resolve", "acme/orders"], true)?;

    println!("\n== Activating acme/orders (dependencies first, init hooks run) and calling it");
    call(&["call", "acme/orders", "place", "--data", r#"{"sku":"tea","quantity":2}"#, "--config", config], true)?;
    call(&["call", "acme/orders", "place", "--data", r#"{"sku":"cake","quantity":1}"#, "--config", config], true)?;
    call(&["call", "acme/orders", "history", "--config", config], true)?;
    call(&["call", "acme/audit", "recent", "--config", config], true)?;
    println!("\n(a failing call reports the module's own error)");
    call(&["call", "acme/orders", "place", "--data", r#"{"sku":"caviar","quantity":1}"#, "--config", config], false)?;

    println!("\n== A malicious package: claims only `log`, reaches for kv, modules and an `env` import");
    let evil = rel(out.join("evil-exfiltrate-0.1.0.zip"));
    wasmod(
        &cli,
        &["pack", "--manifest", "examples/malicious/module.ron", "--dir", "examples/malicious", "-o", &evil],
        true,
    )?;
    call(&["validate", &evil], false)?;
    call(&["install", &evil], false)?;
    let after = call(&["list"], true)?;
    if after != listed {
        bail!("the rejected install changed the store:\nbefore:\n{listed}\nafter:\n{after}");
    }
    println!("\n== Done: three modules installed and called, the malicious one refused, the store unchanged.");
    Ok(())
}
