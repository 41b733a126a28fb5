//! The hostile corpus (`tests/hostile/`): every case gets exactly the rejection or error
//! it must get, one test per case, all against one host that keeps serving normal calls
//! after each. See `tests/hostile/README.md`.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use wasmod::{AppConfig, CallLimits, Error, ErrorKind, Host, Request};
use wasmod_manifest::{ArchiveError, ArchiveLimits, read_package};
use wasmod_tests::{root, test_policy, wat};

fn kind_name(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::GuestError { .. } => "GuestError",
        ErrorKind::GuestPanic { .. } => "GuestPanic",
        ErrorKind::FuelExhausted { .. } => "FuelExhausted",
        ErrorKind::DeadlineExceeded { .. } => "DeadlineExceeded",
        ErrorKind::MemoryLimit { .. } => "MemoryLimit",
        ErrorKind::StackOverflow => "StackOverflow",
        ErrorKind::Trap { .. } => "Trap",
        ErrorKind::BadPointer { .. } => "BadPointer",
        ErrorKind::OutputTooLarge { .. } => "OutputTooLarge",
        ErrorKind::HostTrap { .. } => "HostTrap",
        ErrorKind::DepthLimit { .. } => "DepthLimit",
        ErrorKind::HostStackLimit { .. } => "HostStackLimit",
        ErrorKind::ReentrantHostCall { .. } => "ReentrantHostCall",
        ErrorKind::Internal { .. } => "Internal",
        ErrorKind::Link { .. } => "Link",
        // `ErrorKind` is non-exhaustive: a kind added later fails every case until it
        // is named here.
        _ => "(a kind this list does not name)",
    }
}

/// One `tests/hostile/<name>.wat` file and what its header says must happen.
struct Case {
    name: String,
    /// `install`, `call` or `activate`.
    phase: String,
    /// A diagnostic code (install) or an `ErrorKind` name.
    expect: String,
    /// A piece of text the error must contain.
    message: Option<String>,
    groups: Vec<String>,
    subsystem: String,
    limits: CallLimits,
    max_fuel_used: Option<u64>,
    max_wall: Option<Duration>,
    wasm: Vec<u8>,
}

fn header(text: &str, key: &str) -> Option<String> {
    text.lines()
        .take_while(|l| l.starts_with(";;"))
        .find_map(|l| l.trim_start_matches(";;").trim().strip_prefix(key).map(|v| v.trim().to_string()))
}

fn case_path(name: &str) -> PathBuf {
    root().join("tests/hostile").join(format!("{name}.wat"))
}

fn read_case(name: &str) -> Case {
    let text = std::fs::read_to_string(case_path(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    let expect = header(&text, "expect:").unwrap_or_else(|| panic!("{name}: no `;; expect:` line"));
    let (phase, expect) = expect.split_once(' ').unwrap_or_else(|| panic!("{name}: `expect: <phase> <what>`"));
    let mut limits = CallLimits::default();
    for setting in header(&text, "limits:").unwrap_or_default().split_whitespace() {
        let (k, v) = setting.split_once('=').unwrap();
        let v: u64 = v.parse().unwrap();
        match k {
            "fuel" => limits.fuel = v,
            "memory_pages" => limits.memory_pages = v as u32,
            "table_elements" => limits.table_elements = v as u32,
            "timeout_ms" => limits.timeout = Duration::from_millis(v),
            other => panic!("{name}: unknown limit {other}"),
        }
    }
    let number =
        |key: &str| header(&text, key).map(|v| v.parse::<u64>().unwrap_or_else(|e| panic!("{name}: {key} {e}")));
    let mut wasm = wat(&text);
    if name == "truncated" {
        wasm.truncate(wasm.len() / 2);
    }
    Case {
        name: name.to_string(),
        phase: phase.to_string(),
        expect: expect.to_string(),
        message: header(&text, "message:"),
        groups: header(&text, "groups:")
            .map(|g| g.split(',').map(|s| s.trim().to_string()).collect())
            .unwrap_or_default(),
        subsystem: header(&text, "subsystem:").unwrap_or_else(|| "test.run".into()),
        limits,
        max_fuel_used: number("max_fuel_used:"),
        max_wall: number("max_wall_ms:").map(Duration::from_millis),
        wasm,
    }
}

/// The one host every case runs against, with a well-behaved module `hostile/ok` that
/// echoes its input, called after every case.
fn host() -> &'static Host {
    static HOST: OnceLock<(tempfile::TempDir, Host)> = OnceLock::new();
    let (_, host) = HOST.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let host = Host::builder().store(dir.path()).artifact_key([2; 32]).policy(test_policy()).open().unwrap();
        let echo =
            "(i64.or (i64.shl (i64.extend_i32_u (local.get 1)) (i64.const 32)) (i64.extend_i32_u (local.get 0)))";
        let manifest = r#"(name: "hostile/ok", version: "1.0.0", functions: { "run": (implements: "test.run") })"#;
        let wasm = wat(&wasmod_tests::abi_module("", echo, ""));
        host.install(&wasmod_tests::package_from_files(manifest, &[("run.wasm", wasm)])).unwrap();
        (dir, host)
    });
    host
}

/// The host still serves a normal call.
fn still_serves() {
    let active = host().activate(&[Request::parse("hostile/ok", None).unwrap()], &AppConfig::new()).unwrap();
    assert_eq!(active.call("hostile/ok", "run", b"still here").unwrap().output, b"still here");
}

