//! How results reach the operator: each command builds one typed result, rendered either
//! as text (results on stdout, diagnostics on stderr, coloured only on a terminal and
//! never with `NO_COLOR` set) or, with `--json`, as JSON on stdout.

use std::io::IsTerminal;

use serde::Serialize;

/// A command's result, in both of its forms.
pub(crate) trait Render: Serialize {
    /// Writes the human form: results on stdout, diagnostics on stderr.
    fn text(&self) -> std::io::Result<()>;
}

/// Renders `result` as the options ask.
pub(crate) fn emit(json: bool, result: &impl Render) -> std::io::Result<()> {
    if json { print_json(result) } else { result.text() }
}

/// Pretty JSON on stdout, every object's keys sorted (so the output does not depend on
/// the order of a struct's fields).
pub(crate) fn print_json(value: &impl Serialize) -> std::io::Result<()> {
    let value = serde_json::to_value(value).map_err(std::io::Error::other)?;
    let text = serde_json::to_string_pretty(&value).map_err(std::io::Error::other)?;
    println!("{text}");
    Ok(())
}

/// Whether stderr takes colour: it is a terminal and `NO_COLOR` is unset.
pub(crate) fn color() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// A failure that was already reported in full (exit code 1, nothing more to print).
#[derive(Debug)]
pub(crate) struct Reported;

impl std::fmt::Display for Reported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("reported")
    }
}

impl std::error::Error for Reported {}
