//! `wasmod`, the operator CLI: pack, validate, inspect, install, uninstall, list, resolve
//! and call modules in a store.
//!
//! Exit codes: 0 success, 1 rejected or failed, 2 usage error. Diagnostics go to stderr,
//! coloured only on a terminal (and never with `NO_COLOR` set); results go to stdout,
//! as JSON with `--json`.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::BTreeMap;
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use clap::{Parser, Subcommand};
use serde_json::json;
use wasmod::{AppConfig, CallLimits, Host, HostPolicy, ModuleName, Package, Request, Version};

const DEFAULT_POLICY_HELP: &str = "Without --policy, a development policy applies: every standard group \
(log, config, clock, random, kv, modules) is offered, and a function implementing any subsystem may use \
all of them. Production hosts pass their own policy (see examples/policy.ron).";

/// Inspect, validate, install, activate and call wasmod modules.
#[derive(Parser, Debug)]
#[command(name = "wasmod", version, about, after_help = DEFAULT_POLICY_HELP)]
struct Cli {
    /// The module store directory.
    #[arg(long, global = true, env = "WASMOD_STORE", default_value = ".wasmod")]
    store: PathBuf,
    /// The host policy (RON); see below for the default.
    #[arg(long, global = true, env = "WASMOD_POLICY")]
    policy: Option<PathBuf>,
    /// The key file that authenticates the store's compiled artifacts (made if missing;
    /// keep it outside the store). Default: `$XDG_CONFIG_HOME/wasmod/artifact.key` or
    /// `~/.config/wasmod/artifact.key`.
    #[arg(long, global = true, env = "WASMOD_ARTIFACT_KEY")]
    artifact_key: Option<PathBuf>,
    /// Machine-readable output on stdout.
    #[arg(long, global = true)]
    json: bool,
    /// More logging on stderr (-v: info, -vv: debug), including guest `log` lines.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Build a package: split one wasm build into one file per function, or take
    /// prebuilt files, and write the archive.
    Pack {
        /// The manifest.
        #[arg(long, default_value = "module.ron")]
        manifest: PathBuf,
        /// One `cdylib` build of the whole crate, to split per function.
        #[arg(long, conflicts_with = "dir")]
        wasm: Option<PathBuf>,
        /// A directory holding the prebuilt per-function files the manifest names (a
        /// missing `x.wasm` is compiled from `x.wat` if present).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Where to write the archive (default: `<namespace>-<name>-<version>.zip`).
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Check a package against the policy without installing it.
    Validate {
        /// The package archive.
        package: PathBuf,
    },
    /// Show a package's manifest, each function's imports and grants.
    Inspect {
        /// A package archive, or an installed `name@version`.
        target: String,
    },
    /// Install packages into the store (validated and compiled first; atomic).
    Install {
        /// Package archives.
        #[arg(required = true)]
        packages: Vec<PathBuf>,
    },
    /// Remove an installed version.
    Uninstall {
        /// `name@version`.
        module: String,
        /// Even if other installed modules need it.
        #[arg(long)]
        force: bool,
    },
    /// List installed modules.
    List,
    /// Print the activation plan for modules, without running anything.
    Resolve {
        /// `name` or `name@requirement` (e.g. `acme/orders@^2`).
        #[arg(required = true)]
        modules: Vec<String>,
    },
    /// Activate a module (and its dependencies), run init hooks, call a function.
    Call {
        /// The module.
        module: String,
        /// The function.
        function: String,
        /// Read the input from a file, or `-` for stdin.
        #[arg(long, conflicts_with = "data")]
        input: Option<PathBuf>,
        /// The input as a literal string.
        #[arg(long)]
        data: Option<String>,
        /// The application config (RON: module -> key -> value).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Also activate these modules (`name` or `name@requirement`).
        #[arg(long = "with")]
        with: Vec<String>,
        /// Fuel for the call (instructions).
        #[arg(long)]
        fuel: Option<u64>,
        /// Wall-clock limit for the call, in milliseconds.
        #[arg(long)]
        timeout_ms: Option<u64>,
        /// Memory limit for the call, in 64 KiB pages.
        #[arg(long)]
        memory_pages: Option<u32>,
    },
}

/// A failure that was already reported in full (exit code 1, nothing more to print).
#[derive(Debug)]
struct Reported;

impl std::fmt::Display for Reported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("reported")
    }
}

