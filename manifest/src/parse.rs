//! From RON text to a checked [`Manifest`], and back.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::marker::PhantomData;

use ron::extensions::Extensions;
use semver::{Version, VersionReq};
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use wasmod_host_abi::names::{check_config_key, check_dotted_name, check_function_name};
use wasmod_host_abi::{ConfigType, ConfigValue};

use crate::error::{Location, ManifestError, Problem, ProblemKind};
use crate::model::{ConfigKey, Function, Manifest, ModuleName};

/// How deeply RON values may nest. A manifest needs four levels; anything deeper is
/// hostile input and is refused before it can exhaust the stack.
const RECURSION_LIMIT: usize = 16;

fn ron_options() -> ron::Options {
    ron::Options::default().with_default_extension(Extensions::IMPLICIT_SOME).with_recursion_limit(RECURSION_LIMIT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename = "Manifest")]
struct RawManifest {
    name: String,
    version: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default, deserialize_with = "unique_map")]
    dependencies: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "unique_map")]
    config: BTreeMap<String, RawConfigKey>,
    #[serde(default, deserialize_with = "unique_map")]
    functions: BTreeMap<String, RawFunction>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename = "ConfigKey")]
struct RawConfigKey {
    #[serde(rename = "type")]
    ty: ConfigType,
    #[serde(default)]
    default: Option<ConfigValue>,
    #[serde(default)]
    required: bool,
    #[serde(default)]
    doc: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename = "Function")]
struct RawFunction {
    #[serde(default)]
    file: Option<String>,
    implements: String,
    #[serde(default)]
    groups: Vec<String>,
}

/// Deserializes a map, refusing a key that appears twice (serde's `BTreeMap` keeps
/// the last silently, which would hide a mistake).
fn unique_map<'de, D, V>(deserializer: D) -> Result<BTreeMap<String, V>, D::Error>
where
    D: Deserializer<'de>,
    V: Deserialize<'de>,
{
    struct UniqueMap<V>(PhantomData<V>);
    impl<'de, V: Deserialize<'de>> Visitor<'de> for UniqueMap<V> {
        type Value = BTreeMap<String, V>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a map with string keys")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
            let mut map = BTreeMap::new();
            while let Some(key) = access.next_key::<String>()? {
                if map.contains_key(&key) {
                    return Err(de::Error::custom(format!("key `{key}` is given twice")));
                }
                let value = access.next_value()?;
                map.insert(key, value);
            }
            Ok(map)
        }
    }
    deserializer.deserialize_map(UniqueMap(PhantomData))
}

impl Manifest {
    /// Parses and checks `module.ron`. A syntax error stops at the first one; semantic
    /// problems are all collected.
    pub fn from_ron(source: &str) -> Result<Manifest, ManifestError> {
        let raw: RawManifest = ron_options().from_str(source).map_err(|e| ManifestError::Syntax {
            at: Location { line: e.span.start.line, column: e.span.start.col },
            message: e.code.to_string(),
        })?;
        Checker { source, problems: Vec::new() }.check(raw)
    }

    /// Writes the manifest as pretty RON that [`Manifest::from_ron`] reads back to an
    /// equal value.
    pub fn to_ron(&self) -> String {
        let pretty = ron::ser::PrettyConfig::new().struct_names(false).indentor("    ").new_line("\n");
        ron_options()
            .to_string_pretty(self, pretty)
            .expect("a manifest always serialises: all keys are strings and floats are finite")
    }
}

struct Checker<'s> {
    source: &'s str,
    problems: Vec<Problem>,
}