/// The package of a case: module `hostile/<name>` whose one function (`run`, or `init`
/// for an activation case) is the case's file.
fn case_package(case: &Case) -> Vec<u8> {
    let groups: Vec<String> = case.groups.iter().map(|g| format!("{g:?}")).collect();
    let (function, subsystem) =
        if case.phase == "activate" { ("init", "init") } else { ("run", case.subsystem.as_str()) };
    let manifest = format!(
        r#"(name: "hostile/{}", version: "1.0.0", functions: {{ "{function}": (implements: {subsystem:?}, file: "run.wasm", groups: [{}]) }})"#,
        case.name,
        groups.join(", ")
    );
    wasmod_tests::package_from_files(&manifest, &[("run.wasm", case.wasm.clone())])
}

fn check_error(case: &Case, e: &wasmod::CallError) {
    assert_eq!(kind_name(&e.kind), case.expect, "{}: {e}", case.name);
    if let Some(text) = &case.message {
        assert!(e.to_string().contains(text.as_str()), "{}: expected `{text}` in: {e}", case.name);
    }
    if let Some(max) = case.max_fuel_used {
        let used = e.metrics.as_ref().map_or(0, |m| m.fuel_used);
        assert!(used <= max, "{}: used {used} fuel, more than {max}", case.name);
    }
}

fn run_case(name: &str) {
    let case = read_case(name);
    let host = host();
    let archive = case_package(&case);
    let started = std::time::Instant::now();
    match case.phase.as_str() {
        "install" => match host.install(&archive) {
            Err(Error::Rejected(report)) => {
                let codes: Vec<&str> = report.errors().map(|d| d.code.as_str()).collect();
                assert!(
                    codes.contains(&case.expect.as_str()),
                    "{name}: expected {}, got {codes:?}\n{report}",
                    case.expect
                );
                if let Some(text) = &case.message {
                    assert!(report.to_string().contains(text.as_str()), "{name}: expected `{text}` in:\n{report}");
                }
            }
            other => panic!("{name}: expected rejection {}, got {other:?}", case.expect),
        },
        "call" => {
            host.install(&archive).unwrap_or_else(|e| panic!("{name}: {e}"));
            let module = format!("hostile/{name}");
            let active = host.activate(&[Request::parse(&module, None).unwrap()], &AppConfig::new()).unwrap();
            match active.call_with(&module, "run", b"some input", case.limits) {
                Err(Error::Call(e)) => check_error(&case, &e),
                other => panic!("{name}: expected {}, got {other:?}", case.expect),
            }
        }
        "activate" => {
            host.install(&archive).unwrap_or_else(|e| panic!("{name}: {e}"));
            let module = format!("hostile/{name}");
            match host.activate(&[Request::parse(&module, None).unwrap()], &AppConfig::new()) {
                Err(Error::Init { error, .. }) => check_error(&case, &error),
                other => panic!("{name}: expected the init hook to fail with {}, got {other:?}", case.expect),
            }
        }
        other => panic!("{name}: unknown phase {other}"),
    }
    if let Some(max) = case.max_wall {
        assert!(started.elapsed() <= max, "{name}: took {:?}, more than {max:?}", started.elapsed());
    }
    still_serves();
}

/// One test per file of the corpus; `every_case_file_has_a_test` keeps the list whole.
macro_rules! wat_cases {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                run_case(stringify!($name));
            }
        )*
        const WAT_CASES: &[&str] = &[$(stringify!($name)),*];
    };
}

wat_cases! {
    bad_alloc,
    gigabyte_output,
    infinite_loop,
    infinite_loop_deadline,
    looping_start,
    memory_bomb_grow,
    memory_bomb_static,
    missing_entry,
    missing_exports,
    needs_exceptions,
    needs_threads,
    oob_output,
    overflowing_output,
    self_call,
    table_bomb,
    truncated,
    unbounded_recursion,
    undeclared_group,
    ungranted_group,
    unknown_group,
    wrong_entry_signature,
    wrong_import_signature,
    reentrant_alloc,
    reentrant_alloc_input,
    table_grow_without_maximum,
    signature_collision,
    panic_reader_loops,
    panic_reader_calls_import,
    panic_reader_past_deadline,
    kv_init_overlay_bomb,
    kv_init_delete_bomb,
    kv_quota,
}