impl std::error::Error for Reported {}

fn color() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let level = match cli.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| level.into()))
        .with_writer(std::io::stderr)
        .with_ansi(color())
        .with_target(false)
        .try_init();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is::<Reported>() => ExitCode::from(1),
        Err(e) => {
            let (red, reset) = if color() { ("\x1b[31;1m", "\x1b[0m") } else { ("", "") };
            eprintln!("{red}error{reset}: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn policy(cli: &Cli) -> Result<HostPolicy> {
    match &cli.policy {
        None => Ok(HostPolicy::development()),
        Some(path) => {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("reading the policy {}", path.display()))?;
            wasmod::load_policy(&text).with_context(|| format!("in the policy {}", path.display()))
        }
    }
}

fn open(cli: &Cli) -> Result<Host> {
    let mut builder = Host::builder().store(&cli.store).policy(policy(cli)?);
    if let Some(key) = &cli.artifact_key {
        builder = builder.artifact_key_file(key);
    }
    builder.open().with_context(|| format!("opening the store {}", cli.store.display()))
}

fn print_json(value: &serde_json::Value) {
    println!("{}", serde_json::to_string_pretty(value).expect("JSON values serialise"));
}

fn parse_id(text: &str) -> Result<(ModuleName, Version)> {
    let (name, version) = text.split_once('@').ok_or_else(|| anyhow!("expected `name@version`, got `{text}`"))?;
    let name = ModuleName::new(name).map_err(|e| anyhow!("module name `{name}` {e}"))?;
    let version = Version::parse(version).with_context(|| format!("version `{version}`"))?;
    Ok((name, version))
}

fn parse_request(text: &str) -> Result<Request> {
    let (name, req) = match text.split_once('@') {
        Some((n, r)) => (n, Some(r)),
        None => (text, None),
    };
    Request::parse(name, req).map_err(|e| anyhow!(e))
}

/// Prints a validation report: human on stderr, or JSON on stdout.
fn report(cli: &Cli, path: &Path, report: &wasmod::Report) {
    if cli.json {
        print_json(&json!({ "package": path, "ok": report.is_ok(), "report": report }));
    } else {
        eprint!("{}", report.render(color()));
    }
}

