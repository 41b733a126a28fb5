//! The import checks of one file: every import is a function of a group the host offers
//! (right version, right name, exact signature), declared for the function in module.ron
//! and allowed for its subsystem.

use std::collections::{BTreeMap, BTreeSet};

use wasmod_host_abi::GroupDef;
use wasmod_host_abi::groups::{import_module, parse_import_module};
use wasmparser::TypeRef;

use super::FilePass;
use super::shape::{Shape, show};
use crate::diagnostic::{Code, Diagnostic, DiagnosticLocation};
use crate::policy::SubsystemDef;

/// Import names by group, for the findings reported once per group.
type NamesByGroup<'a> = BTreeMap<&'a str, Vec<String>>;

impl<'a> FilePass<'_, 'a> {
    /// Checks every import; returns the groups the file imports from.
    pub(super) fn check_imports(&mut self, s: &Shape) -> BTreeSet<String> {
        self.check_import_count(s);
        let declared = self.declared_groups();
        let mut used = BTreeSet::new();
        let mut undeclared = NamesByGroup::new();
        let mut not_allowed = NamesByGroup::new();
        for import in &s.imports {
            let Some((group_name, group)) = self.check_import(s, import) else { continue };
            let name = &import.1;
            used.insert(group_name.to_string());
            if !declared.contains(group_name) {
                undeclared.entry(group.name.as_ref()).or_default().push(name.clone());
            }
            if let Some(sub) = self.cx.subsystem
                && !sub.groups.iter().any(|g| g == group_name)
            {
                not_allowed.entry(group.name.as_ref()).or_default().push(name.clone());
            }
        }
        self.report_undeclared(undeclared);
        self.report_not_allowed(not_allowed);
        used
    }

    fn check_import_count(&mut self, s: &Shape) {
        let limits = self.limits();
        if s.imports.len() as u64 > u64::from(limits.max_imports) {
            self.push(Diagnostic::new(
                Code::TooManyImports,
                DiagnosticLocation::Section { section: "import" },
                format!("{} imports, more than the host's limit of {}", s.imports.len(), limits.max_imports),
                "import fewer host functions",
            ));
        }
    }

    /// Checks one import against the policy's groups. Returns its group's name as the
    /// import gives it and the group, unless it names no function of an offered group;
    /// a wrong signature is reported and still counts as a use of the group.
    fn check_import<'s>(
        &mut self,
        s: &Shape,
        (module, name, ty): &'s (String, String, TypeRef),
    ) -> Option<(&'s str, &'a GroupDef)> {
        let policy = self.cx.policy;
        let at = DiagnosticLocation::Import { module: module.clone(), name: name.clone() };
        let TypeRef::Func(type_index) = ty else {
            self.push(Diagnostic::new(
                Code::ImportNotAFunction,
                at,
                "imports something other than a function; ABI v1 allows only host functions",
                "define the memory, table or global in the module instead of importing it",
            ));
            return None;
        };
        let Some((group_name, version)) = parse_import_module(module) else {
            self.push(Diagnostic::new(
                Code::ImportNotAGroup,
                at,
                format!("imports from `{module}`, which is not a host-function group"),
                "a wasm file may import only from `wasmod:<group>@<version>` modules; remove the import \
                 (Rust: do not use crates that need wasm-bindgen or WASI)",
            ));
            return None;
        };
        let Some(group) = policy.group(group_name).filter(|g| g.version == version) else {
            let message = match policy.group(group_name).map(|g| g.version) {
                Some(v) => format!("imports `{group_name}` version {version}, but this host offers version {v}"),
                None => format!("imports from group `{group_name}`, which this host does not offer"),
            };
            self.push(Diagnostic::new(Code::ImportUnknownGroup, at, message, "use only groups the host documents"));
            return None;
        };
        let Some(def) = group.function(name) else {
            self.push(Diagnostic::new(
                Code::ImportUnknownFunction,
                at,
                format!("group `{group_name}` has no function `{name}`"),
                format!(
                    "`{group_name}` offers: {}",
                    group.functions.iter().map(|f| f.name.as_ref()).collect::<Vec<_>>().join(", ")
                ),
            ));
            return None;
        };
        let sig = s.types.get(*type_index as usize).and_then(Option::as_ref);
        if !sig.is_some_and(|(p, r)| def.signature.matches(p, r)) {
            self.push(Diagnostic::new(
                Code::ImportBadSignature,
                at,
                format!("imports `{group_name}.{name}` as {}, but its signature is {}", show(sig), def.signature),
                "fix the import declaration (with the sdk this cannot happen: are you on a matching version?)",
            ));
        }
        Some((group_name, group))
    }

    /// Imports from groups module.ron does not declare for the function, one finding per
    /// group.
    fn report_undeclared(&mut self, undeclared: NamesByGroup<'_>) {
        let function = self.cx.name;
        for (group, names) in undeclared {
            self.push(Diagnostic::new(
                Code::ImportUndeclaredGroup,
                self.group_import(group, &names),
                format!(
                    "imports `{group}` ({}) but module.ron does not declare group `{group}` for function `{function}`",
                    names.join(", "),
                ),
                format!("add \"{group}\" to `functions.{function}.groups` in module.ron"),
            ));
        }
    }

    /// Imports from groups the function's subsystem may not use, one finding per group.
    fn report_not_allowed(&mut self, not_allowed: NamesByGroup<'_>) {
        let implements = &self.cx.function.implements;
        for (group, names) in not_allowed {
            self.push(Diagnostic::new(
                Code::ImportGroupNotAllowed,
                self.group_import(group, &names),
                format!(
                    "imports `{group}` ({}), which the host does not allow for subsystem `{implements}`",
                    names.join(", ")
                ),
                format!("subsystem `{implements}` may use only: {}", self.allowed_list()),
            ));
        }
    }

    /// Where a per-group finding points: the first import of the group.
    fn group_import(&self, group: &str, names: &[String]) -> DiagnosticLocation {
        let version = self.cx.policy.group(group).map_or(1, |g| g.version);
        DiagnosticLocation::Import { module: import_module(group, version), name: names[0].clone() }
    }

    /// The groups the function's subsystem allows, for a hint.
    fn allowed_list(&self) -> String {
        self.cx.subsystem.map_or_else(|| "no groups".into(), SubsystemDef::allowed_groups)
    }
}
