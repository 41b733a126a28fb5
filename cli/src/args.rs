//! The command line: global options and one variant per command (clap's derive).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

const DEFAULT_POLICY_HELP: &str = "Without --policy, a development policy applies: every standard group \
(log, config, clock, random, kv, modules) is offered, and a function implementing any subsystem may use \
all of them. Production hosts pass their own policy (see examples/policy.ron).";

/// Inspect, validate, install, activate and call wasmod modules.
#[derive(Parser, Debug)]
#[command(name = "wasmod", version, about, after_help = DEFAULT_POLICY_HELP)]
pub(crate) struct Cli {
    /// The module store directory (created if missing).
    #[arg(long, global = true, env = "WASMOD_STORE", default_value = ".wasmod")]
    pub(crate) store: PathBuf,
    /// The host policy (RON); see below for the default.
    #[arg(long, global = true, env = "WASMOD_POLICY")]
    pub(crate) policy: Option<PathBuf>,
    /// The key file that authenticates the store's compiled artifacts (made if missing;
    /// keep it outside the store). Default: `$XDG_CONFIG_HOME/wasmod/artifact.key` or
    /// `~/.config/wasmod/artifact.key`.
    #[arg(long, global = true, env = "WASMOD_ARTIFACT_KEY")]
    pub(crate) artifact_key: Option<PathBuf>,
    /// Machine-readable output on stdout.
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// More logging on stderr (-v: info, -vv: debug), including guest `log` lines.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand, Debug)]
pub(crate) enum Command {
    /// Build a package: split one wasm build into one file per function, or take
    /// prebuilt files, and write the archive.
    Pack(PackArgs),
    /// Check a package against the policy without installing it.
    Validate(ValidateArgs),
    /// Show a package's manifest, each function's imports and grants.
    Inspect(InspectArgs),
    /// Install packages into the store (validated and compiled first; atomic).
    Install(InstallArgs),
    /// Remove an installed version (refused while other installed modules need it,
    /// unless --force).
    Uninstall(UninstallArgs),
    /// List the installed versions with their functions, and any damaged ones.
    List,
    /// Print the activation plan for modules, without running anything.
    Resolve(ResolveArgs),
    /// Activate a module (and its dependencies), run init hooks, call a function.
    Call(CallArgs),
    /// Activate modules (and their dependencies), run init hooks, then call every
    /// active implementation of a subsystem in plan order (stopping at the first
    /// failure unless the policy says the subsystem collects every result).
    Dispatch(DispatchArgs),
}

// The commands' own options. (Their help text is the doc comment of their `Command`
// variant, so these structs carry none.)

#[derive(Args, Debug)]
pub(crate) struct PackArgs {
    /// The module's manifest (RON) to pack.
    #[arg(long, default_value = "module.ron")]
    pub(crate) manifest: PathBuf,
    /// One `cdylib` build of the whole crate, to split per function.
    #[arg(long, conflicts_with = "dir")]
    pub(crate) wasm: Option<PathBuf>,
    /// A directory holding the prebuilt per-function files the manifest names (a
    /// missing `x.wasm` is compiled from `x.wat` if present).
    #[arg(long)]
    pub(crate) dir: Option<PathBuf>,
    /// Where to write the archive (default: `<namespace>-<name>-<version>.zip`).
    #[arg(short, long)]
    pub(crate) output: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub(crate) struct ValidateArgs {
    /// The package archive (zip) to check.
    pub(crate) package: PathBuf,
}

#[derive(Args, Debug)]
pub(crate) struct InspectArgs {
    /// A package archive, or an installed `name@version`.
    pub(crate) target: String,
}

#[derive(Args, Debug)]
pub(crate) struct InstallArgs {
    /// The package archives (zip), installed one by one; a failed one leaves the rest.
    #[arg(required = true)]
    pub(crate) packages: Vec<PathBuf>,
    /// Approve versions whose functions ask for groups, or that declare dependencies, the
    /// installed version of their module did not (without it such an install is refused,
    /// listing the difference).
    #[arg(long)]
    pub(crate) allow_new_grants: bool,
}

#[derive(Args, Debug)]
pub(crate) struct UninstallArgs {
    /// `name@version`.
    pub(crate) module: String,
    /// Even if other installed modules need it.
    #[arg(long)]
    pub(crate) force: bool,
}

#[derive(Args, Debug)]
pub(crate) struct ResolveArgs {
    /// `name` or `name@requirement` (e.g. `acme/orders@^2`).
    #[arg(required = true)]
    pub(crate) modules: Vec<String>,
}

/// What a call runs on: its input and the application's config (shared by `call` and
/// `dispatch`).
#[derive(Args, Debug)]
pub(crate) struct CallInput {
    /// Read the input from a file, or `-` for stdin.
    #[arg(long, conflicts_with = "data")]
    pub(crate) input: Option<PathBuf>,
    /// The input as a literal string.
    #[arg(long)]
    pub(crate) data: Option<String>,
    /// The application config (RON: module -> key -> value).
    #[arg(long)]
    pub(crate) config: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub(crate) struct DispatchArgs {
    /// The subsystem whose implementations are called (e.g. `audit.record`).
    pub(crate) subsystem: String,
    /// The modules to activate: `name` or `name@requirement`.
    #[arg(required = true)]
    pub(crate) modules: Vec<String>,
    #[command(flatten)]
    pub(crate) call: CallInput,
}

#[derive(Args, Debug)]
pub(crate) struct CallArgs {
    /// The module to call: `name` or `name@requirement` (e.g. `acme/orders@^2`).
    pub(crate) module: String,
    /// The function to call, as the module's manifest names it.
    pub(crate) function: String,
    #[command(flatten)]
    pub(crate) call: CallInput,
    /// Also activate these modules (`name` or `name@requirement`).
    #[arg(long = "with")]
    pub(crate) with: Vec<String>,
    /// Fuel for the call (instructions).
    #[arg(long)]
    pub(crate) fuel: Option<u64>,
    /// Wall-clock limit for the call, in milliseconds.
    #[arg(long)]
    pub(crate) timeout_ms: Option<u64>,
    /// Memory limit for the call, in 64 KiB pages.
    #[arg(long)]
    pub(crate) memory_pages: Option<u32>,
}
