//! `wasmod resolve`: the activation plan for a request, nothing run.

use anyhow::Result;
use serde::Serialize;

use crate::args::{Cli, ResolveArgs};
use crate::output::Render;
use crate::setup::{open, parse_request};

/// The plan, in initialisation order.
#[derive(Debug, Serialize)]
pub(crate) struct Resolved {
    plan: Vec<Planned>,
}

/// One module of the plan.
#[derive(Debug, Serialize)]
struct Planned {
    dependencies: Vec<String>,
    name: String,
    /// Whether the request named it (rather than only a dependency chain).
    requested: bool,
    version: String,
}

impl Render for Resolved {
    fn text(&self) -> std::io::Result<()> {
        println!("activation plan (initialisation order):");
        for (i, m) in self.plan.iter().enumerate() {
            let why = if m.requested { "requested" } else { "dependency" };
            let deps = if m.dependencies.is_empty() {
                String::new()
            } else {
                format!(", needs {}", m.dependencies.join(", "))
            };
            println!("  {}. {}@{} ({why}{deps})", i + 1, m.name, m.version);
        }
        Ok(())
    }
}

pub(crate) fn run(cli: &Cli, args: &ResolveArgs) -> Result<Resolved> {
    let request = args.modules.iter().map(|m| parse_request(m)).collect::<Result<Vec<_>>>()?;
    let plan = open(cli)?.resolve(&request)?;
    let plan = plan
        .modules
        .iter()
        .map(|m| Planned {
            dependencies: m.dependencies.iter().map(ToString::to_string).collect(),
            name: m.name.as_str().to_owned(),
            requested: m.requested,
            version: m.version.to_string(),
        })
        .collect();
    Ok(Resolved { plan })
}
