//! `wasmod inspect`: a package's manifest, and for each function its file, imports, the
//! groups it declares, the host allows and validation grants.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, anyhow};
use serde::Serialize;

use crate::args::{Cli, InspectArgs};
use crate::output::{Render, color};
use crate::setup::{open, parse_id, read_archive};

/// What a package holds and what validation made of it.
#[derive(Debug, Serialize)]
pub(crate) struct Inspection {
    /// `name@version`.
    module: String,
    description: Option<String>,
    /// Dependency name to version requirement.
    dependencies: BTreeMap<String, String>,
    config: BTreeMap<String, ConfigKey>,
    functions: BTreeMap<String, FunctionView>,
    valid: bool,
    report: wasmod::Report,
}

/// One key of the module's configuration schema.
#[derive(Debug, Serialize)]
struct ConfigKey {
    default: Option<String>,
    doc: Option<String>,
    required: bool,
    #[serde(rename = "type")]
    ty: String,
}

/// One function of the package: its file, what it implements, declares, imports and is granted.
#[derive(Debug, Serialize)]
struct FunctionView {
    /// The groups the host allows for its subsystem (`None`: a subsystem it does not know).
    allowed_by_host: Option<Vec<String>>,
    bytes: usize,
    declared_groups: Vec<String>,
    file: String,
    /// `group@major` granted by validation (none when validation rejected the package).
    grants: Vec<String>,
    implements: String,
    /// `module.name` of each import.
    imports: Vec<String>,
}

impl Inspection {
    /// Whether the package passed validation.
    pub(crate) fn valid(&self) -> bool {
        self.valid
    }
}

impl Render for Inspection {
    fn text(&self) -> std::io::Result<()> {
        println!("{}{}", self.module, self.description.as_ref().map(|d| format!(" - {d}")).unwrap_or_default());
        if !self.dependencies.is_empty() {
            println!("dependencies:");
            for (n, r) in &self.dependencies {
                println!("  {n} {r}");
            }
        }
        if !self.config.is_empty() {
            println!("config:");
            for (k, c) in &self.config {
                let default = c.default.as_ref().map(|d| format!(" = {d}")).unwrap_or_default();
                let required = if c.required { " (required)" } else { "" };
                let doc = c.doc.as_ref().map(|d| format!("  # {d}")).unwrap_or_default();
                println!("  {k}: {}{default}{required}{doc}", c.ty);
            }
        }
        println!("functions:");
        for (name, f) in &self.functions {
            println!("  {name} implements {} ({} bytes, {})", f.implements, f.bytes, f.file);
            println!("    declared groups: {}", list(&f.declared_groups));
            let allowed = f.allowed_by_host.as_deref().map_or_else(|| "(unknown subsystem)".to_owned(), list);
            println!("    host allows:     {allowed}");
            println!("    granted:         {}", list(&f.grants));
            println!("    imports:         {}", list(&f.imports));
        }
        if !self.report.diagnostics.is_empty() {
            eprint!("{}", self.report.render(color()));
        }
        Ok(())
    }
}

/// Items joined by commas, or "none".
fn list(items: &[String]) -> String {
    if items.is_empty() { "none".to_owned() } else { items.join(", ") }
}

pub(crate) fn run(cli: &Cli, args: &InspectArgs) -> Result<Inspection> {
    let host = open(cli)?;
    let target = &args.target;
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
    let package = wasmod::Package::read(&archive, &wasmod::ArchiveLimits::default()).map_err(|e| anyhow!("{e}"))?;
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
        let grants = match &validation {
            Ok(v) => v.grants(name).iter().map(|g| format!("{}@{}", g.group, g.version)).collect(),
            Err(_) => Vec::new(),
        };
        let view = FunctionView {
            allowed_by_host: host.policy().subsystem(&f.implements).map(|s| s.groups.clone()),
            bytes: bytes.len(),
            declared_groups: f.groups.clone(),
            file: f.file.clone(),
            grants,
            implements: f.implements.clone(),
            imports: imports.iter().map(|(m, n)| format!("{m}.{n}")).collect(),
        };
        functions.insert(name.clone(), view);
    }
    let config = m
        .config
        .iter()
        .map(|(k, c)| {
            let key = ConfigKey {
                default: c.default.as_ref().map(ToString::to_string),
                doc: c.doc.clone(),
                required: c.required,
                ty: c.ty.to_string(),
            };
            (k.clone(), key)
        })
        .collect();
    Ok(Inspection {
        config,
        dependencies: m.dependencies.iter().map(|(n, r)| (n.to_string(), r.to_string())).collect(),
        description: m.description.clone(),
        functions,
        module: m.id(),
        valid: report.is_ok(),
        report,
    })
}
