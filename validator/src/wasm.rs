//! Checks of one function file against the ABI, the manifest and the host policy.

use std::collections::{BTreeMap, BTreeSet};

use wasmod_host_abi::abi::{ABI_EXPORTS, ENTRY_SIGNATURE, ExportKind};
use wasmod_host_abi::groups::parse_import_module;
use wasmod_host_abi::{HostPolicy, SubsystemDef, ValType};
use wasmod_manifest::Function;
use wasmparser::{ExternalKind, Parser, Payload, TypeRef, Validator};

use crate::diagnostic::{Code, Diagnostic, Location, Report};
use crate::features::{self, Rejection};

/// What is known about the function being checked.
pub(crate) struct FunctionContext<'a> {
    pub name: &'a str,
    pub function: &'a Function,
    /// `None` when the subsystem is unknown (already reported).
    pub subsystem: Option<&'a SubsystemDef>,
    pub policy: &'a HostPolicy,
}

/// The shape of a file, gathered in one pass after validation succeeded.
type Sig = (Vec<ValType>, Vec<ValType>);

#[derive(Default)]
struct Shape {
    /// Function types; `None` for one with reference-typed parameters or results, which
    /// never matches an ABI signature.
    types: Vec<Option<Sig>>,
    /// The same types as the engine identifies them.
    engine_types: Vec<Option<crate::signatures::FileType>>,
    imports: Vec<(String, String, TypeRef)>,
    /// Type index of every function, imported ones first.
    func_types: Vec<u32>,
    imported_funcs: usize,
    exports: BTreeMap<String, (ExternalKind, u32)>,
    memories: Vec<wasmparser::MemoryType>,
    tables: Vec<wasmparser::TableType>,
    data_bytes: u64,
    start: Option<(u32, u64)>,
}

fn val(t: &wasmparser::ValType) -> Option<ValType> {
    Some(match t {
        wasmparser::ValType::I32 => ValType::I32,
        wasmparser::ValType::I64 => ValType::I64,
        wasmparser::ValType::F32 => ValType::F32,
        wasmparser::ValType::F64 => ValType::F64,
        _ => return None,
    })
}

fn shape(bytes: &[u8]) -> Result<Shape, wasmparser::BinaryReaderError> {
    let mut s = Shape::default();
    for payload in Parser::new(0).parse_all(bytes) {
        match payload? {
            Payload::TypeSection(section) => {
                for ty in section.into_iter_err_on_gc_types() {
                    let ty = ty?;
                    let params = ty.params().iter().map(val).collect::<Option<Vec<_>>>();
                    let results = ty.results().iter().map(val).collect::<Option<Vec<_>>>();
                    s.types.push(params.zip(results));
                    s.engine_types.push(crate::signatures::file_type(&ty));
                }
            }
            Payload::ImportSection(section) => {
                for import in section.into_imports() {
                    let import = import?;
                    if let TypeRef::Func(t) = import.ty {
                        s.func_types.push(t);
                        s.imported_funcs += 1;
                    }
                    s.imports.push((import.module.to_string(), import.name.to_string(), import.ty));
                }
            }
            Payload::FunctionSection(section) => {
                for t in section {
                    s.func_types.push(t?);
                }
            }
            Payload::TableSection(section) => {
                for table in section {
                    s.tables.push(table?.ty);
                }
            }
            Payload::MemorySection(section) => {
                for memory in section {
                    s.memories.push(memory?);
                }
            }
            Payload::ExportSection(section) => {
                for export in section {
                    let export = export?;
                    s.exports.insert(export.name.to_string(), (export.kind, export.index));
                }
            }
            Payload::StartSection { func, range } => s.start = Some((func, range.start)),
            Payload::DataSection(section) => {
                for data in section {
                    s.data_bytes += data?.data.len() as u64;
                }
            }
            _ => {}
        }
    }
    Ok(s)
}

impl Shape {
    fn func_signature(&self, index: u32) -> Option<&Sig> {
        self.types.get(*self.func_types.get(index as usize)? as usize)?.as_ref()
    }
}