impl Checker<'_> {
    fn report(&mut self, kind: ProblemKind, field: String, anchors: &[Anchor<'_>]) {
        let at = locate(self.source, anchors);
        self.problems.push(Problem { kind, field, at });
    }

    fn check(mut self, raw: RawManifest) -> Result<Manifest, ManifestError> {
        let name = match ModuleName::new(raw.name.clone()) {
            Ok(n) => Some(n),
            Err(reason) => {
                self.report(
                    ProblemKind::InvalidModuleName { value: raw.name.clone(), reason },
                    "name".into(),
                    &[Anchor::Field("name")],
                );
                None
            }
        };
        let version = match Version::parse(&raw.version) {
            Ok(v) => Some(v),
            Err(e) => {
                self.report(
                    ProblemKind::InvalidVersion { value: raw.version.clone(), reason: e.to_string() },
                    "version".into(),
                    &[Anchor::Field("version")],
                );
                None
            }
        };

        let mut dependencies = BTreeMap::new();
        for (dep, req) in &raw.dependencies {
            let anchors = [Anchor::Field("dependencies"), Anchor::Str(dep)];
            let field = format!("dependencies.{dep}");
            let dep_name = match ModuleName::new(dep.clone()) {
                Ok(n) => Some(n),
                Err(reason) => {
                    self.report(
                        ProblemKind::InvalidDependencyName { value: dep.clone(), reason },
                        field.clone(),
                        &anchors,
                    );
                    None
                }
            };
            if raw.name == *dep {
                self.report(ProblemKind::SelfDependency { module: dep.clone() }, field.clone(), &anchors);
            }
            let req_parsed = match VersionReq::parse(req) {
                Ok(r) => Some(r),
                Err(e) => {
                    self.report(
                        ProblemKind::InvalidVersionReq {
                            module: dep.clone(),
                            value: req.clone(),
                            reason: e.to_string(),
                        },
                        field,
                        &[Anchor::Field("dependencies"), Anchor::Str(dep), Anchor::Str(req)],
                    );
                    None
                }
            };
            if let (Some(n), Some(r)) = (dep_name, req_parsed) {
                dependencies.insert(n, r);
            }
        }

        let mut config = BTreeMap::new();
        for (key, raw_key) in raw.config {
            let anchors = [Anchor::Field("config"), Anchor::Str(&key)];
            let field = format!("config.{key}");
            if let Err(reason) = check_config_key(&key) {
                self.report(ProblemKind::InvalidConfigKey { key: key.clone(), reason }, field.clone(), &anchors);
            }
            let default = match raw_key.default {
                None => None,
                Some(value) => match value.clone().coerce(raw_key.ty) {
                    Some(v) => Some(v),
                    None => {
                        self.report(
                            ProblemKind::DefaultTypeMismatch { key: key.clone(), ty: raw_key.ty, value },
                            format!("{field}.default"),
                            &[Anchor::Field("config"), Anchor::Str(&key), Anchor::Field("default")],
                        );
                        None
                    }
                },
            };
            if raw_key.required && default.is_some() {
                self.report(ProblemKind::RequiredWithDefault { key: key.clone() }, field, &anchors);
            }
            config.insert(key, ConfigKey { ty: raw_key.ty, default, required: raw_key.required, doc: raw_key.doc });
        }

        let mut functions = BTreeMap::new();
        let mut files: BTreeMap<String, String> = BTreeMap::new();
        let mut init: Option<String> = None;
        for (fname, raw_fn) in raw.functions {
            let field = format!("functions.{fname}");
            let at_fn = [Anchor::Field("functions"), Anchor::Str(&fname)];
            if let Err(reason) = check_function_name(&fname) {
                self.report(
                    ProblemKind::InvalidFunctionName { function: fname.clone(), reason },
                    field.clone(),
                    &at_fn,
                );
            }
            let file = raw_fn.file.unwrap_or_else(|| format!("{fname}.wasm"));
            let at_file = [Anchor::Field("functions"), Anchor::Str(&fname), Anchor::Field("file")];
            if let Err(reason) = check_file_path(&file) {
                self.report(
                    ProblemKind::InvalidFilePath { function: fname.clone(), value: file.clone(), reason },
                    format!("{field}.file"),
                    &at_file,
                );
            }
            if let Some(first) = files.get(&file) {
                self.report(
                    ProblemKind::DuplicateFile { file: file.clone(), first: first.clone(), second: fname.clone() },
                    format!("{field}.file"),
                    &at_file,
                );
            } else {
                files.insert(file.clone(), fname.clone());
            }
            let at_impl = [Anchor::Field("functions"), Anchor::Str(&fname), Anchor::Field("implements")];
            if let Err(reason) = check_dotted_name(&raw_fn.implements) {
                self.report(
                    ProblemKind::InvalidSubsystemName {
                        function: fname.clone(),
                        value: raw_fn.implements.clone(),
                        reason,
                    },
                    format!("{field}.implements"),
                    &at_impl,
                );
            }
            if raw_fn.implements == wasmod_host_abi::abi::INIT_HOOK {
                match &init {
                    Some(first) => self.report(
                        ProblemKind::DuplicateInitHook { first: first.clone(), second: fname.clone() },
                        format!("{field}.implements"),
                        &at_impl,
                    ),
                    None => init = Some(fname.clone()),
                }
            }
            let mut groups = BTreeSet::new();
            for group in &raw_fn.groups {
                let at_group =
                    [Anchor::Field("functions"), Anchor::Str(&fname), Anchor::Field("groups"), Anchor::Str(group)];
                if let Err(reason) = check_dotted_name(group) {
                    self.report(
                        ProblemKind::InvalidGroupName { function: fname.clone(), group: group.clone(), reason },
                        format!("{field}.groups"),
                        &at_group,
                    );
                }
                if !groups.insert(group.clone()) {
                    self.report(
                        ProblemKind::DuplicateGroup { function: fname.clone(), group: group.clone() },
                        format!("{field}.groups"),
                        &at_group,
                    );
                }
            }
            functions
                .insert(fname, Function { file, implements: raw_fn.implements, groups: groups.into_iter().collect() });
        }

        match (name, version) {
            (Some(name), Some(version)) if self.problems.is_empty() => {
                Ok(Manifest { name, version, description: raw.description, dependencies, config, functions })
            }
            _ => Err(ManifestError::Invalid(self.problems)),
        }
    }
}

