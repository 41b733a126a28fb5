//! Host-function groups: the standard ones and the types embedders use for their own.
//!
//! A group is a named, versioned set of host functions. A module function imports a
//! group's functions from the wasm import module `wasmod:<group>@<major>` (see
//! [`import_module`]), e.g. `wasmod:kv@1`. The validator checks every import against
//! these tables, the runtime links exactly these functions, and the sdk's bindings are
//! tested against them: the signatures are written down here and nowhere else.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::types::{Signature, ValType};

/// One function of a group: the name and exact wasm signature a guest imports it with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostFunctionDef {
    /// The field name of the wasm import (`get` for `wasmod:kv@1` `get`), unique within
    /// the group.
    pub name: Cow<'static, str>,
    /// The exact wasm signature.
    pub signature: Signature,
    /// What it does, for people.
    #[serde(default)]
    pub doc: Cow<'static, str>,
}

/// A host-function group: name, major version, functions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupDef {
    /// The group name, a dotted name such as `kv` or `acme.inventory`.
    pub name: Cow<'static, str>,
    /// The major version; part of the import module name.
    pub version: u32,
    /// What the group is for.
    #[serde(default)]
    pub doc: Cow<'static, str>,
    /// Every function of the group. A guest may import any of them; each import must
    /// name one of these and have its exact signature.
    pub functions: Cow<'static, [HostFunctionDef]>,
}

impl GroupDef {
    /// The wasm import module under which this group's functions are imported.
    pub fn import_module(&self) -> String {
        import_module(&self.name, self.version)
    }

    /// Looks up a function by import name.
    pub fn function(&self, name: &str) -> Option<&HostFunctionDef> {
        self.functions.iter().find(|f| f.name == name)
    }
}

/// The prefix of every group import module.
pub const IMPORT_MODULE_PREFIX: &str = "wasmod:";

/// The wasm import module of major version `version` of `group`,
/// `wasmod:<group>@<major>`; the inverse of [`parse_import_module`].
pub fn import_module(group: &str, version: u32) -> String {
    format!("{IMPORT_MODULE_PREFIX}{group}@{version}")
}

/// Splits an import module name `wasmod:<group>@<major>` into group and version.
/// Returns `None` for anything else.
pub fn parse_import_module(module: &str) -> Option<(&str, u32)> {
    let rest = module.strip_prefix(IMPORT_MODULE_PREFIX)?;
    let (group, version) = rest.rsplit_once('@')?;
    if group.is_empty() || version.is_empty() || !version.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if version.len() > 1 && version.starts_with('0') {
        return None;
    }
    Some((group, version.parse().ok()?))
}

const fn func(
    name: &'static str,
    params: &'static [ValType],
    results: &'static [ValType],
    doc: &'static str,
) -> HostFunctionDef {
    HostFunctionDef { name: Cow::Borrowed(name), signature: Signature::new(params, results), doc: Cow::Borrowed(doc) }
}

const fn group(name: &'static str, doc: &'static str, functions: &'static [HostFunctionDef]) -> GroupDef {
    GroupDef { name: Cow::Borrowed(name), version: 1, doc: Cow::Borrowed(doc), functions: Cow::Borrowed(functions) }
}

use ValType::{I32, I64};

/// Log levels understood by `log.write`.
pub mod log_level {
    /// Very detailed tracing.
    pub const TRACE: i32 = 0;
    /// Debugging information.
    pub const DEBUG: i32 = 1;
    /// Normal operation.
    pub const INFO: i32 = 2;
    /// Something unexpected but handled.
    pub const WARN: i32 = 3;
    /// A failure.
    pub const ERROR: i32 = 4;
}

static LOG_FUNCTIONS: [HostFunctionDef; 1] = [func(
    "write",
    &[I32, I32, I32],
    &[],
    "write(level, msg_ptr, msg_len): level 0=trace 1=debug 2=info 3=warn 4=error; msg is UTF-8 (invalid bytes are replaced).",
)];
/// `log@1`: write log lines to the host's log.
pub const LOG: GroupDef =
    group("log", "Write log lines to the host's log, tagged with the calling module and function.", &LOG_FUNCTIONS);

static CONFIG_FUNCTIONS: [HostFunctionDef; 3] = [
    func(
        "get",
        &[I32, I32],
        &[I64],
        "get(key_ptr, key_len) -> region of the encoded value of the caller's own key, or NOT_FOUND if unset.",
    ),
    func(
        "get_from",
        &[I32, I32, I32, I32],
        &[I64],
        "get_from(module_ptr, module_len, key_ptr, key_len) -> region of a value of a declared dependency's key; DENIED for any other module, NOT_FOUND if unset.",
    ),
    func(
        "set",
        &[I32, I32, I32, I32],
        &[I32],
        "set(key_ptr, key_len, value_ptr, value_len) -> status: write one of the caller's own declared keys; only during `init` (DENIED otherwise), INVALID for an undeclared key or a value of the wrong type.",
    ),
];
/// `config@1`: read configuration; write own keys during `init`.
pub const CONFIG: GroupDef = group(
    "config",
    "Read the module's own config and its dependencies' config; write its own keys during `init`. Values are postcard-encoded `ConfigValue`s.",
    &CONFIG_FUNCTIONS,
);

