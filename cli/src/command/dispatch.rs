//! `wasmod dispatch`: modules activated with their dependencies (init hooks run), then
//! every active implementation of a subsystem called in plan order, with the
//! subsystem's failure mode.

use anyhow::{Result, bail};
use serde::Serialize;

use crate::args::{Cli, DispatchArgs};
use crate::command::call::{read_config, read_input};
use crate::output::Render;
use crate::setup::{open, parse_request};

/// Each implementation's result, in the order they were called.
#[derive(Debug, Serialize)]
pub(crate) struct Dispatched {
    subsystem: String,
    calls: Vec<ImplementationCall>,
}

/// One implementation's call.
#[derive(Debug, Serialize)]
struct ImplementationCall {
    module: String,
    version: String,
    function: String,
    /// The output, lossily as UTF-8, when the call succeeded.
    #[serde(skip_serializing_if = "Option::is_none")]
    output: Option<String>,
    /// Why it failed, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

impl Dispatched {
    /// Whether an implementation failed (the exit code is then 1).
    pub(crate) fn any_failed(&self) -> bool {
        self.calls.iter().any(|c| c.error.is_some())
    }
}

impl Render for Dispatched {
    /// One line per implementation on stdout: who, then its output or its error.
    fn text(&self) -> std::io::Result<()> {
        for c in &self.calls {
            match (&c.output, &c.error) {
                (_, Some(error)) => println!("{}@{} ({}): failed: {error}", c.module, c.version, c.function),
                (output, None) => {
                    println!("{}@{} ({}): {}", c.module, c.version, c.function, output.as_deref().unwrap_or(""));
                }
            }
        }
        Ok(())
    }
}

pub(crate) fn run(cli: &Cli, args: &DispatchArgs) -> Result<Dispatched> {
    let host = open(cli)?;
    let input = read_input(args.call.input.as_deref(), args.call.data.as_deref())?;
    let app = read_config(args.call.config.as_deref())?;
    let request = args.modules.iter().map(|m| parse_request(m)).collect::<Result<Vec<_>>>()?;
    let activation = host.activate(&request, &app)?;
    let results = activation.call_each(&args.subsystem, &input);
    if results.is_empty() {
        bail!("no active module implements subsystem `{}`", args.subsystem);
    }
    let calls = results
        .into_iter()
        .map(|c| {
            let (output, error) = match c.result {
                Ok(outcome) => (Some(String::from_utf8_lossy(&outcome.output).into_owned()), None),
                Err(e) => (None, Some(e.to_string())),
            };
            ImplementationCall {
                module: c.implementation.module.to_string(),
                version: c.implementation.version.to_string(),
                function: c.implementation.function,
                output,
                error,
            }
        })
        .collect();
    Ok(Dispatched { subsystem: args.subsystem.clone(), calls })
}