#[test]
fn every_case_file_has_a_test() {
    let mut files: Vec<String> = std::fs::read_dir(root().join("tests/hostile"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wat"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut listed: Vec<String> = WAT_CASES.iter().map(|s| s.to_string()).collect();
    listed.sort();
    assert_eq!(files, listed, "tests/hostile/*.wat and the wat_cases! list differ");
}

// ---- archive-level cases -----------------------------------------------------------

const MANIFEST: &str = r#"(name: "hostile/z", version: "1.0.0", functions: { "run": (implements: "test.run") })"#;

fn zip(entries: &[(&str, Vec<u8>, zip::CompressionMethod)]) -> Vec<u8> {
    use std::io::Write;
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, data, method) in entries {
        z.start_file(*name, zip::write::SimpleFileOptions::default().compression_method(*method)).unwrap();
        z.write_all(data).unwrap();
    }
    z.finish().unwrap().into_inner()
}

fn stored(name: &'static str, data: &[u8]) -> (&'static str, Vec<u8>, zip::CompressionMethod) {
    (name, data.to_vec(), zip::CompressionMethod::Stored)
}

fn archive_error(bytes: &[u8]) -> ArchiveError {
    let err = read_package(bytes, &ArchiveLimits::default()).unwrap_err();
    // The validator reports it with the archive code, and installs nothing.
    let report = wasmod_validator::validate_archive(bytes, &test_policy(), &ArchiveLimits::default()).unwrap_err();
    let expected = match err {
        ArchiveError::Manifest(wasmod::ManifestError::Syntax { .. }) => wasmod::Code::ManifestSyntax,
        ArchiveError::Manifest(wasmod::ManifestError::Invalid(_)) => wasmod::Code::ManifestInvalid,
        _ => wasmod::Code::Archive,
    };
    assert!(report.codes().iter().all(|c| *c == expected), "{report}");
    err
}

#[test]
fn zip_bomb_by_ratio() {
    let bomb = ("run.wasm", vec![0u8; 8 << 20], zip::CompressionMethod::Deflated);
    let err = archive_error(&zip(&[stored("module.ron", MANIFEST.as_bytes()), bomb]));
    assert!(matches!(err, ArchiveError::CompressionRatio { .. }), "{err}");
}

#[test]
fn zip_bomb_by_count() {
    let mut entries = vec![stored("module.ron", MANIFEST.as_bytes())];
    let names: Vec<String> = (0..5000).map(|i| format!("f{i}.wasm")).collect();
    for n in &names {
        entries.push((Box::leak(n.clone().into_boxed_str()), Vec::new(), zip::CompressionMethod::Stored));
    }
    let err = archive_error(&zip(&entries));
    assert!(matches!(err, ArchiveError::TooManyEntries { count: 5001, .. }), "{err}");
}

#[test]
fn nested_zip_bomb_is_not_unpacked() {
    let inner = zip(&[("bomb.bin", vec![0u8; 4 << 20], zip::CompressionMethod::Deflated)]);
    let err = archive_error(&zip(&[
        stored("module.ron", MANIFEST.as_bytes()),
        ("run.wasm", b"\0asm\x01\0\0\0".to_vec(), zip::CompressionMethod::Stored),
        ("inner.zip", inner, zip::CompressionMethod::Stored),
    ]));
    assert!(matches!(err, ArchiveError::UnreferencedFile { ref name } if name == "inner.zip"), "{err}");
    // Packed as a function file, it is simply not wasm.
    let report = wasmod_validator::validate_archive(
        &wasmod_tests::package_from_files(
            MANIFEST,
            &[("run.wasm", zip(&[("x", vec![1; 10], zip::CompressionMethod::Deflated)]))],
        ),
        &test_policy(),
        &ArchiveLimits::default(),
    )
    .unwrap_err();
    assert_eq!(report.codes(), [wasmod::Code::InvalidWasm]);
}

#[test]
fn traversal_absolute_and_duplicate_paths() {
    let base = || vec![stored("module.ron", MANIFEST.as_bytes()), stored("run.wasm", b"\0asm\x01\0\0\0")];
    let mut e = base();
    e.push(stored("../../etc/cron.d/evil", b"x"));
    assert!(matches!(archive_error(&zip(&e)), ArchiveError::ParentDirectory { .. }));
    let mut e = base();
    e.push(stored("/etc/passwd", b"x"));
    assert!(matches!(archive_error(&zip(&e)), ArchiveError::AbsolutePath { .. }));
    // The zip writer refuses duplicates, so write "xun.wasm" and rename it in the bytes.
    let mut e = base();
    e.push(stored("xun.wasm", b"\0asm\x01\0\0\0"));
    let mut bytes = zip(&e);
    let mut i = 0;
    while let Some(at) = bytes[i..].windows(8).position(|w| w == b"xun.wasm") {
        bytes[i + at] = b'r';
        i += at + 1;
    }
    assert!(matches!(archive_error(&bytes), ArchiveError::DuplicateEntry { ref name } if name == "run.wasm"));
}

#[test]
fn ten_megabyte_manifest() {
    let huge = format!("{MANIFEST}\n// {}", "x".repeat(10 << 20));
    let err = archive_error(&zip(&[
        ("module.ron", huge.into_bytes(), zip::CompressionMethod::Deflated),
        stored("run.wasm", b"\0asm\x01\0\0\0"),
    ]));
    assert!(matches!(err, ArchiveError::EntryTooLarge { ref name, .. } if name == "module.ron"), "{err}");
}

#[test]
fn deeply_nested_ron() {
    let deep = format!(
        "(name: \"hostile/z\", version: \"1.0.0\", description: {}\"x\"{})",
        "Some(".repeat(20_000),
        ")".repeat(20_000)
    );
    let err = archive_error(&zip(&[stored("module.ron", deep.as_bytes())]));
    assert!(matches!(err, ArchiveError::Manifest(wasmod::ManifestError::Syntax { .. })), "{err}");
}

#[test]
fn invalid_utf8() {
    let err = archive_error(&zip(&[stored("module.ron", b"(name: \"a\xc3\x28b\")")]));
    assert!(matches!(err, ArchiveError::ManifestNotUtf8 { .. }), "{err}");
}

#[test]
fn garbage_wasm() {
    let report = wasmod_validator::validate_archive(
        &wasmod_tests::package_from_files(MANIFEST, &[("run.wasm", b"this is not wasm at all".to_vec())]),
        &test_policy(),
        &ArchiveLimits::default(),
    )
    .unwrap_err();
    assert_eq!(report.codes(), [wasmod::Code::InvalidWasm]);
}

// ---- module calls in cycles and chains ----------------------------------------------

#[test]
fn a_dependency_cycle_is_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::builder().store(dir.path()).artifact_key([2; 32]).policy(test_policy()).open().unwrap();
    for (me, other) in [("a", "b"), ("b", "a")] {
        let manifest = format!(
            r#"(name: "cycle/{me}", version: "1.0.0", dependencies: {{ "cycle/{other}": "*" }}, functions: {{ "run": (implements: "test.run") }})"#
        );
        let wasm = wat(&wasmod_tests::abi_module("", "i64.const 0", ""));
        host.install(&wasmod_tests::package_from_files(&manifest, &[("run.wasm", wasm)])).unwrap();
    }
    match host.activate(&[Request::parse("cycle/a", None).unwrap()], &AppConfig::new()) {
        Err(Error::Resolve(e)) => {
            assert_eq!(e.to_string(), "dependency cycle: cycle/a@1.0.0 → cycle/b@1.0.0 → cycle/a@1.0.0")
        }
        other => panic!("expected a cycle, got {other:?}"),
    }
}