fn show(sig: Option<&Sig>) -> String {
    match sig {
        Some((params, results)) => {
            wasmod_host_abi::Signature { params: params.clone().into(), results: results.clone().into() }.to_string()
        }
        None => "a signature with reference types".into(),
    }
}

/// Checks one file; returns the groups it imports (for the unused-group warning and the
/// grants).
pub(crate) fn check_file(cx: &FunctionContext<'_>, bytes: &[u8], report: &mut Report) -> BTreeSet<String> {
    let file = cx.function.file.as_str();
    let limits = &cx.policy.limits;
    let mut push = |d: Diagnostic| report.push(d.in_function(cx.name, file));
    let mut used = BTreeSet::new();

    if bytes.len() as u64 > limits.max_file_bytes {
        push(Diagnostic::new(
            Code::FileTooLarge,
            Location::Package,
            format!("the file is {} bytes, more than the host's limit of {}", bytes.len(), limits.max_file_bytes),
            "build in release mode with `opt-level = \"s\"` and `strip`, or split the function",
        ));
    }

    if let Err(e) = Validator::new_with_features(features::accepted()).validate_all(bytes) {
        let offset = e.offset();
        let d = match features::diagnose(bytes) {
            Rejection::Needs(p) => Diagnostic::new(
                Code::UnsupportedFeature,
                Location::Offset { offset },
                format!("the file uses the `{}` proposal, which wasmod does not support: {}", p.name, p.why),
                format!("build without `{}` (check the target features of your toolchain)", p.name),
            ),
            Rejection::NeedsSeveral => Diagnostic::new(
                Code::UnsupportedFeature,
                Location::Offset { offset },
                format!("the file uses wasm proposals wasmod does not support ({})", e.message()),
                "build for plain wasm32 without extra target features",
            ),
            Rejection::Invalid => Diagnostic::new(
                Code::InvalidWasm,
                Location::Offset { offset },
                format!("not a valid wasm module: {}", e.message()),
                "rebuild the file; it may be truncated or not wasm at all",
            ),
        };
        push(d);
        return used;
    }
    let s = match shape(bytes) {
        Ok(s) => s,
        Err(e) => {
            push(Diagnostic::new(
                Code::InvalidWasm,
                Location::Offset { offset: e.offset() },
                format!("not a valid wasm module: {}", e.message()),
                "rebuild the file",
            ));
            return used;
        }
    };

    // Imports.
    if s.imports.len() as u64 > u64::from(limits.max_imports) {
        push(Diagnostic::new(
            Code::TooManyImports,
            Location::Section { section: "import" },
            format!("{} imports, more than the host's limit of {}", s.imports.len(), limits.max_imports),
            "import fewer host functions",
        ));
    }
    let declared: BTreeSet<&str> = cx.function.groups.iter().map(String::as_str).collect();
    let mut undeclared: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut not_allowed: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (module, name, ty) in &s.imports {
        let at = Location::Import { module: module.clone(), name: name.clone() };
        let TypeRef::Func(type_index) = ty else {
            push(Diagnostic::new(
                Code::ImportNotAFunction,
                at,
                "imports something other than a function; ABI v1 allows only host functions",
                "define the memory, table or global in the module instead of importing it",
            ));
            continue;
        };
        let Some((group_name, version)) = parse_import_module(module) else {
            push(Diagnostic::new(
                Code::ImportNotAGroup,
                at,
                format!("imports from `{module}`, which is not a host-function group"),
                "a wasm file may import only from `wasmod:<group>@<version>` modules; remove the import \
                 (Rust: do not use crates that need wasm-bindgen or WASI)",
            ));
            continue;
        };
        let Some(group) = cx.policy.group(group_name).filter(|g| g.version == version) else {
            let offered = cx.policy.group(group_name).map(|g| g.version);
            let message = match offered {
                Some(v) => format!("imports `{group_name}` version {version}, but this host offers version {v}"),
                None => format!("imports from group `{group_name}`, which this host does not offer"),
            };
            push(Diagnostic::new(Code::ImportUnknownGroup, at, message, "use only groups the host documents"));
            continue;
        };
        let Some(def) = group.function(name) else {
            push(Diagnostic::new(
                Code::ImportUnknownFunction,
                at,
                format!("group `{group_name}` has no function `{name}`"),
                format!(
                    "`{group_name}` offers: {}",
                    group.functions.iter().map(|f| f.name.as_ref()).collect::<Vec<_>>().join(", ")
                ),
            ));
            continue;
        };
        let sig = s.types.get(*type_index as usize).and_then(Option::as_ref);
        if !sig.is_some_and(|(p, r)| def.signature.matches(p, r)) {
            push(Diagnostic::new(
                Code::ImportBadSignature,
                at.clone(),
                format!("imports `{group_name}.{name}` as {}, but its signature is {}", show(sig), def.signature),
                "fix the import declaration (with the sdk this cannot happen: are you on a matching version?)",
            ));
        }
        used.insert(group_name.to_string());
        if !declared.contains(group_name) {
            undeclared.entry(group.name.as_ref()).or_default().push(name.clone());
        }
        if let Some(sub) = cx.subsystem
            && !sub.groups.iter().any(|g| g == group_name)
        {
            not_allowed.entry(group.name.as_ref()).or_default().push(name.clone());
        }
    }
    for (group, names) in undeclared {
        push(Diagnostic::new(
            Code::ImportUndeclaredGroup,
            Location::Import {
                module: wasmod_host_abi::groups::import_module(group, import_version(cx, group)),
                name: names[0].clone(),
            },
            format!(
                "imports `{group}` ({}) but module.ron does not declare group `{group}` for function `{}`",
                names.join(", "),
                cx.name
            ),
            format!("add \"{group}\" to `functions.{}.groups` in module.ron", cx.name),
        ));
    }
    for (group, names) in not_allowed {
        let implements = &cx.function.implements;
        push(Diagnostic::new(
            Code::ImportGroupNotAllowed,
            Location::Import {
                module: wasmod_host_abi::groups::import_module(group, import_version(cx, group)),
                name: names[0].clone(),
            },
            format!(
                "imports `{group}` ({}), which the host does not allow for subsystem `{implements}`",
                names.join(", ")
            ),
            format!("subsystem `{implements}` may use only: {}", allowed_list(cx)),
        ));
    }

    // Exports: the ABI's and the entry point.
    for abi in ABI_EXPORTS {
        match (s.exports.get(abi.name), abi.kind) {
            (None, _) if abi.required => push(Diagnostic::new(
                Code::MissingAbiExport,
                Location::Export { name: abi.name.into() },
                format!("does not export `{}`, which ABI v1 requires", abi.name),
                "build with wasmod-sdk (or export it by hand, see the host-abi docs)",
            )),
            (None, _) => {}
            (Some((ExternalKind::Memory, _)), ExportKind::Memory) => {}
            (Some((ExternalKind::Func, index)), ExportKind::Func(expected)) => match s.func_signature(*index) {
                Some(sig) if expected.matches(&sig.0, &sig.1) => {}
                sig => push(Diagnostic::new(
                    Code::BadAbiExport,
                    Location::Export { name: abi.name.into() },
                    format!("exports `{}` as {}, but ABI v1 requires {expected}", abi.name, show(sig)),
                    "build with a wasmod-sdk that speaks ABI v1",
                )),
            },
            (Some((kind, _)), expected) => push(Diagnostic::new(
                Code::BadAbiExport,
                Location::Export { name: abi.name.into() },
                format!(
                    "exports `{}` as a {kind:?}, but ABI v1 requires a {}",
                    abi.name,
                    match expected {
                        ExportKind::Memory => "memory",
                        ExportKind::Func(_) => "function",
                    }
                ),
                "build with a wasmod-sdk that speaks ABI v1",
            )),
        }
    }
    match s.exports.get(cx.name) {
        None => push(Diagnostic::new(
            Code::MissingEntry,
            Location::Export { name: cx.name.into() },
            format!("does not export the entry point `{}`", cx.name),
            format!("mark the function #[wasmod_sdk::function] and name it `{}`, or fix module.ron", cx.name),
        )),
        Some((ExternalKind::Func, index)) => match s.func_signature(*index) {
            Some(sig) if ENTRY_SIGNATURE.matches(&sig.0, &sig.1) => {}
            sig => push(Diagnostic::new(
                Code::BadEntrySignature,
                Location::Export { name: cx.name.into() },
                format!("exports `{}` as {}, but an entry point must be {ENTRY_SIGNATURE}", cx.name, show(sig)),
                "use #[wasmod_sdk::function], or follow ABI v1 (input ptr, len -> packed result)",
            )),
        },
        Some((kind, _)) => push(Diagnostic::new(
            Code::BadEntrySignature,
            Location::Export { name: cx.name.into() },
            format!("exports `{}` as a {kind:?}, not a function", cx.name),
            "export the entry point as a function",
        )),
    }

    // Limits.
    for memory in &s.memories {
        let limit = u64::from(limits.max_memory_pages);
        if memory.initial > limit {
            push(Diagnostic::new(
                Code::MemoryTooLarge,
                Location::Section { section: "memory" },
                format!(
                    "the memory starts at {} pages (64 KiB each), more than the host's limit of {limit}",
                    memory.initial
                ),
                "reduce static data and the stack size (Rust: `-C link-arg=-zstack-size=...`)",
            ));
        } else if memory.maximum.is_some_and(|m| m > limit) {
            push(Diagnostic::new(
                Code::MemoryMaximumAboveLimit,
                Location::Section { section: "memory" },
                format!(
                    "the memory may grow to {} pages, but this host stops growth at {limit}",
                    memory.maximum.unwrap_or_default()
                ),
                "expect `memory.grow` to fail past the host's limit, or lower the declared maximum",
            ));
        }
    }
    for table in &s.tables {
        if table.initial > u64::from(limits.max_table_elements) {
            push(Diagnostic::new(
                Code::TableTooLarge,
                Location::Section { section: "table" },
                format!(
                    "a table starts with {} elements, more than the host's limit of {}",
                    table.initial, limits.max_table_elements
                ),
                "use fewer indirect-call targets",
            ));
        }
    }
    if s.data_bytes > limits.max_data_bytes {
        push(Diagnostic::new(
            Code::DataTooLarge,
            Location::Section { section: "data" },
            format!("{} bytes of data segments, more than the host's limit of {}", s.data_bytes, limits.max_data_bytes),
            "embed less static data",
        ));
    }
    let defined = s.func_types.len() - s.imported_funcs;
    if defined as u64 > u64::from(limits.max_defined_functions) {
        push(Diagnostic::new(
            Code::TooManyDefinedFunctions,
            Location::Section { section: "function" },
            format!("defines {defined} functions, more than the host's limit of {}", limits.max_defined_functions),
            "pack with `wasmod pack` so each file keeps only what its function reaches",
        ));
    }
    if let Some((func, offset)) = s.start {
        push(Diagnostic::new(
            Code::StartFunction,
            Location::Offset { offset },
            format!(
                "has a start function (function {func}); it would run during instantiation, outside every per-call limit"
            ),
            "remove the start function; do setup in the `init` hook or lazily in the function",
        ));
    }

    // Types the engine cannot tell apart from another.
    for (index, text, other) in crate::signatures::collisions(&s.engine_types, cx.policy) {
        push(Diagnostic::new(
            Code::SignatureCollision,
            Location::Section { section: "type" },
            format!(
                "type {index} {text} has the same engine identity (a 32-bit hash) as {other}; the engine \
                 cannot tell the two apart"
            ),
            "such a type does not come out of a compiler by chance: rebuild the file from its source",
        ));
    }

    // Least privilege: declared but unused.
    for group in declared.iter().filter(|g| !used.contains(**g)) {
        push(Diagnostic::new(
            Code::UnusedGroup,
            Location::Manifest { field: format!("functions.{}.groups", cx.name), line: None, column: None },
            format!("declares group `{group}` but never imports from it"),
            format!("remove \"{group}\" from `functions.{}.groups`: grant only what the function uses", cx.name),
        ));
    }
    used
}

fn import_version(cx: &FunctionContext<'_>, group: &str) -> u32 {
    cx.policy.group(group).map_or(1, |g| g.version)
}

fn allowed_list(cx: &FunctionContext<'_>) -> String {
    match cx.subsystem {
        Some(sub) if !sub.groups.is_empty() => sub.groups.join(", "),
        _ => "no groups".into(),
    }
}
