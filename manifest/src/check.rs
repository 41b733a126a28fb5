//! The semantic phase of reading `module.ron`: every rule the parsed text must obey,
//! checked part by part (name, version, dependencies, config, functions), every broken
//! rule collected as a [`Problem`] with its field and position.

use std::collections::{BTreeMap, BTreeSet};

use semver::{Version, VersionReq};
use wasmod_host_abi::names::{check_config_key, check_dotted_name, check_function_name};

use crate::error::{ManifestError, Problem, ProblemKind};
use crate::locate::{Anchor, locate};
use crate::model::{ConfigKey, Function, Manifest, ModuleName};
use crate::parse::{RawConfigKey, RawFunction, RawManifest};

/// Turns a [`RawManifest`] into a [`Manifest`], or into every problem it has.
pub(crate) struct Checker<'s> {
    /// The text the raw manifest was parsed from, where problems are located.
    source: &'s str,
    problems: Vec<Problem>,
}

/// What the functions checked so far claim, for the rules across functions.
#[derive(Default)]
struct Claimed {
    /// Each file, with the first function (in name order) that uses it.
    files: BTreeMap<String, String>,
    /// The first function that implements the `init` hook.
    init: Option<String>,
}

impl<'s> Checker<'s> {
    pub(crate) fn new(source: &'s str) -> Self {
        Checker { source, problems: Vec::new() }
    }

