//! `wasmod call`: a module activated with its dependencies (init hooks run), and one of
//! its functions called.

use std::io::{IsTerminal, Read, Write};
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use serde::Serialize;
use wasmod::{AppConfig, CallLimits, CallOutcome};

use crate::args::{CallArgs, Cli};
use crate::output::Render;
use crate::setup::{open, parse_request};

/// A call's output and measurements.
#[derive(Debug)]
pub(crate) struct Called {
    outcome: CallOutcome,
    /// Whether the text form also reports the measurements (on stderr).
    verbose: bool,
}

/// The JSON form.
#[derive(Serialize)]
struct CalledJson<'a> {
    metrics: MetricsJson,
    /// The output, lossily as UTF-8 (see `output_is_utf8`).
    output: std::borrow::Cow<'a, str>,
    output_bytes: usize,
    output_is_utf8: bool,
}

#[derive(Serialize)]
struct MetricsJson {
    fuel_used: u64,
    memory_pages: u32,
    wall_us: u64,
}

impl Serialize for Called {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (output, m) = (&self.outcome.output, &self.outcome.metrics);
        CalledJson {
            metrics: MetricsJson {
                fuel_used: m.fuel_used,
                memory_pages: m.memory_pages,
                wall_us: u64::try_from(m.wall.as_micros()).unwrap_or(u64::MAX),
            },
            output: String::from_utf8_lossy(output),
            output_bytes: output.len(),
            output_is_utf8: std::str::from_utf8(output).is_ok(),
        }
        .serialize(s)
    }
}

impl Render for Called {
    /// The output's bytes as they are on stdout (with a newline on a terminal, if they
    /// lack one); with `-v`, the measurements on stderr.
    fn text(&self) -> std::io::Result<()> {
        let output = &self.outcome.output;
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(output)?;
        if std::io::stdout().is_terminal() && !output.ends_with(b"\n") {
            stdout.write_all(b"\n")?;
        }
        if self.verbose {
            let m = &self.outcome.metrics;
            eprintln!("wall {:?}, fuel {}, memory {} pages", m.wall, m.fuel_used, m.memory_pages);
        }
        Ok(())
    }
}

pub(crate) fn run(cli: &Cli, args: &CallArgs) -> Result<Called> {
    let host = open(cli)?;
    let input = read_input(args.call.input.as_deref(), args.call.data.as_deref())?;
    let app = read_config(args.call.config.as_deref())?;
    let mut request = vec![parse_request(&args.module)?];
    for w in &args.with {
        request.push(parse_request(w)?);
    }
    let module_name = request[0].name.to_string();
    let activation = host.activate(&request, &app)?;
    let outcome = activation.call_with(&module_name, &args.function, &input, limits(args))?;
    Ok(Called { outcome, verbose: cli.verbose > 0 })
}

/// The input: `--input FILE` (`-` for stdin), `--data TEXT`, or nothing.
pub(crate) fn read_input(input: Option<&Path>, data: Option<&str>) -> Result<Vec<u8>> {
    Ok(match (input, data) {
        (Some(p), _) if p.as_os_str() == "-" => {
            let mut buf = Vec::new();
            std::io::stdin().read_to_end(&mut buf).context("reading the input from stdin")?;
            buf
        }
        (Some(p), _) => std::fs::read(p).with_context(|| format!("reading the input {}", p.display()))?,
        (None, Some(d)) => d.as_bytes().to_vec(),
        (None, None) => Vec::new(),
    })
}

/// The application config of `--config FILE`, or none.
pub(crate) fn read_config(path: Option<&Path>) -> Result<AppConfig> {
    let Some(p) = path else { return Ok(AppConfig::new()) };
    let text = std::fs::read_to_string(p).with_context(|| format!("reading the config {}", p.display()))?;
    AppConfig::from_ron(&text).with_context(|| format!("in the config {}", p.display()))
}

/// The default limits, with what the options set.
fn limits(args: &CallArgs) -> CallLimits {
    let mut limits = CallLimits::default();
    if let Some(f) = args.fuel {
        limits.fuel = f;
    }
    if let Some(ms) = args.timeout_ms {
        limits.timeout = Duration::from_millis(ms);
    }
    if let Some(p) = args.memory_pages {
        limits.memory_pages = p;
    }
    limits
}
