//! Install-time validation: one test per check, on real fixture packages and on WAT
//! packages built to break one rule each.

use proptest::prelude::*;
use wasmod_manifest::ArchiveLimits;
use wasmod_tests::{abi_module, package, run_package, test_policy, wat};
use wasmod_validator::HostPolicy;
use wasmod_validator::{Code, Report, Severity, ValidatedPackage, validate_archive};

fn validate(bytes: &[u8], policy: &HostPolicy) -> Result<ValidatedPackage, Report> {
    validate_archive(bytes, policy, &ArchiveLimits::default())
}

/// Validates, expecting rejection, and returns the error codes.
fn rejected(bytes: &[u8], policy: &HostPolicy) -> Vec<Code> {
    match validate(bytes, policy) {
        Ok(v) => panic!("expected a rejection, got success with {:?}", v.report().codes()),
        Err(report) => report.errors().map(|d| d.code).collect(),
    }
}

fn run_wasm(body: &str) -> Vec<u8> {
    wat(&abi_module("", body, ""))
}

const OK_BODY: &str = "i64.const 0";

#[test]
fn fixture_packages_pass() {
    let policy = test_policy();
    for name in ["three", "all-groups"] {
        let v = validate(&package(name), &policy).unwrap_or_else(|r| panic!("{name}:\n{r}"));
        assert_eq!(v.report().warnings().count(), 0, "{name}: {}", v.report());
    }
    let v = validate(&package("all-groups"), &policy).unwrap();
    let grants: Vec<String> = v.grants("everything").iter().map(|g| format!("{}@{}", g.group, g.version)).collect();
    assert_eq!(grants, ["acme.inventory@1", "clock@1", "config@1", "kv@1", "log@1", "modules@1", "random@1"]);
    assert!(v.grants("echo").is_empty());
}

#[test]
fn minimal_wat_package_passes() {
    validate(&run_package("test.pure", &[], run_wasm(OK_BODY)), &test_policy()).unwrap();
}

#[test]
fn unreadable_archive() {
    assert_eq!(rejected(b"not a zip", &test_policy()), [Code::Archive]);
}