/// `run` calls `run` of the next module in the chain; on a failed call it returns the
/// callee's error (or "depth limit" when the host refuses to go deeper).
fn chain_module(i: usize, last: usize) -> Vec<u8> {
    let next = format!("chain/c{}", i + 1);
    let (deps, groups, body) = if i == last {
        (String::new(), "", "i64.const 0".to_string())
    } else {
        (
            format!(r#"dependencies: {{ "{next}": "*" }},"#),
            r#""modules""#,
            format!(
                r#"(local $r i64)
                (local.set $r (call $call (i32.const 0) (i32.const {len}) (i32.const 64) (i32.const 3) (i32.const 0) (i32.const 0)))
                (if (i64.lt_s (local.get $r) (i64.const 0))
                  (then (return (i64.const 0x8000000B00000100))))
                ;; an error envelope: return its message as our error
                (if (i32.eq (i32.load8_u (i32.wrap_i64 (local.get $r))) (i32.const 1))
                  (then (return (i64.or (i64.const 0x8000000000000000)
                    (i64.add (i64.sub (local.get $r) (i64.const 0x100000000)) (i64.const 1))))))
                i64.const 0"#,
                len = next.len()
            ),
        )
    };
    let imports = if i == last {
        ""
    } else {
        r#"(import "wasmod:modules@1" "call" (func $call (param i32 i32 i32 i32 i32 i32) (result i64)))"#
    };
    let text = format!(
        r#"(module
          {imports}
          (memory (export "memory") 1)
          (data (i32.const 0) "{next}")
          (data (i32.const 64) "run")
          (data (i32.const 256) "depth limit")
          (global $heap (mut i32) (i32.const 4096))
          (func (export "__wasmod_abi_v1"))
          (func (export "wasmod_alloc") (param $n i32) (result i32)
            (local $p i32) (local.set $p (global.get $heap))
            (global.set $heap (i32.add (global.get $heap) (local.get $n))) (local.get $p))
          (func (export "run") (param i32 i32) (result i64) {body}))"#
    );
    let manifest = format!(
        r#"(name: "chain/c{i}", version: "1.0.0", {deps} functions: {{ "run": (implements: "test.run", groups: [{groups}]) }})"#
    );
    wasmod_tests::package_from_files(&manifest, &[("run.wasm", wat(&text))])
}

#[test]
fn module_call_chains_are_bounded_by_depth() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::builder().store(dir.path()).artifact_key([2; 32]).policy(test_policy()).open().unwrap();
    let last = 12;
    for i in 0..=last {
        host.install(&chain_module(i, last)).unwrap();
    }
    let active = host.activate(&[Request::parse("chain/c0", None).unwrap()], &AppConfig::new()).unwrap();
    // With the default depth limit (8) the chain of 12 stops at depth 8.
    let err = match active.call("chain/c0", "run", b"") {
        Err(Error::Call(e)) => e,
        other => panic!("expected the depth limit, got {other:?}"),
    };
    let ErrorKind::GuestError { message } = &err.kind else { panic!("{err}") };
    assert!(message.contains("depth limit"), "{message}");
    assert!(message.contains("chain/c7@1.0.0"), "the refusal happened below c7: {message}");
    assert!(!message.contains("chain/c9@"), "{message}");
    // A deeper limit lets it finish.
    let limits = CallLimits { max_depth: 16, ..CallLimits::default() };
    active.call_with("chain/c0", "run", b"", limits).unwrap();
    // And a chain shares one fuel budget: the caller pays for its callees.
    let tight = CallLimits { max_depth: 16, fuel: 200, ..CallLimits::default() };
    let err = active.call_with("chain/c0", "run", b"", tight).unwrap_err();
    assert!(err.to_string().contains("fuel"), "{err}");
}

// ---- fuzz regressions ---------------------------------------------------------------

