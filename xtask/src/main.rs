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
        name: "bench",
        about: "run the criterion benchmarks and write BENCHMARKS.md (`--quick`: a short smoke run, written to target/)",
        run: bench,
    },
    Task {
        name: "fuzz",
        about: "run each fuzz target (tests/fuzz) for `--seconds N` (default 60); findings go to tests/hostile/fuzz",
        run: fuzz,
    },
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

/// Runs the whole suite twice: with warm instances (the default), then with every call
/// in a fresh instance, so that both paths pass every test.
fn test(args: &[String]) -> Result<()> {
    build_fixtures(&[])?;
    for warm in ["on", "off"] {
        eprintln!("xtask: the test suite with warm instances {warm}");
        let mut cmd = cargo();
        cmd.args(["test", "--workspace"]).args(args).env("WASMOD_WARM_INSTANCES", warm);
        run(cmd)?;
    }
    Ok(())
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

/// The benchmarks, as (package, bench target).
const BENCHES: &[(&str, &str)] = &[
    ("wasmod-runtime", "call"),
    ("wasmod-runtime", "scaling"),
    ("wasmod-runtime", "artifact"),
    ("wasmod-validator", "validate"),
    ("wasmod-resolver", "resolve"),
    ("wasmod", "host"),
];

/// One criterion result.
struct Measured {
    median_ns: f64,
    low_ns: f64,
    high_ns: f64,
    mad_ns: f64,
    bytes: Option<f64>,
}

fn read_results(dir: &Path) -> Result<std::collections::BTreeMap<String, Measured>> {
    let mut out = std::collections::BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d)? {
            let path = entry?.path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n == "new") && path.join("estimates.json").is_file() {
                    let estimates: serde_json::Value =
                        serde_json::from_slice(&std::fs::read(path.join("estimates.json"))?)?;
                    let benchmark: serde_json::Value =
                        serde_json::from_slice(&std::fs::read(path.join("benchmark.json"))?)?;
                    let id = benchmark["full_id"].as_str().context("full_id")?.to_string();
                    let m = &estimates["median"];
                    out.insert(
                        id,
                        Measured {
                            median_ns: m["point_estimate"].as_f64().context("median")?,
                            low_ns: m["confidence_interval"]["lower_bound"].as_f64().context("ci")?,
                            high_ns: m["confidence_interval"]["upper_bound"].as_f64().context("ci")?,
                            mad_ns: estimates["median_abs_dev"]["point_estimate"].as_f64().context("mad")?,
                            bytes: benchmark["throughput"]["Bytes"].as_f64(),
                        },
                    );
                } else {
                    todo.push(path);
                }
            }
        }
    }
    Ok(out)
}

fn human(ns: f64) -> String {
    if ns >= 1e9 {
        format!("{:.3} s", ns / 1e9)
    } else if ns >= 1e6 {
        format!("{:.3} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.3} µs", ns / 1e3)
    } else {
        format!("{ns:.1} ns")
    }
}

fn shell(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name").map(|m| m.trim_start_matches([' ', '\t', ':']).to_string()))
        .unwrap_or_else(|| "unknown".into());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kb: u64 = meminfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("MemTotal:").and_then(|v| v.split_whitespace().next()).and_then(|v| v.parse().ok())
        })
        .unwrap_or(0);
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    format!(
        "- CPU: {model}, {cores} cores available\n- memory: {:.1} GiB\n- kernel: {}\n- compiler: {}",
        mem_kb as f64 / (1024.0 * 1024.0),
        shell("uname", &["-sr"]),
        shell("rustc", &["--version"]),
    )
}