static CLOCK_FUNCTIONS: [HostFunctionDef; 2] = [
    func("now_unix_nanos", &[], &[I64], "now_unix_nanos() -> nanoseconds since the Unix epoch (wall clock)."),
    func(
        "monotonic_nanos",
        &[],
        &[I64],
        "monotonic_nanos() -> nanoseconds on a monotonic clock with an unspecified origin.",
    ),
];
/// `clock@1`: wall-clock and monotonic time.
pub const CLOCK: GroupDef = group("clock", "Read the time.", &CLOCK_FUNCTIONS);

static RANDOM_FUNCTIONS: [HostFunctionDef; 1] =
    [func("fill", &[I32, I32], &[I32], "fill(ptr, len) -> status: fill guest memory with random bytes.")];
/// `random@1`: cryptographically secure random bytes.
pub const RANDOM: GroupDef = group("random", "Cryptographically secure random bytes from the host.", &RANDOM_FUNCTIONS);

static KV_FUNCTIONS: [HostFunctionDef; 4] = [
    func("get", &[I32, I32], &[I64], "get(key_ptr, key_len) -> region of the value, or NOT_FOUND."),
    func("set", &[I32, I32, I32, I32], &[I32], "set(key_ptr, key_len, value_ptr, value_len) -> status."),
    func(
        "delete",
        &[I32, I32],
        &[I32],
        "delete(key_ptr, key_len) -> 1 if the key existed, 0 if not, or a negative status.",
    ),
    func(
        "list",
        &[I32, I32],
        &[I64],
        "list(prefix_ptr, prefix_len) -> region of a postcard-encoded `Vec<Vec<u8>>` of the keys starting with the prefix, in byte order.",
    ),
];
/// `kv@1`: a key-value store private to the calling module.
pub const KV: GroupDef =
    group("kv", "A persistent key-value store; each module sees only its own namespace.", &KV_FUNCTIONS);

static MODULES_FUNCTIONS: [HostFunctionDef; 1] = [func(
    "call",
    &[I32, I32, I32, I32, I32, I32],
    &[I64],
    "call(module_ptr, module_len, function_ptr, function_len, input_ptr, input_len) -> region of an envelope: first byte CALL_OK then the output, or CALL_ERR then a UTF-8 message; DENIED if the module is not a declared dependency, NOT_FOUND if it has no such function, LIMIT if the call depth is exhausted.",
)];
/// `modules@1`: call a function of a declared dependency.
pub const MODULES: GroupDef = group(
    "modules",
    "Call a function of a module this module declares as a dependency. The callee runs in its own instance with its own grants.",
    &MODULES_FUNCTIONS,
);

/// The standard groups every wasmod host implements.
pub const STANDARD_GROUPS: &[&GroupDef] = &[&LOG, &CONFIG, &CLOCK, &RANDOM, &KV, &MODULES];

/// Looks up a standard group by name.
pub fn standard_group(name: &str) -> Option<&'static GroupDef> {
    STANDARD_GROUPS.iter().copied().find(|g| g.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::check_dotted_name;

    #[test]
    fn import_module_round_trip() {
        assert_eq!(KV.import_module(), "wasmod:kv@1");
        assert_eq!(parse_import_module("wasmod:kv@1"), Some(("kv", 1)));
        assert_eq!(parse_import_module("wasmod:acme.inventory@12"), Some(("acme.inventory", 12)));
        for bad in ["env", "wasmod:kv", "wasmod:@1", "wasmod:kv@", "wasmod:kv@x", "kv@1", "wasmod:kv@01"] {
            assert_eq!(parse_import_module(bad), None, "{bad}");
        }
    }

    #[test]
    fn standard_groups_are_well_formed() {
        let mut names = std::collections::BTreeSet::new();
        for g in STANDARD_GROUPS {
            check_dotted_name(&g.name).unwrap();
            assert!(names.insert(g.name.clone()), "duplicate group {}", g.name);
            assert!(!g.functions.is_empty());
            let mut fns = std::collections::BTreeSet::new();
            for f in g.functions.iter() {
                assert!(fns.insert(f.name.clone()), "duplicate function {}.{}", g.name, f.name);
                assert!(!f.doc.is_empty());
            }
        }
        assert_eq!(standard_group("kv"), Some(&KV));
        assert_eq!(standard_group("nope"), None);
    }
}