/// Deterministic pseudo-random inputs (proptest's seeded ChaCha), the same every run.
fn seeded_inputs(seed: u8, count: usize, len: usize) -> Vec<Vec<u8>> {
    use proptest::prelude::Rng;
    let mut rng = proptest::test_runner::TestRng::from_seed(proptest::test_runner::RngAlgorithm::ChaCha, &[seed; 32]);
    (0..count)
        .map(|_| {
            let mut input = vec![0; len];
            rng.fill_bytes(&mut input);
            input
        })
        .collect()
}

fn files_named(dir: &std::path::Path, keep: &dyn Fn(&str) -> bool, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() && name != "target" {
            files_named(&path, keep, out);
        } else if keep(&name) {
            out.push(path);
        }
    }
}

/// The fuzz target bodies run in every test run, on real inputs and seeded noise, so a
/// broken harness (or a panic on a plain input) shows up here, not only when fuzzing.
#[test]
fn fuzz_bodies_handle_real_and_seeded_inputs() {
    use wasmod_tests::fuzz::{self, Reached};

    // Every manifest we ship parses and round-trips through the manifest target.
    let mut manifests = Vec::new();
    for dir in ["tests/fixtures", "examples"] {
        files_named(&root().join(dir), &|n| n == "module.ron" || n.ends_with(".module.ron"), &mut manifests);
    }
    assert!(manifests.len() >= 5, "expected the fixtures' and examples' manifests, found {manifests:?}");
    for path in &manifests {
        assert!(fuzz::manifest(&std::fs::read(path).unwrap()), "{} did not parse", path.display());
    }

    // Every fixture package reads through the archive target; its truncations do not panic.
    let mut packages = Vec::new();
    files_named(&root().join("target/fixtures/packages"), &|n| n.ends_with(".zip"), &mut packages);
    assert!(!packages.is_empty(), "build the fixtures first: cargo xtask build-fixtures");
    for path in &packages {
        let bytes = std::fs::read(path).unwrap();
        assert!(fuzz::archive(&bytes), "{} was not read", path.display());
        for cut in [1, 22, bytes.len() / 2, bytes.len() - 1] {
            assert!(!fuzz::archive(&bytes[..cut]), "{} cut at {cut} was read", path.display());
        }
    }

    for input in seeded_inputs(1, 200, 256) {
        fuzz::manifest(&input);
        fuzz::archive(&input);
    }

    // Generated modules reach the validator, and some get all the way to a call.
    let validated: Vec<Reached> = seeded_inputs(2, 48, 2048).iter().map(|i| fuzz::validate(i)).collect();
    assert!(validated.iter().any(|r| *r >= Reached::Rejected), "no input made a module: {validated:?}");
    let called: Vec<Reached> = seeded_inputs(3, 48, 4096).iter().map(|i| fuzz::call(i)).collect();
    assert!(called.contains(&Reached::Called), "no generated module was called: {called:?}");
    // Generated state changes run warm and fresh alike, and resets are exact, with and
    // without a page-table scan.
    let skipped = wasmod_runtime::Runtime::warm_scans_skipped_on_this_thread();
    let reset: Vec<Reached> = seeded_inputs(5, 48, 2048).iter().map(|i| fuzz::warm_reset(i)).collect();
    assert!(reset.iter().filter(|r| **r == Reached::Called).count() >= 8, "too few compared: {reset:?}");
    if wasmod_runtime::Runtime::builder().build().uses_warm_instances() {
        let skipped = wasmod_runtime::Runtime::warm_scans_skipped_on_this_thread() - skipped;
        assert!(skipped > 0, "no reset of the seeded inputs skipped the scan");
    }
    // Generated hostile chains are installed and called, and the host survives them.
    let survived: Vec<Reached> = seeded_inputs(4, 32, 512).iter().map(|i| fuzz::host_survives(i)).collect();
    let called = survived.iter().filter(|r| **r == Reached::Called).count();
    assert!(called >= survived.len() / 2, "only {called} generated chains were called: {survived:?}");
}

// ---- engine-level cases built in code ------------------------------------------------

