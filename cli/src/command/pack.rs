//! `wasmod pack`: a package archive from a manifest and a build (split per function) or
//! a directory of prebuilt files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use serde::Serialize;

use crate::args::PackArgs;
use crate::output::Render;

/// What was packed: the module as `name@version`, the archive written and its size in bytes.
#[derive(Debug, Serialize)]
pub(crate) struct Packed {
    bytes: usize,
    module: String,
    package: PathBuf,
}

impl Render for Packed {
    fn text(&self) -> std::io::Result<()> {
        println!("packed {} into {} ({} bytes)", self.module, self.package.display(), self.bytes);
        Ok(())
    }
}

pub(crate) fn run(args: &PackArgs) -> Result<Packed> {
    let manifest_path = &args.manifest;
    let manifest_text =
        std::fs::read_to_string(manifest_path).with_context(|| format!("reading {}", manifest_path.display()))?;
    let manifest =
        wasmod::Manifest::from_ron(&manifest_text).map_err(|e| anyhow!("{}: {e}", manifest_path.display()))?;
    let archive = match (&args.wasm, &args.dir) {
        (Some(build), _) => {
            let bytes = std::fs::read(build).with_context(|| format!("reading {}", build.display()))?;
            wasmod_pack::pack_build(&manifest_text, &bytes)?
        }
        (None, Some(dir)) => {
            let mut files = BTreeMap::new();
            for f in manifest.functions.values() {
                files.insert(f.file.clone(), prebuilt(&dir.join(&f.file))?);
            }
            wasmod_pack::pack_files(&manifest_text, &files)?
        }
        (None, None) => bail!("give the build to split (--wasm FILE) or a directory of prebuilt files (--dir DIR)"),
    };
    let default_name = format!("{}-{}.zip", manifest.name.as_str().replace('/', "-"), manifest.version);
    let output = args.output.clone().unwrap_or_else(|| PathBuf::from(&default_name));
    std::fs::write(&output, &archive).with_context(|| format!("writing {}", output.display()))?;
    Ok(Packed { bytes: archive.len(), module: manifest.id(), package: output })
}

/// A prebuilt function file: `path`, or, where it is missing, the WAT source beside it
/// compiled on the way in.
fn prebuilt(path: &Path) -> Result<Vec<u8>> {
    let wat_path = path.with_extension("wat");
    if !path.exists() && wat_path.is_file() {
        wat::parse_file(&wat_path).with_context(|| format!("compiling {}", wat_path.display()))
    } else {
        std::fs::read(path).with_context(|| format!("reading {}", path.display()))
    }
}