fn bench(args: &[String]) -> Result<()> {
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
    for (package, target) in BENCHES {
        let mut cmd = cargo();
        cmd.args(["bench", "-p", package, "--bench", target]);
        // The scaling bench is not criterion: it writes its own report.
        cmd.env("WASMOD_SCALING_OUT", &scaling_path);
        if quick {
            cmd.args(["--", "--quick"]);
        }
        run(cmd)?;
    }
    // The peer: the same guest through wasmtime's pooling allocator, in its own
    // workspace (so that CI never builds wasmtime), rows alternating within one process.
    let peer_path = results_dir.join("peer.json");
    let mut peer = cargo();
    peer.args(["run", "--release", "--manifest-path"])
        .arg(root.join("benches/peer/Cargo.toml"))
        .arg("--target-dir")
        .arg(root.join("target/peer"))
        .env("WASMOD_PEER_OUT", &peer_path);
    if quick {
        peer.args(["--", "--quick"]);
    }
    run(peer)?;
    let peer: serde_json::Value = serde_json::from_slice(
        &std::fs::read(&peer_path).with_context(|| format!("reading {}", peer_path.display()))?,
    )?;
    let peer_of = |field: &str| peer[field].as_f64().with_context(|| format!("{field} in peer.json"));
    let results = read_results(&results_dir)?;
    let get = |id: &str| results.get(id).with_context(|| format!("no result for {id}"));

    let mut md = String::new();
    md.push_str("# Benchmarks\n\n");
    md.push_str(&format!(
        "Measured with `cargo xtask bench{}` on {} at commit `{}` ({:.0} s for the whole run).\n\n",
        if quick { " --quick" } else { "" },
        shell("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        shell("git", &["rev-parse", "--short", "HEAD"]),
        started.elapsed().as_secs_f64(),
    ));
    md.push_str("## Machine\n\n");
    md.push_str(&machine());
    md.push_str("\n\n## Targets\n\n| what | target | measured (median) | met |\n|---|---|---|---|\n");
    let warm = get("call/warm_instance_1KiB")?.median_ns;
    let fresh = get("call/fresh_instance_1KiB")?.median_ns;
    let live = get("call/live_instance_1KiB")?.median_ns;
    let (peer_warm, peer_wasmtime, peer_fresh, peer_live) = (
        peer_of("wasmod_warm_ns")?,
        peer_of("wasmtime_pooling_ns")?,
        peer_of("wasmod_fresh_ns")?,
        peer_of("wasmod_live_ns")?,
    );
    let (vs_wasmtime, vs_floor, fresh_vs_wasmtime) =
        (peer_of("warm_vs_wasmtime")?, peer_of("warm_vs_floor")?, peer_of("fresh_vs_wasmtime")?);
    let wasmtime_threads = peer_of("wasmtime_2_threads_vs_1")?;
    let clock = (get("host_call/clock_x1000")?.median_ns - get("host_call/no_host_call_x1000")?.median_ns) / 1000.0;
    let kv = (get("host_call/kv_get_hit_x1000")?.median_ns - get("host_call/loop_x1000")?.median_ns) / 1000.0;
    let validate = get("validate/all_fixture_packages")?;
    let mbps = validate.bytes.unwrap_or(0.0) / validate.median_ns * 1e9 / 1e6;
    let ratio = get("artifact/compile_everything")?.median_ns / get("artifact/load_cached_everything")?.median_ns;
    let r10k = get("resolve/10000")?.median_ns;
    let r1k = get("resolve/1000")?.median_ns;
    let r100 = get("resolve/100")?.median_ns;
    let scaling: serde_json::Value = serde_json::from_slice(
        &std::fs::read(&scaling_path).with_context(|| format!("reading {}", scaling_path.display()))?,
    )?;
    let ratio_of = |field: &str| scaling[field].as_f64().with_context(|| format!("{field} in scaling.json"));
    let (speedup, processes, efficiency) =
        (ratio_of("threads_ratio")?, ratio_of("processes_ratio")?, ratio_of("efficiency")?);
    let activation = get("activation/50_modules_with_init")?.median_ns;
    let reference = get("machine/reference_loop")?.median_ns;
    let yes = |ok: bool| if ok { "yes" } else { "**no**" };
    let rows = [
        (
            "a call with fresh-instance semantics (warm instance, reset), trivial function, 1 KiB in and out, vs \
             wasmtime 48 pooling allocator + fuel, same process, alternating rounds (`benches/peer`)",
            "≤ 0.3× wasmtime".to_string(),
            format!("{} vs {} → {vs_wasmtime:.2}×", human(peer_warm), human(peer_wasmtime)),
            yes(vs_wasmtime <= 0.3),
        ),
        (
            "the same call vs wasmod's floor (an instance kept alive, never reset), same rounds",
            "≤ 6×".into(),
            format!("{} vs {} → {vs_floor:.1}×", human(peer_warm), human(peer_live)),
            yes(vs_floor <= 6.0),
        ),
        (
            "the fresh path (a new instance per call, as for files that are not resettable), same rounds",
            "reported (vs wasmtime)".into(),
            format!("{} → {fresh_vs_wasmtime:.2}× wasmtime", human(peer_fresh)),
            "–",
        ),
        (
            "criterion: warm call / fresh call / floor (`call/*_instance_1KiB`)",
            "fresh ≤ 5 µs".to_string(),
            format!("{} / {} / {}", human(warm), human(fresh), human(live)),
            yes(fresh <= 5_000.0),
        ),
        ("one host call from a guest: `clock.monotonic_nanos`", "≤ 50 ns".into(), human(clock), yes(clock <= 50.0)),
        ("one host call from a guest: `kv.get` on a hit", "reported".into(), human(kv), "–"),
        (
            "validation throughput over the fixture packages",
            "≥ 100 MB/s".into(),
            format!("{mbps:.0} MB/s"),
            yes(mbps >= 100.0),
        ),
        (
            "compile vs load from the artifact cache, per function",
            "cached load ≥ 50× faster".into(),
            format!("{ratio:.0}×"),
            yes(ratio >= 50.0),
        ),
        ("resolver, 10,000-module catalog", "≤ 20 ms".into(), human(r10k), yes(r10k <= 20e6)),
        (
            "resolver growth 100 → 1,000 → 10,000",
            "near linear (10× per step)".into(),
            format!("{:.1}× then {:.1}×", r1k / r100, r10k / r1k),
            "see notes",
        ),
        (
            "throughput with warm instances, 2 threads vs 1 (median of alternating rounds, `scaling`)",
            "≥ 1.8×".into(),
            format!("{speedup:.2}×"),
            yes(speedup >= 1.8),
        ),
        (
            "wasmtime 48 pooling + fuel, 2 threads vs 1 (`benches/peer`)",
            "reported".into(),
            format!("{wasmtime_threads:.2}×"),
            "–",
        ),
        (
            "the same with 2 processes: what this machine gives when nothing is shared",
            "reported".into(),
            format!("{processes:.2}× (threads reach {:.0}% of it)", efficiency * 100.0),
            "–",
        ),
        ("activation of 50 modules with init hooks", "reported".into(), human(activation), "–"),
        (
            "machine speed: a fixed integer loop, run just before the per-call row (lower is faster)",
            "reported".into(),
            human(reference),
            "–",
        ),
    ];
    for (what, target, measured, met) in rows {
        md.push_str(&format!("| {what} | {target} | {measured} | {met} |\n"));
    }
    md.push_str("\n## All results\n\nMedian with its 95% confidence interval and the median absolute deviation (spread) of the samples.\n\n| benchmark | median | 95% CI | MAD |\n|---|---|---|---|\n");
    for (id, m) in &results {
        md.push_str(&format!(
            "| `{id}` | {} | {} – {} | {} |\n",
            human(m.median_ns),
            human(m.low_ns),
            human(m.high_ns),
            human(m.mad_ns)
        ));
    }
    md.push_str(&format!(
        "\n## How to read these\n\n\
- Every benchmark lives in a crate's `benches/` (`{}`).\n\
- Host-call costs are derived: a guest loop making 1,000 calls minus the same loop without them, over 1,000.\n\
- `throughput/N_threads` is the wall time of a batch of calls split across N threads, per call; the rows are measured seconds apart, so their ratio carries this VM's drift. The 2-vs-1 target is judged on `runtime/benches/scaling.rs` instead: 1 thread, 2 threads and 2 processes in alternating windows, the ratio taken within each round (ADR 0007).\n\
- The peer rows come from `benches/peer` (a workspace of its own, so that CI never builds wasmtime): wasmod with warm instances, wasmod with a fresh instance per call, wasmod's live instance and wasmtime 48.0.0's pooling allocator with fuel (imports linked once, exports resolved once, input through `wasmod_alloc`), all on the same packed file in one process, in short windows whose order rotates every round; each ratio is the median of the ratios within rounds.\n\
- `machine/reference_loop` is 10,000 dependent integer operations with no memory traffic: it moves only with the CPU time this VM gets. Compare runs through it: when it is slower, so is every other row.\n\
- The notes on misses and their causes are kept below by hand.\n",
        BENCHES.iter().map(|(p, b)| format!("{p}/{b}")).collect::<Vec<_>>().join(", ")
    ));
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

fn fuzz(args: &[String]) -> Result<()> {
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