/// Two packages that are each fine alone, but one declares a type forged to have the
/// engine identity (32-bit CRC) of a type of the other. The validator cannot see across
/// packages; such types must never meet in one wasmer registry (wasmer panics, holding
/// its locks, when they do). Every loaded module has an engine of its own, so the two
/// run side by side, in one activation, past the point where each calling thread gets
/// its own copy of the code.
#[test]
fn two_packages_whose_types_collide_with_each_other_run_side_by_side() {
    let host = host();
    let install = |name: &str, ty: &str| {
        let wasm = wat(&wasmod_tests::abi_module("", "i64.const 0", &format!("(type (func {ty}))")));
        let manifest =
            format!(r#"(name: "hostile/{name}", version: "1.0.0", functions: {{ "run": (implements: "test.run") }})"#);
        host.install(&wasmod_tests::package_from_files(&manifest, &[("run.wasm", wasm)])).unwrap();
    };
    install("collide-a", "(param f64 f64 f64) (result f32)");
    // 32 parameters solved to hash like `(f64, f64, f64) -> (f32)`.
    install(
        "collide-b",
        "(param i64 i64 i64 i64 i64 i64 i32 i32 i64 i32 i64 i64 i32 i64 i64 i32 \
                i64 i32 i64 i32 i64 i32 i32 i64 i64 i32 i32 i64 i32 i32 i32 i64)",
    );
    let both = [Request::parse("hostile/collide-a", None).unwrap(), Request::parse("hostile/collide-b", None).unwrap()];
    let active = host.activate(&both, &AppConfig::new()).unwrap();
    for _ in 0..100 {
        for module in ["hostile/collide-a", "hostile/collide-b"] {
            active.call(module, "run", b"").unwrap();
        }
    }
    still_serves();
}

/// A group whose one function calls the runtime again from inside itself: every level
/// is a fresh call at depth 0, so the module-call depth limit never applies, and each
/// level takes host stack. It used to end with "has overflowed its stack" (an abort).
struct Recurse {
    target: OnceLock<(wasmod_runtime::Runtime, wasmod_runtime::LoadedFunction)>,
    /// The address of a local in each level's host function, outermost first.
    frames: std::sync::Mutex<Vec<usize>>,
}

static RECURSE_DEF: wasmod::GroupDef = wasmod::GroupDef {
    name: std::borrow::Cow::Borrowed("test.recurse"),
    version: 1,
    doc: std::borrow::Cow::Borrowed(""),
    functions: std::borrow::Cow::Borrowed(&[wasmod::HostFunctionDef {
        name: std::borrow::Cow::Borrowed("again"),
        signature: wasmod_host_abi::abi::BYTES_CALL_SIGNATURE,
        doc: std::borrow::Cow::Borrowed(""),
    }]),
};

impl wasmod::HostGroup for Recurse {
    fn def(&self) -> &wasmod::GroupDef {
        &RECURSE_DEF
    }

    fn call(
        &self,
        _: usize,
        _: &mut wasmod::HostContext<'_>,
        _: &[wasmod::HostValue],
    ) -> Result<Option<wasmod::HostValue>, wasmod::HostFunctionError> {
        let marker = 0u8;
        self.frames.lock().unwrap().push(std::hint::black_box(&marker) as *const u8 as usize);
        let (runtime, function) = self.target.get().expect("set before the first call");
        match runtime.call(function, b"") {
            Ok(_) => Ok(Some(wasmod::HostValue::I64(0))),
            Err(e) => Err(wasmod::HostFunctionError::Trap(e.to_string())),
        }
    }
}

/// A runtime with `group` (whose definition is [`RECURSE_DEF`]) and a loaded function
/// `run` that calls its `again` once.
fn calling_again(
    group: std::sync::Arc<dyn wasmod::HostGroup>,
) -> (wasmod_runtime::Runtime, wasmod_runtime::LoadedFunction) {
    let runtime = wasmod_runtime::Runtime::builder().group(group).build();
    let wasm = wat(&wasmod_tests::abi_module(
        r#"(import "wasmod:test.recurse@1" "again" (func $again (param i32 i32) (result i64)))"#,
        "(call $again (i32.const 0) (i32.const 0))",
        "",
    ));
    let manifest = r#"(name: "hostile/again", version: "1.0.0", functions: { "run": (implements: "test.run", groups: ["test.recurse"]) })"#;
    let policy = wasmod::HostPolicy::new().with_custom_group(RECURSE_DEF.clone()).with_subsystem(
        "test.run",
        &["test.recurse"],
        "",
    );
    let archive = wasmod_tests::package_from_files(manifest, &[("run.wasm", wasm)]);
    let validated = wasmod_validator::validate_archive(&archive, &policy, &ArchiveLimits::default()).unwrap();
    let function = runtime.load(&validated, "run", &wasmod_runtime::NoCache).unwrap();
    (runtime, function)
}

#[test]
fn host_functions_that_call_the_runtime_again_stop_at_the_host_stack_limit() {
    let recurse = std::sync::Arc::new(Recurse { target: OnceLock::new(), frames: Default::default() });
    let (runtime, function) = calling_again(recurse.clone());
    recurse.target.set((runtime.clone(), function.clone())).ok().unwrap();

    let stack = 8 << 20;
    let err = std::thread::Builder::new()
        .stack_size(stack)
        .spawn(move || runtime.call(&function, b"").unwrap_err())
        .unwrap()
        .join()
        .expect("the thread did not overflow its stack");
    assert!(err.to_string().contains("left on the host thread's stack"), "{err}");
    let frames = recurse.frames.lock().unwrap().clone();
    let per_level: Vec<usize> = frames.windows(2).map(|w| w[0] - w[1]).collect();
    let deepest = per_level.iter().max().copied().unwrap_or_default();
    assert!(frames.len() >= 4, "the calls nested {} levels only", frames.len());
    assert!(
        deepest < wasmod_runtime::MIN_HOST_STACK / 4,
        "a level of nesting took {deepest} bytes of host stack, not well under a quarter of MIN_HOST_STACK"
    );
    // Every level used its share: the thread's stack was nearly used up, not abandoned early.
    assert!(frames.len() * deepest + wasmod_runtime::MIN_HOST_STACK + deepest >= stack / 2, "{frames:?}");
}

/// A host group whose definition panics once a flag is set: the panic starts inside
/// wasmer's host-function trampoline and is resumed by wasmer through the guest's
/// frames; it must come out as an error, and the next call must succeed.
struct PanickingDef(std::sync::atomic::AtomicBool);

impl wasmod::HostGroup for PanickingDef {
    fn def(&self) -> &wasmod::GroupDef {
        assert!(!self.0.load(std::sync::atomic::Ordering::SeqCst), "the embedder's group definition panicked");
        &RECURSE_DEF
    }

    fn call(
        &self,
        _: usize,
        _: &mut wasmod::HostContext<'_>,
        _: &[wasmod::HostValue],
    ) -> Result<Option<wasmod::HostValue>, wasmod::HostFunctionError> {
        Ok(Some(wasmod::HostValue::I64(0)))
    }
}

#[test]
fn a_panic_inside_the_engine_is_an_error_and_the_runtime_stays_usable() {
    let group = std::sync::Arc::new(PanickingDef(Default::default()));
    let (runtime, function) = calling_again(group.clone());
    runtime.call(&function, b"").unwrap();
    group.0.store(true, std::sync::atomic::Ordering::SeqCst);
    let err = runtime.call(&function, b"").unwrap_err();
    let ErrorKind::Internal { message } = &err.kind else { panic!("expected an internal error, got {err}") };
    assert!(message.contains("the embedder's group definition panicked"), "{message}");
    assert!(err.to_string().contains("the runtime is still usable"), "{err}");
    group.0.store(false, std::sync::atomic::Ordering::SeqCst);
    runtime.call(&function, b"").unwrap();
}

/// A module whose `run` calls `run` of `callee` through `modules.call` (the callee's name
/// at 0, "run" at 32, a bump allocator from 4096) and then runs `after`, which finds the
/// call's result in `$r`.
fn caller_of(callee: &str, pages: u32, after: &str) -> Vec<u8> {
    wat(&format!(
        r#"(module
        (import "wasmod:modules@1" "call" (func $call (param i32 i32 i32 i32 i32 i32) (result i64)))
        (memory (export "memory") {pages})
        (data (i32.const 0) "{callee}")
        (data (i32.const 32) "run")
        (global $heap (mut i32) (i32.const 4096))
        (func (export "__wasmod_abi_v1"))
        (func (export "wasmod_alloc") (param $n i32) (result i32)
          (local $p i32) (local.set $p (global.get $heap))
          (global.set $heap (i32.add (global.get $heap) (local.get $n))) (local.get $p))
        (func (export "run") (param i32 i32) (result i64)
          (local $r i64)
          (local.set $r (call $call (i32.const 0) (i32.const {len}) (i32.const 32) (i32.const 3) (i32.const 0) (i32.const 0)))
          {after}))"#,
        len = callee.len()
    ))
}