fn read_archive(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

fn run(cli: &Cli) -> Result<()> {
    match &cli.command {
        Command::Pack { manifest, wasm, dir, output } => {
            pack(cli, manifest, wasm.as_deref(), dir.as_deref(), output.as_deref())
        }
        Command::Validate { package } => {
            let host = open(cli)?;
            match host.validate(&read_archive(package)?) {
                Ok(v) => {
                    report(cli, package, v.report());
                    Ok(())
                }
                Err(r) => {
                    report(cli, package, &r);
                    Err(Reported.into())
                }
            }
        }
        Command::Inspect { target } => inspect(cli, target),
        Command::Install { packages } => {
            let host = open(cli)?;
            let mut failed = false;
            let mut results = Vec::new();
            for path in packages {
                match host.install(&read_archive(path)?) {
                    Ok(installed) => {
                        if !cli.json {
                            let what = if installed.newly_installed { "installed" } else { "already installed" };
                            eprint!(
                                "{}",
                                if installed.report.diagnostics.is_empty() {
                                    String::new()
                                } else {
                                    installed.report.render(color())
                                }
                            );
                            println!("{what} {}", installed.id);
                        }
                        results.push(json!({ "package": path, "installed": installed.id, "new": installed.newly_installed, "report": installed.report }));
                    }
                    Err(wasmod::Error::Rejected(r)) => {
                        failed = true;
                        if !cli.json {
                            eprint!("{}", r.render(color()));
                            eprintln!("nothing was installed from {}", path.display());
                        }
                        results.push(json!({ "package": path, "rejected": true, "report": r }));
                    }
                    Err(e) => {
                        failed = true;
                        if !cli.json {
                            eprintln!("error: {}: {e}", path.display());
                        }
                        results.push(json!({ "package": path, "error": e.to_string() }));
                    }
                }
            }
            if cli.json {
                print_json(&json!(results));
            }
            if failed { Err(Reported.into()) } else { Ok(()) }
        }
        Command::Uninstall { module, force } => {
            let (name, version) = parse_id(module)?;
            open(cli)?.uninstall(&name, &version, *force)?;
            if cli.json {
                print_json(&json!({ "uninstalled": module }));
            } else {
                println!("uninstalled {module}");
            }
            Ok(())
        }
        Command::List => {
            let host = open(cli)?;
            let listing = host.list()?;
            if cli.json {
                let installed: Vec<_> = listing
                    .installed
                    .iter()
                    .map(|m| {
                        json!({
                            "name": m.manifest.name.as_str(),
                            "version": m.manifest.version.to_string(),
                            "description": m.manifest.description,
                            "dependencies": m.manifest.dependencies.iter().map(|(n, r)| (n.to_string(), r.to_string())).collect::<BTreeMap<_, _>>(),
                            "functions": m.manifest.functions.iter().map(|(n, f)| (n.clone(), f.implements.clone())).collect::<BTreeMap<_, _>>(),
                        })
                    })
                    .collect();
                let damaged: Vec<_> = listing
                    .damaged
                    .iter()
                    .map(|d| json!({ "dir": d.dir.display().to_string(), "reason": d.reason }))
                    .collect();
                print_json(&json!({ "installed": installed, "damaged": damaged }));
            } else if listing.installed.is_empty() && listing.damaged.is_empty() {
                println!("no modules installed in {}", cli.store.display());
            } else {
                for m in &listing.installed {
                    let functions: Vec<String> =
                        m.manifest.functions.iter().map(|(n, f)| format!("{n} ({})", f.implements)).collect();
                    println!("{:<32} {}", m.id(), functions.join(", "));
                }
                for d in &listing.damaged {
                    println!("{:<32} DAMAGED: {}", d.dir.display(), d.reason);
                }
            }
            Ok(())
        }
        Command::Resolve { modules } => {
            let request = modules.iter().map(|m| parse_request(m)).collect::<Result<Vec<_>>>()?;
            let plan = open(cli)?.resolve(&request)?;
            if cli.json {
                let list: Vec<_> = plan
                    .modules
                    .iter()
                    .map(|m| {
                        json!({
                            "name": m.name.as_str(),
                            "version": m.version.to_string(),
                            "requested": m.requested,
                            "dependencies": m.dependencies.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
                        })
                    })
                    .collect();
                print_json(&json!({ "plan": list }));
            } else {
                println!("activation plan (initialisation order):");
                for (i, m) in plan.modules.iter().enumerate() {
                    let why = if m.requested { "requested".to_string() } else { "dependency".to_string() };
                    let deps = if m.dependencies.is_empty() {
                        String::new()
                    } else {
                        format!(
                            ", needs {}",
                            m.dependencies.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")
                        )
                    };
                    println!("  {}. {} ({why}{deps})", i + 1, m);
                }
            }
            Ok(())
        }
        Command::Call { module, function, input, data, config, with, fuel, timeout_ms, memory_pages } => {
            let host = open(cli)?;
            let input = match (input, data) {
                (Some(p), _) if p.as_os_str() == "-" => {
                    let mut buf = Vec::new();
                    std::io::stdin().read_to_end(&mut buf).context("reading the input from stdin")?;
                    buf
                }
                (Some(p), _) => std::fs::read(p).with_context(|| format!("reading the input {}", p.display()))?,
                (None, Some(d)) => d.clone().into_bytes(),
                (None, None) => Vec::new(),
            };
            let app = match config {
                Some(p) => {
                    let text =
                        std::fs::read_to_string(p).with_context(|| format!("reading the config {}", p.display()))?;
                    AppConfig::from_ron(&text).with_context(|| format!("in the config {}", p.display()))?
                }
                None => AppConfig::new(),
            };
            let mut request = vec![parse_request(module)?];
            for w in with {
                request.push(parse_request(w)?);
            }
            let module_name = request[0].name.to_string();
            let activation = host.activate(&request, &app)?;
            let mut limits = CallLimits::default();
            if let Some(f) = fuel {
                limits.fuel = *f;
            }
            if let Some(ms) = timeout_ms {
                limits.timeout = Duration::from_millis(*ms);
            }
            if let Some(p) = memory_pages {
                limits.memory_pages = *p;
            }
            let outcome = activation.call_with(&module_name, function, &input, Some(limits))?;
            let m = &outcome.metrics;
            if cli.json {
                print_json(&json!({
                    "output": String::from_utf8_lossy(&outcome.output),
                    "output_is_utf8": std::str::from_utf8(&outcome.output).is_ok(),
                    "output_bytes": outcome.output.len(),
                    "metrics": { "wall_us": m.wall.as_micros() as u64, "fuel_used": m.fuel_used, "memory_pages": m.memory_pages },
                }));
            } else {
                let mut stdout = std::io::stdout().lock();
                stdout.write_all(&outcome.output)?;
                if std::io::stdout().is_terminal() && !outcome.output.ends_with(b"\n") {
                    stdout.write_all(b"\n")?;
                }
                if cli.verbose > 0 {
                    eprintln!("wall {:?}, fuel {}, memory {} pages", m.wall, m.fuel_used, m.memory_pages);
                }
            }
            Ok(())
        }
    }
}

fn pack(cli: &Cli, manifest_path: &Path, wasm: Option<&Path>, dir: Option<&Path>, output: Option<&Path>) -> Result<()> {
    let manifest_text =
        std::fs::read_to_string(manifest_path).with_context(|| format!("reading {}", manifest_path.display()))?;
    let manifest =
        wasmod::Manifest::from_ron(&manifest_text).map_err(|e| anyhow!("{}: {e}", manifest_path.display()))?;
    let archive = match (wasm, dir) {
        (Some(build), _) => {
            let bytes = std::fs::read(build).with_context(|| format!("reading {}", build.display()))?;
            wasmod_pack::pack_build(&manifest_text, &bytes)?
        }
        (None, Some(dir)) => {
            let mut files = BTreeMap::new();
            for f in manifest.functions.values() {
                let path = dir.join(&f.file);
                let wat_path = path.with_extension("wat");
                let bytes = if !path.exists() && wat_path.is_file() {
                    // WAT sources are compiled on the way in.
                    wat::parse_file(&wat_path).with_context(|| format!("compiling {}", wat_path.display()))?
                } else {
                    std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?
                };
                files.insert(f.file.clone(), bytes);
            }
            wasmod_pack::pack_files(&manifest_text, &files)?
        }
        (None, None) => bail!("give the build to split (--wasm FILE) or a directory of prebuilt files (--dir DIR)"),
    };
    let default_name = format!("{}-{}.zip", manifest.name.as_str().replace('/', "-"), manifest.version);
    let output = output.map_or_else(|| PathBuf::from(&default_name), Path::to_path_buf);
    std::fs::write(&output, &archive).with_context(|| format!("writing {}", output.display()))?;
    if cli.json {
        print_json(&json!({ "package": output, "module": manifest.id(), "bytes": archive.len() }));
    } else {
        println!("packed {} into {} ({} bytes)", manifest.id(), output.display(), archive.len());
    }
    Ok(())
}

fn inspect(cli: &Cli, target: &str) -> Result<()> {
    let host = open(cli)?;
    let archive = if Path::new(target).is_file() {
        read_archive(Path::new(target))?
    } else {
        let (name, version) = parse_id(target)?;
        let installed = host.list()?.installed;
        let m = installed
            .iter()
            .find(|m| m.manifest.name == name && m.manifest.version == version)
            .ok_or_else(|| anyhow!("{target} is neither a file nor an installed module"))?;
        std::fs::read(m.dir.join("package.zip")).with_context(|| format!("reading {}", m.dir.display()))?
    };
    let package = Package::read(&archive, &wasmod::ArchiveLimits::default()).map_err(|e| anyhow!("{e}"))?;
    let validation = host.validate(&archive);
    let report = match &validation {
        Ok(v) => v.report().clone(),
        Err(r) => r.clone(),
    };
    let m = &package.manifest;
    let mut functions = BTreeMap::new();
    for (name, f) in &m.functions {
        let bytes = package.function_bytes(name).unwrap_or_default();
        let imports = wasmod::function_imports(bytes).unwrap_or_default();
        let grants: Vec<String> = match &validation {
            Ok(v) => v.grants(name).iter().map(|g| format!("{}@{}", g.group, g.version)).collect(),
            Err(_) => Vec::new(),
        };
        let allowed = host.policy().subsystem(&f.implements).map(|s| s.groups.clone());
        functions.insert(
            name.clone(),
            json!({
                "file": f.file,
                "bytes": bytes.len(),
                "implements": f.implements,
                "declared_groups": f.groups,
                "allowed_by_host": allowed,
                "grants": grants,
                "imports": imports.iter().map(|(m, n)| format!("{m}.{n}")).collect::<Vec<_>>(),
            }),
        );
    }
    let value = json!({
        "module": m.id(),
        "description": m.description,
        "dependencies": m.dependencies.iter().map(|(n, r)| (n.to_string(), r.to_string())).collect::<BTreeMap<_, _>>(),
        "config": m.config.iter().map(|(k, c)| (k.clone(), json!({
            "type": c.ty.to_string(),
            "default": c.default.as_ref().map(|d| d.to_string()),
            "required": c.required,
            "doc": c.doc,
        }))).collect::<BTreeMap<_, _>>(),
        "functions": functions,
        "valid": report.is_ok(),
        "report": report,
    });
    if cli.json {
        print_json(&value);
        return Ok(());
    }
    println!("{}{}", m.id(), m.description.as_ref().map(|d| format!(" - {d}")).unwrap_or_default());
    if !m.dependencies.is_empty() {
        println!("dependencies:");
        for (n, r) in &m.dependencies {
            println!("  {n} {r}");
        }
    }
    if !m.config.is_empty() {
        println!("config:");
        for (k, c) in &m.config {
            let default = c.default.as_ref().map(|d| format!(" = {d}")).unwrap_or_default();
            let required = if c.required { " (required)" } else { "" };
            let doc = c.doc.as_ref().map(|d| format!("  # {d}")).unwrap_or_default();
            println!("  {k}: {}{default}{required}{doc}", c.ty);
        }
    }
    println!("functions:");
    for (name, f) in &value["functions"].as_object().expect("an object").clone() {
        println!(
            "  {name} implements {} ({} bytes, {})",
            f["implements"].as_str().unwrap_or(""),
            f["bytes"],
            f["file"].as_str().unwrap_or("")
        );
        let list = |v: &serde_json::Value| {
            let items: Vec<String> = v
                .as_array()
                .map(|a| a.iter().filter_map(|s| s.as_str().map(String::from)).collect())
                .unwrap_or_default();
            if items.is_empty() { "none".to_string() } else { items.join(", ") }
        };
        println!("    declared groups: {}", list(&f["declared_groups"]));
        println!(
            "    host allows:     {}",
            if f["allowed_by_host"].is_null() {
                "(unknown subsystem)".to_string()
            } else {
                list(&f["allowed_by_host"])
            }
        );
        println!("    granted:         {}", list(&f["grants"]));
        println!("    imports:         {}", list(&f["imports"]));
    }
    if !report.diagnostics.is_empty() {
        eprint!("{}", report.render(color()));
    }
    if report.is_ok() { Ok(()) } else { Err(Reported.into()) }
}