/// Checks that a path inside the package is relative, uses `/`, has no empty, `.` or
/// `..` segment, and names a `.wasm` file.
pub(crate) fn check_file_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("is empty".into());
    }
    if path.len() > 255 {
        return Err("is longer than 255 bytes".into());
    }
    if path.contains('\\') {
        return Err("contains a backslash".into());
    }
    if path.starts_with('/') || path.as_bytes().get(1) == Some(&b':') {
        return Err("is absolute".into());
    }
    if path.chars().any(|c| c.is_control()) {
        return Err("contains a control character".into());
    }
    for segment in path.split('/') {
        match segment {
            "" => return Err("has an empty segment (`//` or a trailing `/`)".into()),
            "." | ".." => return Err(format!("has a `{segment}` segment")),
            _ => {}
        }
    }
    if !path.ends_with(".wasm") || path.ends_with("/.wasm") || path == ".wasm" {
        return Err("does not name a `.wasm` file".into());
    }
    Ok(())
}

/// Finds where a field of a function's entry is in `module.ron` (`field` is `file`,
/// `implements` or `groups`; with `None`, the function's key itself). For tools that
/// report about a function after the manifest parsed (the validator).
pub fn locate_function_field(source: &str, function: &str, field: Option<&str>) -> Option<Location> {
    match field {
        Some(f) => locate(source, &[Anchor::Field("functions"), Anchor::Str(function), Anchor::Field(f)]),
        None => locate(source, &[Anchor::Field("functions"), Anchor::Str(function)]),
    }
}

/// A landmark in the source, searched for in order to locate a value.
#[derive(Clone, Copy)]
enum Anchor<'a> {
    /// A bare field name followed by `:`.
    Field(&'a str),
    /// A string literal with exactly this content.
    Str(&'a str),
}

/// Finds each anchor after the previous one and returns the position of the last.
/// `None` when an anchor is not found (the message still names the field).
fn locate(source: &str, anchors: &[Anchor<'_>]) -> Option<Location> {
    let mut from = 0;
    let mut found = None;
    for anchor in anchors {
        let pos = match *anchor {
            Anchor::Field(name) => find_field(source, from, name)?,
            Anchor::Str(s) => {
                let quoted = format!("{s:?}");
                from + source[from..].find(&quoted)?
            }
        };
        found = Some(pos);
        from = pos + 1;
    }
    found.map(|offset| offset_to_location(source, offset))
}

fn find_field(source: &str, from: usize, name: &str) -> Option<usize> {
    let bytes = source.as_bytes();
    let mut start = from;
    while let Some(rel) = source[start..].find(name) {
        let pos = start + rel;
        let before_ok =
            pos == 0 || !(bytes[pos - 1].is_ascii_alphanumeric() || bytes[pos - 1] == b'_' || bytes[pos - 1] == b'"');
        let after = source[pos + name.len()..].trim_start();
        if before_ok && after.starts_with(':') {
            return Some(pos);
        }
        start = pos + name.len();
    }
    None
}

fn offset_to_location(source: &str, offset: usize) -> Location {
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    Location { line, column }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_paths() {
        for ok in ["a.wasm", "fns/place_order.wasm", "a.b.wasm"] {
            assert!(check_file_path(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "/a.wasm",
            "C:/a.wasm",
            "a\\b.wasm",
            "./a.wasm",
            "a/../b.wasm",
            "a//b.wasm",
            "a.txt",
            "dir/.wasm",
            "a\n.wasm",
        ] {
            assert!(check_file_path(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn locate_finds_nested_values() {
        let src = "(\n  name: \"x/y\",\n  functions: {\n    \"run\": (file: \"bad\"),\n  },\n)";
        let at = locate(src, &[Anchor::Field("functions"), Anchor::Str("run"), Anchor::Field("file")]).unwrap();
        assert_eq!(at, Location { line: 4, column: 13 });
        assert_eq!(locate(src, &[Anchor::Field("nope")]), None);
    }
}