/// A callee traps and its panic-message reader loops: the fuel the reader burns is
/// charged along the chain, so the caller, which has nothing left, stops out of fuel.
/// (Each callee's trap used to buy a million units of fuel nobody was charged for.)
#[test]
fn a_callees_panic_reader_is_charged_to_the_chain() {
    let host = host();
    let callee = wat(&wasmod_tests::abi_module(
        "",
        "unreachable",
        r#"(func (export "__wasmod_panic_message") (result i64) (loop $l (br $l)) i64.const 0)"#,
    ));
    let manifest =
        r#"(name: "hostile/reader-callee", version: "1.0.0", functions: { "run": (implements: "test.run") })"#;
    host.install(&wasmod_tests::package_from_files(manifest, &[("run.wasm", callee)])).unwrap();
    // The callee failed; with fuel left, the caller returns normally.
    let caller = caller_of("hostile/reader-callee", 1, "i64.const 0");
    let manifest = r#"(name: "hostile/reader-caller", version: "1.0.0", dependencies: { "hostile/reader-callee": "*" }, functions: { "run": (implements: "test.run", groups: ["modules"]) })"#;
    host.install(&wasmod_tests::package_from_files(manifest, &[("run.wasm", caller)])).unwrap();
    let active = host.activate(&[Request::parse("hostile/reader-caller", None).unwrap()], &AppConfig::new()).unwrap();
    // With plenty of fuel the reader is capped and the caller goes on.
    active.call("hostile/reader-caller", "run", b"").unwrap();
    // With little, the reader takes what the chain has left.
    let fuel = 5_000;
    let err = match active.call_with("hostile/reader-caller", "run", b"", CallLimits { fuel, ..CallLimits::default() })
    {
        Err(Error::Call(e)) => e,
        other => panic!("expected the chain to run out of fuel, got {other:?}"),
    };
    assert!(matches!(err.kind, ErrorKind::FuelExhausted { .. }), "{err}");
    assert!(err.metrics.as_ref().unwrap().fuel_used <= fuel, "{:?}", err.metrics);
    still_serves();
}

// ---- the store as an attacker writes it ----------------------------------------------

/// The parts of an artifact envelope (see `wasmod_runtime`'s artifact docs): the header
/// up to the wasm hash, the payload, and the MAC.
fn envelope_parts(bytes: &[u8]) -> (&[u8], &[u8]) {
    let id_len = u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize;
    let header = &bytes[..12 + id_len + 32];
    let payload = &bytes[header.len() + 32 + 8..bytes.len() - 32];
    (header, payload)
}

