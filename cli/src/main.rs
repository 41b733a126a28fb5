//! `wasmod`, the operator CLI: pack, validate, inspect, install, uninstall, list, resolve
//! and call modules in a store.
//!
//! Exit codes: 0 success, 1 rejected or failed, 2 usage error. Diagnostics go to stderr,
//! coloured only on a terminal (and never with `NO_COLOR` set); results go to stdout,
//! as JSON with `--json`.
//!
//! [`args`] is the command line, [`command`] holds one module per command, [`output`]
//! renders their results, and [`setup`] opens the store they work on.

#![allow(clippy::print_stdout, clippy::print_stderr, reason = "a CLI: its output is its interface")]

mod args;
mod command;
mod output;
mod setup;

use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;

use crate::args::{Cli, Command};
use crate::output::{Reported, color, emit};

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

/// Runs the command and renders its result; a result that is a failure (a rejected
/// package, an invalid one) is [`Reported`] once rendered.
fn run(cli: &Cli) -> Result<()> {
    let json = cli.json;
    let failed = match &cli.command {
        Command::Pack(args) => {
            emit(json, &command::pack::run(args)?)?;
            false
        }
        Command::Validate(args) => {
            let validated = command::validate::run(cli, args)?;
            emit(json, &validated)?;
            !validated.accepted()
        }
        Command::Inspect(args) => {
            let inspection = command::inspect::run(cli, args)?;
            emit(json, &inspection)?;
            // (With --json the verdict is in the output and the exit code stays 0.)
            !json && !inspection.valid()
        }
        Command::Install(args) => command::install::run(cli, args)?,
        Command::Uninstall(args) => {
            emit(json, &command::uninstall::run(cli, args)?)?;
            false
        }
        Command::List => {
            emit(json, &command::list::run(cli)?)?;
            false
        }
        Command::Resolve(args) => {
            emit(json, &command::resolve::run(cli, args)?)?;
            false
        }
        Command::Call(args) => {
            emit(json, &command::call::run(cli, args)?)?;
            false
        }
        Command::Dispatch(args) => {
            let dispatched = command::dispatch::run(cli, args)?;
            emit(json, &dispatched)?;
            dispatched.any_failed()
        }
    };
    if failed { Err(Reported.into()) } else { Ok(()) }
}
