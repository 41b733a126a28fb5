//! Tidy: tests that check the repository's mechanical claims, in the manner of
//! rust-analyzer's `xtask/src/tidy.rs`. Each test reads the files of the workspace, checks
//! one rule that ARCHITECTURE.md or README.md states (crate docs, `missing_docs`, commented
//! `unsafe`, the code map, linked ADRs, file length) and fails with a message naming every
//! file that breaks it, so one run lists everything to mend.
//!
//! Compiled only under `cargo test`; it uses nothing but std and anyhow.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::util::root;

/// Files longer than this need a `Long file:` marker with a reason in their first lines.
const MAX_LINES: usize = 400;

/// Directories outside the rules: their own workspaces, generated or guest code.
const SKIPPED_PREFIXES: &[&str] = &["tests/fuzz/", "benches/peer/", "tests/fixtures/"];

/// A workspace member: its directory relative to the root, and its `Cargo.toml`.
struct Member {
    dir: String,
    manifest: String,
}

impl Member {
    /// Its directory.
    fn path(&self) -> PathBuf {
        root().join(&self.dir)
    }

    /// The `name` of its `[package]` section.
    fn package(&self) -> Option<&str> {
        let mut in_package = false;
        for line in self.manifest.lines().map(str::trim) {
            if line.starts_with('[') {
                in_package = line == "[package]";
            } else if in_package
                && let Some((key, value)) = line.split_once('=')
                && key.trim() == "name"
            {
                return Some(value.trim().trim_matches('"'));
            }
        }
        None
    }

    /// Whether it is published, i.e. its own `Cargo.toml` does not say `publish = false`.
    fn published(&self) -> bool {
        !self.manifest.lines().any(|l| l.trim() == "publish = false")
    }

    /// Its crate roots that exist: `src/lib.rs`, `src/main.rs`.
    fn crate_roots(&self) -> Vec<PathBuf> {
        ["src/lib.rs", "src/main.rs"].iter().map(|f| self.path().join(f)).filter(|p| p.is_file()).collect()
    }
}

/// Reads a file, failing with its path.
fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

/// A path relative to the workspace root, with `/` separators.
fn rel(path: &Path) -> String {
    let path = path.strip_prefix(root()).unwrap_or(path);
    path.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/")
}

/// The members of the root `Cargo.toml`'s `[workspace] members = [...]` array.
fn members() -> Result<Vec<Member>> {
    let toml = read(&root().join("Cargo.toml"))?;
    let start = toml.find("members = [").context("no `members = [` in Cargo.toml")? + "members = [".len();
    let end = toml[start..].find(']').context("`members` is not closed")? + start;
    let mut members = Vec::new();
    for line in toml[start..end].lines() {
        let line = line.split('#').next().unwrap_or_default();
        for dir in line.split(',').map(|m| m.trim().trim_matches('"')).filter(|m| !m.is_empty()) {
            let manifest = read(&root().join(dir).join("Cargo.toml"))?;
            members.push(Member { dir: dir.to_string(), manifest });
        }
    }
    Ok(members)
}