#[test]
fn manifest_syntax_and_semantics() {
    let syntax = wasmod_tests::package_from_files_unchecked("(name: ", &[]);
    assert_eq!(rejected(&syntax, &test_policy()), [Code::ManifestSyntax]);
    let invalid = wasmod_tests::package_from_files_unchecked(r#"(name: "Bad", version: "x")"#, &[]);
    assert_eq!(rejected(&invalid, &test_policy()), [Code::ManifestInvalid, Code::ManifestInvalid]);
}

#[test]
fn incoherent_policy() {
    let mut policy = test_policy();
    policy.subsystems.get_mut("test.pure").unwrap().groups.push("nonexistent".into());
    assert_eq!(rejected(&run_package("test.pure", &[], run_wasm(OK_BODY)), &policy), [Code::PolicyInvalid]);
}

#[test]
fn too_many_functions() {
    let mut policy = test_policy();
    policy.limits.max_functions = 2;
    assert_eq!(rejected(&package("three"), &policy), [Code::TooManyFunctions]);
}

#[test]
fn unknown_subsystem() {
    let report = validate(&run_package("billing.charge", &[], run_wasm(OK_BODY)), &test_policy()).unwrap_err();
    assert_eq!(report.codes(), [Code::UnknownSubsystem]);
    let d = &report.diagnostics[0];
    assert_eq!(d.function.as_deref(), Some("run"));
    assert!(d.hint.contains("test.run"), "{}", d.hint);
}

#[test]
fn unknown_group_declared() {
    assert_eq!(rejected(&run_package("test.run", &["fs"], run_wasm(OK_BODY)), &test_policy()), [Code::UnknownGroup]);
}

#[test]
fn declared_group_not_allowed_for_subsystem() {
    let codes = rejected(&run_package("test.pure", &["log"], run_wasm(OK_BODY)), &test_policy());
    assert!(codes.contains(&Code::GroupNotAllowed), "{codes:?}");
}

#[test]
fn invalid_wasm() {
    let report =
        validate(&run_package("test.pure", &[], b"\0asm\x01\0\0\0\x01garbage".to_vec()), &test_policy()).unwrap_err();
    assert_eq!(report.codes(), [Code::InvalidWasm]);
    assert!(matches!(report.diagnostics[0].location, wasmod_validator::DiagnosticLocation::Offset { .. }));
}

#[test]
fn unsupported_proposals_are_named() {
    for (wat_extra, proposal) in [
        (r#"(memory $m2 1) (func (param i32) (result i32) (i32.load $m2 (local.get 0)))"#, "multi-memory"),
        (r#"(func (param v128 v128) (result v128) (f32x4.relaxed_min (local.get 0) (local.get 1)))"#, "relaxed-simd"),
        (r#"(func (param i32) (result i32) (i32.atomic.load (local.get 0)))"#, "threads"),
        (r#"(func $t (return_call $t))"#, "tail-call"),
    ] {
        let text = abi_module("", OK_BODY, wat_extra);
        let report = validate(&run_package("test.pure", &[], wat(&text)), &test_policy()).unwrap_err();
        assert_eq!(report.codes(), [Code::UnsupportedFeature], "{proposal}: {report}");
        assert!(report.diagnostics[0].message.contains(&format!("`{proposal}`")), "{report}");
    }
}

#[test]
fn file_too_large() {
    let mut policy = test_policy();
    policy.limits.max_file_bytes = 16;
    assert_eq!(rejected(&run_package("test.pure", &[], run_wasm(OK_BODY)), &policy), [Code::FileTooLarge]);
}

#[test]
fn missing_and_bad_abi_exports() {
    let no_alloc = wat(r#"(module (memory (export "memory") 1) (func (export "__wasmod_abi_v1"))
        (func (export "run") (param i32 i32) (result i64) i64.const 0))"#);
    assert_eq!(rejected(&run_package("test.pure", &[], no_alloc), &test_policy()), [Code::MissingAbiExport]);
    let bad_alloc = wat(r#"(module (memory (export "memory") 1) (func (export "__wasmod_abi_v1"))
        (func (export "wasmod_alloc") (param i64) (result i32) i32.const 0)
        (func (export "run") (param i32 i32) (result i64) i64.const 0))"#);
    assert_eq!(rejected(&run_package("test.pure", &[], bad_alloc), &test_policy()), [Code::BadAbiExport]);
    let no_memory = wat(r#"(module (func (export "__wasmod_abi_v1"))
        (func (export "wasmod_alloc") (param i32) (result i32) i32.const 0)
        (func (export "run") (param i32 i32) (result i64) i64.const 0))"#);
    assert_eq!(rejected(&run_package("test.pure", &[], no_memory), &test_policy()), [Code::MissingAbiExport]);
}

#[test]
fn missing_and_bad_entry() {
    let text = abi_module("", OK_BODY, "").replace(r#"(export "run")"#, r#"(export "other")"#);
    assert_eq!(rejected(&run_package("test.pure", &[], wat(&text)), &test_policy()), [Code::MissingEntry]);
    let text = abi_module("", OK_BODY, "")
        .replace("(param i32 i32) (result i64) i64.const 0", "(param i32) (result i64) i64.const 0");
    assert_eq!(rejected(&run_package("test.pure", &[], wat(&text)), &test_policy()), [Code::BadEntrySignature]);
}

fn with_import(import: &str, groups: &[&str], subsystem: &str) -> Vec<Code> {
    rejected(&run_package(subsystem, groups, wat(&abi_module(import, OK_BODY, ""))), &test_policy())
}

#[test]
fn import_not_a_group() {
    assert_eq!(with_import(r#"(import "env" "f" (func))"#, &[], "test.run"), [Code::ImportNotAGroup]);
}

#[test]
fn import_unknown_group_or_version() {
    assert_eq!(with_import(r#"(import "wasmod:fs@1" "open" (func))"#, &[], "test.run"), [Code::ImportUnknownGroup]);
    assert_eq!(
        with_import(r#"(import "wasmod:kv@2" "get" (func (param i32 i32) (result i64)))"#, &["kv"], "test.run"),
        [Code::ImportUnknownGroup]
    );
}

#[test]
fn import_unknown_function() {
    assert_eq!(
        with_import(r#"(import "wasmod:kv@1" "drop_all" (func))"#, &["kv"], "test.run"),
        [Code::ImportUnknownFunction]
    );
}

#[test]
fn import_bad_signature() {
    assert_eq!(
        with_import(r#"(import "wasmod:kv@1" "get" (func (param i32) (result i64)))"#, &["kv"], "test.run"),
        [Code::ImportBadSignature]
    );
}

#[test]
fn import_of_undeclared_group() {
    let report = validate(
        &run_package(
            "test.run",
            &[],
            wat(&abi_module(r#"(import "wasmod:kv@1" "get" (func (param i32 i32) (result i64)))"#, OK_BODY, "")),
        ),
        &test_policy(),
    )
    .unwrap_err();
    assert_eq!(report.codes(), [Code::ImportUndeclaredGroup]);
    let d = &report.diagnostics[0];
    assert_eq!(
        d.location,
        wasmod_validator::DiagnosticLocation::Import { module: "wasmod:kv@1".into(), name: "get".into() }
    );
    assert!(d.hint.contains("functions.run.groups"), "{}", d.hint);
    // The human rendering says which rule, where, and what to do.
    let text = report.render(false);
    assert!(text.contains("error[import-undeclared-group]"), "{text}");
    assert!(text.contains("run.wasm (function `run`), import \"wasmod:kv@1\" \"get\""), "{text}");
    assert!(text.contains("hint: add \"kv\""), "{text}");
}

#[test]
fn import_of_group_not_allowed_for_subsystem() {
    let codes = with_import(r#"(import "wasmod:log@1" "write" (func (param i32 i32 i32)))"#, &["log"], "test.pure");
    assert_eq!(codes, [Code::GroupNotAllowed, Code::ImportGroupNotAllowed]);
}

#[test]
fn import_not_a_function() {
    let text = abi_module("", OK_BODY, "").replace(
        r#"(memory (export "memory") 1)"#,
        r#"(import "wasmod:kv@1" "mem" (memory 1)) (export "memory" (memory 0))"#,
    );
    assert_eq!(rejected(&run_package("test.run", &["kv"], wat(&text)), &test_policy()), [Code::ImportNotAFunction]);
}

#[test]
fn memory_limits() {
    let big =
        abi_module("", OK_BODY, "").replace(r#"(memory (export "memory") 1)"#, r#"(memory (export "memory") 300)"#);
    assert_eq!(rejected(&run_package("test.pure", &[], wat(&big)), &test_policy()), [Code::MemoryTooLarge]);
    // A declared maximum above the limit is only a warning: growth stops at the limit.
    let max =
        abi_module("", OK_BODY, "").replace(r#"(memory (export "memory") 1)"#, r#"(memory (export "memory") 1 1000)"#);
    let v = validate(&run_package("test.pure", &[], wat(&max)), &test_policy()).unwrap();
    assert_eq!(v.report().codes(), [Code::MemoryMaximumAboveLimit]);
}

#[test]
fn table_too_large() {
    let text = abi_module("", OK_BODY, "(table 20000 funcref)");
    assert_eq!(rejected(&run_package("test.pure", &[], wat(&text)), &test_policy()), [Code::TableTooLarge]);
}

#[test]
fn data_too_large() {
    let mut policy = test_policy();
    policy.limits.max_data_bytes = 8;
    let text = abi_module("", OK_BODY, r#"(data (i32.const 0) "0123456789")"#);
    assert_eq!(rejected(&run_package("test.pure", &[], wat(&text)), &policy), [Code::DataTooLarge]);
}

#[test]
fn too_many_imports() {
    let mut policy = test_policy();
    policy.limits.max_imports = 1;
    let imports = r#"(import "wasmod:clock@1" "now_unix_nanos" (func (result i64)))
                     (import "wasmod:clock@1" "monotonic_nanos" (func (result i64)))"#;
    let text = abi_module(imports, "call 0", "");
    assert_eq!(rejected(&run_package("test.run", &["clock"], wat(&text)), &policy), [Code::TooManyImports]);
}

#[test]
fn too_many_defined_functions() {
    let mut policy = test_policy();
    policy.limits.max_defined_functions = 3;
    assert_eq!(
        rejected(&run_package("test.pure", &[], wat(&abi_module("", OK_BODY, "(func)"))), &policy),
        [Code::TooManyDefinedFunctions]
    );
}

#[test]
fn start_function_is_forbidden() {
    let text = abi_module("", OK_BODY, "(func $s) (start $s)");
    assert_eq!(rejected(&run_package("test.pure", &[], wat(&text)), &test_policy()), [Code::StartFunction]);
}

#[test]
fn granted_but_unused_group_is_a_warning() {
    let v = validate(&run_package("test.run", &["kv", "log"], run_wasm(OK_BODY)), &test_policy()).unwrap();
    assert_eq!(v.report().codes(), [Code::UnusedGroup, Code::UnusedGroup]);
    assert!(v.report().diagnostics.iter().all(|d| d.severity == Severity::Warning));
}

#[test]
fn five_violations_are_reported_in_one_run() {
    // One package, five different rules broken: an undeclared group import, an import
    // from outside any group, a start function, a bad entry signature, and a function
    // implementing a subsystem the host does not have.
    let bad = wat(r#"(module
        (import "wasmod:kv@1" "get" (func (param i32 i32) (result i64)))
        (import "env" "abort" (func))
        (memory (export "memory") 1)
        (func (export "__wasmod_abi_v1"))
        (func (export "wasmod_alloc") (param i32) (result i32) i32.const 1024)
        (func (export "run") (param i32) (result i64) i64.const 0)
        (func $s) (start $s))"#);
    let manifest = r#"(name: "hostile/five", version: "1.0.0", functions: {
        "run": (implements: "test.run"),
        "other": (implements: "billing.charge"),
    })"#;
    let other = wat(&abi_module("", OK_BODY, "").replace(r#"(export "run")"#, r#"(export "other")"#));
    let pkg = wasmod_tests::package_from_files(manifest, &[("run.wasm", bad), ("other.wasm", other)]);
    let report = validate(&pkg, &test_policy()).unwrap_err();
    let mut codes: Vec<Code> = report.errors().map(|d| d.code).collect();
    codes.sort();
    codes.dedup();
    assert_eq!(
        codes,
        [
            Code::UnknownSubsystem,
            Code::BadEntrySignature,
            Code::ImportNotAGroup,
            Code::ImportUndeclaredGroup,
            Code::StartFunction
        ],
        "{report}"
    );
}

#[test]
fn report_has_a_json_form() {
    let report = validate(&run_package("nope.nope", &[], run_wasm(OK_BODY)), &test_policy()).unwrap_err();
    let json: serde_json::Value = serde_json::to_value(&report).unwrap();
    assert_eq!(json["module"], "hostile/m@1.0.0");
    let d = &json["diagnostics"][0];
    assert_eq!(d["code"], "unknown-subsystem");
    assert_eq!(d["severity"], "error");
    assert_eq!(d["function"], "run");
    assert_eq!(d["location"]["kind"], "manifest");
    assert_eq!(d["location"]["field"], "functions.run.implements");
    assert!(d["location"]["line"].is_number());
}

#[test]
fn policy_loads_from_ron() {
    let policy = wasmod_validator::load_policy(
        r#"(
            subsystems: { "test.run": (groups: ["log"]) },
            limits: (max_memory_pages: 2),
        )"#,
    )
    .unwrap();
    assert_eq!(policy.limits.max_memory_pages, 2);
    assert!(matches!(
        wasmod_validator::load_policy(r#"(subsystems: { "x": (groups: ["nope"]) })"#),
        Err(wasmod_validator::PolicyError::Incoherent(_))
    ));
    assert!(matches!(
        wasmod_validator::load_policy("(subsystems: {}, colour: 1)"),
        Err(wasmod_validator::PolicyError::Syntax { .. })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn validation_never_panics_on_random_wasm(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let mut wasm = b"\0asm\x01\0\0\0".to_vec();
        wasm.extend(bytes);
        let _ = validate(&run_package("test.run", &["kv"], wasm), &test_policy());
    }

    #[test]
    fn validation_never_panics_on_mutated_wasm(flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let pkg = wasmod_manifest::Package::read(&package("three"), &ArchiveLimits::default()).unwrap();
        let mut wasm = pkg.function_bytes("uses_kv").unwrap().to_vec();
        for (at, byte) in flips {
            let i = at.index(wasm.len());
            wasm[i] = byte;
        }
        let _ = validate(&run_package("test.run", &["kv"], wasm), &test_policy());
    }

    #[test]
    fn validation_never_panics_on_mutated_archives(flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let mut archive = package("three");
        for (at, byte) in flips {
            let i = at.index(archive.len());
            archive[i] = byte;
        }
        let _ = validate(&archive, &test_policy());
    }

    #[test]
    fn validation_never_panics_on_random_archives(bytes in prop::collection::vec(any::<u8>(), 0..1024)) {
        let _ = validate(&bytes, &test_policy());
    }
}