    fn report(&mut self, kind: ProblemKind, field: String, anchors: &[Anchor<'_>]) {
        let at = locate(self.source, anchors);
        self.problems.push(Problem { kind, field, at });
    }

    /// Checks every part; the problems come in the order of the parts, then of the keys.
    pub(crate) fn check(mut self, raw: RawManifest) -> Result<Manifest, ManifestError> {
        let name = self.name(&raw.name);
        let version = self.version(&raw.version);
        let dependencies = self.dependencies(&raw.name, &raw.dependencies);
        let config = self.config(raw.config);
        let functions = self.functions(raw.functions);
        match (name, version) {
            (Some(name), Some(version)) if self.problems.is_empty() => {
                Ok(Manifest { name, version, description: raw.description, dependencies, config, functions })
            }
            _ => Err(ManifestError::Invalid(self.problems)),
        }
    }

    fn name(&mut self, name: &str) -> Option<ModuleName> {
        match ModuleName::new(name) {
            Ok(n) => Some(n),
            Err(e) => {
                let reason = e.reason;
                self.report(
                    ProblemKind::InvalidModuleName { value: name.to_owned(), reason },
                    "name".into(),
                    &[Anchor::Field("name")],
                );
                None
            }
        }
    }

    fn version(&mut self, version: &str) -> Option<Version> {
        match Version::parse(version) {
            Ok(v) => Some(v),
            Err(e) => {
                self.report(
                    ProblemKind::InvalidVersion { value: version.to_owned(), reason: e.to_string() },
                    "version".into(),
                    &[Anchor::Field("version")],
                );
                None
            }
        }
    }

    /// The dependencies of module `module` whose name and requirement are both valid.
    fn dependencies(&mut self, module: &str, raw: &BTreeMap<String, String>) -> BTreeMap<ModuleName, VersionReq> {
        raw.iter().filter_map(|(dep, req)| self.dependency(module, dep, req)).collect()
    }

    fn dependency(&mut self, module: &str, dep: &str, req: &str) -> Option<(ModuleName, VersionReq)> {
        let anchors = [Anchor::Field("dependencies"), Anchor::Str(dep)];
        let field = format!("dependencies.{dep}");
        let dep_name = match ModuleName::new(dep) {
            Ok(n) => Some(n),
            Err(e) => {
                let reason = e.reason;
                self.report(
                    ProblemKind::InvalidDependencyName { value: dep.to_owned(), reason },
                    field.clone(),
                    &anchors,
                );
                None
            }
        };
        if module == dep {
            self.report(ProblemKind::SelfDependency { module: dep.to_owned() }, field.clone(), &anchors);
        }
        let req_parsed = match VersionReq::parse(req) {
            Ok(r) => Some(r),
            Err(e) => {
                self.report(
                    ProblemKind::InvalidVersionReq {
                        module: dep.to_owned(),
                        value: req.to_owned(),
                        reason: e.to_string(),
                    },
                    field,
                    &[Anchor::Field("dependencies"), Anchor::Str(dep), Anchor::Str(req)],
                );
                None
            }
        };
        dep_name.zip(req_parsed)
    }

    fn config(&mut self, raw: BTreeMap<String, RawConfigKey>) -> BTreeMap<String, ConfigKey> {
        raw.into_iter()
            .map(|(key, raw_key)| {
                let checked = self.config_key(&key, raw_key);
                (key, checked)
            })
            .collect()
    }

    /// One config key: its name, and its default against its type and `required`. A
    /// default of the wrong type is dropped (and reported).
    fn config_key(&mut self, key: &str, raw: RawConfigKey) -> ConfigKey {
        let anchors = [Anchor::Field("config"), Anchor::Str(key)];
        let field = format!("config.{key}");
        if let Err(reason) = check_config_key(key) {
            self.report(ProblemKind::InvalidConfigKey { key: key.to_owned(), reason }, field.clone(), &anchors);
        }
        let default = match raw.default {
            None => None,
            Some(value) => match value.clone().coerce(raw.ty) {
                Some(v) => Some(v),
                None => {
                    self.report(
                        ProblemKind::DefaultTypeMismatch { key: key.to_owned(), ty: raw.ty, value },
                        format!("{field}.default"),
                        &[Anchor::Field("config"), Anchor::Str(key), Anchor::Field("default")],
                    );
                    None
                }
            },
        };
        if raw.required && default.is_some() {
            self.report(ProblemKind::RequiredWithDefault { key: key.to_owned() }, field, &anchors);
        }
        ConfigKey { ty: raw.ty, default, required: raw.required, doc: raw.doc }
    }

    fn functions(&mut self, raw: BTreeMap<String, RawFunction>) -> BTreeMap<String, Function> {
        let mut claimed = Claimed::default();
        raw.into_iter()
            .map(|(name, raw_fn)| {
                let function = self.function(&name, raw_fn, &mut claimed);
                (name, function)
            })
            .collect()
    }

    /// One function: its name, file, `implements` and groups.
    fn function(&mut self, name: &str, raw: RawFunction, claimed: &mut Claimed) -> Function {
        if let Err(reason) = check_function_name(name) {
            self.report(
                ProblemKind::InvalidFunctionName { function: name.to_owned(), reason },
                format!("functions.{name}"),
                &[Anchor::Field("functions"), Anchor::Str(name)],
            );
        }
        let file = raw.file.unwrap_or_else(|| format!("{name}.wasm"));
        self.function_file(name, &file, &mut claimed.files);
        self.implements(name, &raw.implements, &mut claimed.init);
        let groups = self.groups(name, &raw.groups);
        Function { file, implements: raw.implements, groups }
    }

    /// The path's syntax, and that no function before this one uses the same file.
    fn function_file(&mut self, function: &str, file: &str, files: &mut BTreeMap<String, String>) {
        let field = format!("functions.{function}.file");
        let anchors = [Anchor::Field("functions"), Anchor::Str(function), Anchor::Field("file")];
        if let Err(reason) = check_file_path(file) {
            self.report(
                ProblemKind::InvalidFilePath { function: function.to_owned(), value: file.to_owned(), reason },
                field.clone(),
                &anchors,
            );
        }
        if let Some(first) = files.get(file) {
            self.report(
                ProblemKind::DuplicateFile { file: file.to_owned(), first: first.clone(), second: function.to_owned() },
                field,
                &anchors,
            );
        } else {
            files.insert(file.to_owned(), function.to_owned());
        }
    }

    /// The subsystem name's syntax, and that no function before this one implements
    /// `init` too.
    fn implements(&mut self, function: &str, implements: &str, init: &mut Option<String>) {
        let field = format!("functions.{function}.implements");
        let anchors = [Anchor::Field("functions"), Anchor::Str(function), Anchor::Field("implements")];
        if let Err(reason) = check_dotted_name(implements) {
            self.report(
                ProblemKind::InvalidSubsystemName {
                    function: function.to_owned(),
                    value: implements.to_owned(),
                    reason,
                },
                field.clone(),
                &anchors,
            );
        }
        if implements == wasmod_host_abi::abi::INIT_HOOK {
            match init {
                Some(first) => self.report(
                    ProblemKind::DuplicateInitHook { first: first.clone(), second: function.to_owned() },
                    field,
                    &anchors,
                ),
                None => *init = Some(function.to_owned()),
            }
        }
    }

    /// Each group's syntax, each listed once; returns the groups sorted.
    fn groups(&mut self, function: &str, groups: &[String]) -> Vec<String> {
        let field = format!("functions.{function}.groups");
        let mut unique = BTreeSet::new();
        for group in groups {
            let anchors =
                [Anchor::Field("functions"), Anchor::Str(function), Anchor::Field("groups"), Anchor::Str(group)];
            if let Err(reason) = check_dotted_name(group) {
                self.report(
                    ProblemKind::InvalidGroupName { function: function.to_owned(), group: group.clone(), reason },
                    field.clone(),
                    &anchors,
                );
            }
            if !unique.insert(group.clone()) {
                self.report(
                    ProblemKind::DuplicateGroup { function: function.to_owned(), group: group.clone() },
                    field.clone(),
                    &anchors,
                );
            }
        }
        unique.into_iter().collect()
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
}