/// Every `.rs` file under `dir`, skipping `target/` and hidden directories.
fn rust_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).with_context(|| format!("listing {}", d.display()))? {
            let path = entry?.path();
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            if path.is_dir() && name != "target" && !name.starts_with('.') {
                todo.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

/// The `.rs` files of the workspace members (relative paths), without the skipped
/// directories (`target/`, `tests/fuzz/`, `benches/peer/`, `tests/fixtures/`) and a
/// member's own `examples/` (a member that lives under the root's `examples/` counts).
fn member_sources() -> Result<BTreeSet<String>> {
    let mut files = BTreeSet::new();
    for member in members()? {
        for file in rust_files(&member.path())? {
            let rel = rel(&file);
            let in_member = file.strip_prefix(member.path()).unwrap_or(&file);
            let example = in_member.components().any(|c| c.as_os_str() == "examples");
            if !SKIPPED_PREFIXES.iter().any(|p| rel.starts_with(p)) && !example {
                files.insert(rel);
            }
        }
    }
    Ok(files)
}

/// Everything written between backticks in `markdown`, outside fenced code blocks.
fn backticked(markdown: &str) -> Vec<String> {
    let prose: Vec<&str> = markdown.split("\n```").step_by(2).collect();
    prose.iter().flat_map(|p| p.split('`').skip(1).step_by(2)).map(str::to_string).collect()
}

/// Whether a code-map entry such as `pool.rs`, `vm/pool.rs` or `command/<name>.rs` names
/// `path` (relative, `/`-separated): its segments are the path's last ones, and a segment
/// with a `<...>` placeholder stands for any name with the same text around it.
fn names(entry: &str, path: &str) -> bool {
    let (entry, path): (Vec<&str>, Vec<&str>) = (entry.split('/').collect(), path.split('/').collect());
    entry.len() <= path.len()
        && entry.iter().rev().zip(path.iter().rev()).all(|(e, p)| match (e.split_once('<'), e.split_once('>')) {
            (Some((before, _)), Some((_, after))) => {
                p.len() >= before.len() + after.len() && p.starts_with(before) && p.ends_with(after)
            }
            _ => e == p,
        })
}

/// Fails naming every offender, if there is any.
fn check(claim: &str, offenders: Vec<String>) -> Result<()> {
    if !offenders.is_empty() {
        bail!("{claim}, but these do not:\n  {}", offenders.join("\n  "));
    }
    Ok(())
}

/// Every workspace crate has a crate-level doc comment: its `src/lib.rs` or `src/main.rs`
/// starts with `//!` lines (attributes such as `#![...]` come after them).
#[test]
fn every_crate_has_a_crate_doc() -> Result<()> {
    let mut offenders = Vec::new();
    for member in members()? {
        let roots = member.crate_roots();
        if roots.is_empty() {
            offenders.push(format!("{} (no src/lib.rs or src/main.rs)", member.dir));
        }
        for file in roots {
            if !read(&file)?.lines().find(|l| !l.trim().is_empty()).is_some_and(|l| l.starts_with("//!")) {
                offenders.push(rel(&file));
            }
        }
    }
    check("every crate root should start with a `//!` crate doc", offenders)
}

/// Every library crate that is published (its own `Cargo.toml` has no `publish = false`)
/// has `#![deny(missing_docs)]` in its `lib.rs`.
#[test]
fn published_libraries_deny_missing_docs() -> Result<()> {
    let mut offenders = Vec::new();
    for member in members()?.iter().filter(|m| m.published()) {
        let lib = member.path().join("src/lib.rs");
        if lib.is_file() && !read(&lib)?.lines().any(|l| l.trim() == "#![deny(missing_docs)]") {
            offenders.push(rel(&lib));
        }
    }
    check("every published library should have `#![deny(missing_docs)]`", offenders)
}

/// The workspace denies `clippy::undocumented_unsafe_blocks`, and, checked as text, every
/// line with an `unsafe` block has a `// SAFETY:` comment on it or in the 8 lines above.
#[test]
fn unsafe_blocks_have_safety_comments() -> Result<()> {
    let toml = read(&root().join("Cargo.toml"))?;
    let clippy = toml.split("[workspace.lints.clippy]").nth(1).context("no [workspace.lints.clippy]")?;
    let clippy = clippy.split("\n[").next().unwrap_or_default();
    let mut offenders = Vec::new();
    if !clippy.lines().any(|l| l.replace(' ', "") == r#"undocumented_unsafe_blocks="deny""#) {
        offenders.push("Cargo.toml ([workspace.lints.clippy] lacks `undocumented_unsafe_blocks = \"deny\"`)".into());
    }
    let block = concat!("unsafe", " {"); // Spelled in two so that this file does not match.
    for file in member_sources()? {
        let text = read(&root().join(&file))?;
        let lines: Vec<&str> = text.lines().collect();
        for (i, _) in lines.iter().enumerate().filter(|(_, l)| l.contains(block)) {
            if !lines[i.saturating_sub(8)..=i].iter().any(|l| l.contains("// SAFETY:")) {
                offenders.push(format!("{file}:{}", i + 1));
            }
        }
    }
    check("clippy should deny undocumented `unsafe` blocks and each should have a `// SAFETY:` comment", offenders)
}

/// ARCHITECTURE.md names every workspace crate (its package name, in backticks) and every
/// member directory (in backticks, with or without a trailing `/`).
#[test]
fn architecture_names_every_crate() -> Result<()> {
    let spans: BTreeSet<String> = backticked(&read(&root().join("ARCHITECTURE.md"))?).into_iter().collect();
    let mut offenders = Vec::new();
    for member in members()? {
        let package = member.package().unwrap_or_default();
        if !spans.contains(package) {
            offenders.push(format!("package `{package}` ({})", member.dir));
        }
        if !spans.contains(&member.dir) && !spans.contains(&format!("{}/", member.dir)) {
            offenders.push(format!("directory `{}/`", member.dir));
        }
    }
    check("ARCHITECTURE.md should name every crate and member directory", offenders)
}

/// Every ADR in `docs/adr/` is linked from README.md (by its file name).
#[test]
fn readme_links_every_adr() -> Result<()> {
    let readme = read(&root().join("README.md"))?;
    let mut offenders = Vec::new();
    for entry in std::fs::read_dir(root().join("docs/adr"))? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if name.ends_with(".md") && !readme.contains(&name) {
            offenders.push(format!("docs/adr/{name}"));
        }
    }
    offenders.sort();
    check("README.md should link every ADR", offenders)
}

/// No source file outside the tests is longer than 400 lines, unless its first 30 lines
/// say why with a `Long file:` marker followed by a reason. A file's unit tests (from
/// its `#[cfg(test)]` module on) do not count: they are tests.
#[test]
fn no_long_files_without_a_reason() -> Result<()> {
    let mut offenders = Vec::new();
    for file in member_sources()? {
        if file.starts_with("tests/") || file.contains("/tests/") || file.ends_with("_tests.rs") {
            continue;
        }
        let text = read(&root().join(&file))?;
        let marked =
            text.lines().take(30).any(|l| l.split_once("Long file:").is_some_and(|(_, r)| !r.trim().is_empty()));
        let lines = text.lines().take_while(|l| *l != "#[cfg(test)]").count();
        if lines > MAX_LINES && !marked {
            offenders.push(format!("{file} ({lines} lines)"));
        }
    }
    check(
        "files over 400 lines (before their unit tests) should give a reason (`Long file: ...`) in their first 30 lines",
        offenders,
    )
}

/// ARCHITECTURE.md's code map matches the tree: every file under a crate's `src/` is
/// mentioned by name (`pool.rs` or `vm/pool.rs`, in backticks; crate roots, `mod.rs` and
/// `*_tests.rs` excepted), and every `*.rs` it mentions exists in the workspace.
#[test]
fn code_map_matches_the_tree() -> Result<()> {
    let entries: Vec<String> =
        backticked(&read(&root().join("ARCHITECTURE.md"))?).into_iter().filter(|s| s.ends_with(".rs")).collect();
    let mut offenders = Vec::new();
    for member in members()? {
        for file in rust_files(&member.path().join("src"))? {
            let (path, name) = (rel(&file), file.file_name().unwrap_or_default().to_string_lossy());
            let excepted = ["lib.rs", "main.rs", "mod.rs"].contains(&&*name) || name.ends_with("_tests.rs");
            if !excepted && !entries.iter().any(|e| names(e, &path)) {
                offenders.push(format!("{path} is not in the code map"));
            }
        }
    }
    let everything: Vec<String> = rust_files(&root())?.into_iter().map(|f| rel(&f)).collect();
    for entry in &entries {
        if !everything.iter().any(|f| names(entry, f)) {
            offenders.push(format!("`{entry}` (in ARCHITECTURE.md) does not exist"));
        }
    }
    check("ARCHITECTURE.md's code map should match the tree", offenders)
}

/// README's embedding example is `wasmod/examples/embed.rs` (from its `use` line on),
/// which CI builds: the copy a reader sees is code that compiles and runs.
#[test]
fn readme_embedding_example_is_the_built_example() -> Result<()> {
    let example = read(&root().join("wasmod/examples/embed.rs"))?;
    let body = example.find("use wasmod::").map_or("", |at| &example[at..]).trim_end();
    let readme = read(&root().join("README.md"))?;
    let offenders = if !body.is_empty() && readme.contains(&format!("```rust\n{body}\n```")) {
        Vec::new()
    } else {
        vec!["README.md's `## Embedding` block differs from wasmod/examples/embed.rs".to_owned()]
    };
    check("README.md should show wasmod/examples/embed.rs as it is", offenders)
}