/// Whoever can write the store's `artifacts/` can compute every checksum of an
/// envelope: the identity, the hash of the wasm and of the payload. Here the artifact of
/// `forged-a` is replaced by `forged-b`'s code under `forged-a`'s wasm hash, with every
/// checksum right. The host must not load it (it would run b's code as a's): the MAC
/// under the host's key, kept outside the store, does not verify, so the function is
/// compiled again from its validated wasm.
#[test]
fn a_forged_artifact_with_correct_checksums_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let host = Host::builder()
        .store(dir.path())
        .artifact_key_file(keys.path().join("artifact.key"))
        .policy(test_policy())
        .open()
        .unwrap();
    for name in ["a", "b"] {
        // Returns its own name: a region of 1 byte at 0.
        let wasm =
            wat(&wasmod_tests::abi_module("", "i64.const 0x100000000", &format!(r#"(data (i32.const 0) "{name}")"#)));
        let manifest = format!(
            r#"(name: "hostile/forged-{name}", version: "1.0.0", functions: {{ "run": (implements: "test.run") }})"#
        );
        host.install(&wasmod_tests::package_from_files(&manifest, &[("run.wasm", wasm)])).unwrap();
    }
    let artifact = |name: &str| {
        let dir = dir.path().join(format!("modules/hostile/forged-{name}/1.0.0/artifacts"));
        let entry = std::fs::read_dir(dir).unwrap().next().unwrap().unwrap();
        (entry.path(), std::fs::read(entry.path()).unwrap())
    };
    let (a_path, a_bytes) = artifact("a");
    let (_, b_bytes) = artifact("b");
    let (a_header, _) = envelope_parts(&a_bytes);
    let (_, b_payload) = envelope_parts(&b_bytes);
    let mut forged = a_header.to_vec();
    forged.extend_from_slice(blake3::hash(b_payload).as_bytes());
    forged.extend_from_slice(&(b_payload.len() as u64).to_le_bytes());
    forged.extend_from_slice(b_payload);
    forged.extend_from_slice(&a_bytes[a_bytes.len() - 32..]);
    std::fs::write(&a_path, &forged).unwrap();

    let active = host.activate(&[Request::parse("hostile/forged-a", None).unwrap()], &AppConfig::new()).unwrap();
    assert_eq!(active.call("hostile/forged-a", "run", b"").unwrap().output, b"a", "the forged code ran");
    assert_ne!(std::fs::read(&a_path).unwrap(), forged, "the forged artifact was replaced");
    // A host with another key trusts none of these artifacts, and still runs the right code.
    let other = Host::builder().store(dir.path()).artifact_key([9; 32]).policy(test_policy()).open().unwrap();
    let active = other.activate(&[Request::parse("hostile/forged-b", None).unwrap()], &AppConfig::new()).unwrap();
    assert_eq!(active.call("hostile/forged-b", "run", b"").unwrap().output, b"b");
}

/// A chain of module calls shares the top call's memory limit: the callee may have only
/// the pages its caller does not hold. (It used to get the whole limit again at every
/// level, so a chain of depth 8 could hold 8 times the limit.)
#[test]
fn a_chain_of_module_calls_shares_one_memory_limit() {
    let host = host();
    // The callee grows its memory a page at a time while it can, then returns its size
    // in pages (4 bytes at 0).
    let callee = wat(&wasmod_tests::abi_module(
        "",
        "(loop $more (br_if $more (i32.ne (memory.grow (i32.const 1)) (i32.const -1))))
         (i32.store (i32.const 0) (memory.size)) i64.const 0x400000000",
        "",
    ));
    let manifest = r#"(name: "hostile/grower", version: "1.0.0", functions: { "run": (implements: "test.run") }) "#;
    host.install(&wasmod_tests::package_from_files(manifest, &[("run.wasm", callee)])).unwrap();
    // The caller holds 8 pages and returns what the callee returned (the envelope's
    // bytes after its status byte).
    let caller = caller_of(
        "hostile/grower",
        8,
        "(if (i64.lt_s (local.get $r) (i64.const 0)) (then unreachable))
         (if (i32.ne (i32.load8_u (i32.wrap_i64 (local.get $r))) (i32.const 0)) (then unreachable))
         ;; the region less its first byte
         (i64.add (i64.sub (local.get $r) (i64.const 0x100000000)) (i64.const 1))",
    );
    let manifest = r#"(name: "hostile/holder", version: "1.0.0", dependencies: { "hostile/grower": "*" }, functions: { "run": (implements: "test.run", groups: ["modules"]) })"#;
    host.install(&wasmod_tests::package_from_files(manifest, &[("run.wasm", caller)])).unwrap();
    let active = host.activate(&[Request::parse("hostile/holder", None).unwrap()], &AppConfig::new()).unwrap();
    for limit in [12, 20] {
        let limits = CallLimits { memory_pages: limit, ..CallLimits::default() };
        let out = active.call_with("hostile/holder", "run", b"", limits).unwrap();
        let pages = u32::from_le_bytes(out.output.try_into().unwrap());
        assert_eq!(pages, limit - 8, "the callee had {pages} pages under a limit of {limit} with 8 held above it");
    }
    // Alone, the callee gets the whole limit.
    let active = host.activate(&[Request::parse("hostile/grower", None).unwrap()], &AppConfig::new()).unwrap();
    let limits = CallLimits { memory_pages: 12, ..CallLimits::default() };
    let out = active.call_with("hostile/grower", "run", b"", limits).unwrap();
    assert_eq!(u32::from_le_bytes(out.output.try_into().unwrap()), 12);
    still_serves();
}
