//! The `build-fixtures` task: the guest workspaces `tests/fixtures` and `examples` are
//! built for wasm32 in release mode and every member with a manifest is packed into a
//! package archive. The tests of the example HTTP host use the examples' packages; the
//! demo packs the examples again itself, with the CLI's `pack`, to show it.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};

use crate::util::{WASM_TARGET, cargo, ensure_wasm_target, root, run};

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

/// The `build-fixtures` task: builds and packs `tests/fixtures` into `target/fixtures/`
/// and `examples` into `target/examples/`.
pub(crate) fn build_fixtures(args: &[String]) -> Result<()> {
    if !args.is_empty() {
        bail!("`build-fixtures` takes no arguments");
    }
    for (workspace, out) in [("tests/fixtures", "fixtures"), ("examples", "examples")] {
        for p in build_guests(workspace, out)? {
            eprintln!("xtask: packed {}", p.display());
        }
    }
    Ok(())
}
