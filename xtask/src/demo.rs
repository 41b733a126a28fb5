//! The `demo` task: builds the example modules (`examples/`) for wasm32 and the `wasmod`
//! CLI, then walks through the operator's path on a fresh store under `target/demo/`:
//! pack, install, list, inspect, resolve, activate and call, and finally shows a malicious
//! package refused with the store left unchanged; then the example HTTP host serves the
//! module `acme/hello` for a few requests ([`crate::demo_http`]). Every command is echoed
//! with its output, so the run reads as a transcript.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::util::{WASM_TARGET, cargo, ensure_wasm_target, root, run};

/// Runs the `wasmod` CLI, echoing the command; fails unless it exits as expected.
pub(crate) fn wasmod(cli: &Path, args: &[&str], expect_success: bool) -> Result<String> {
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

/// Runs the demo; takes no arguments.
pub(crate) fn demo(args: &[String]) -> Result<()> {
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
    cli_build.args(["build", "-p", "wasmod-cli", "-p", "wasmod-http-host"]);
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
    crate::demo_http::http_host(&cli, &out)?;
    println!(
        "\n== Done: three modules installed and called, the malicious one refused, the store unchanged, \
         and acme/hello served over HTTP."
    );
    Ok(())
}
