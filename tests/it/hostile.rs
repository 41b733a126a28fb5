//! The hostile corpus (`tests/hostile/`): every case gets exactly the rejection or error
//! it must get. See `tests/hostile/README.md`.

use std::path::PathBuf;
use std::time::Duration;

use wasmod::{AppConfig, CallLimits, Error, ErrorKind, Host, Request};
use wasmod_manifest::{ArchiveError, ArchiveLimits, read_package};
use wasmod_tests::{root, run_package, test_policy, wat};

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
        ErrorKind::Link { .. } => "Link",
    }
}

struct Case {
    name: String,
    phase: String,
    expect: String,
    groups: Vec<String>,
    subsystem: String,
    limits: CallLimits,
    wasm: Vec<u8>,
}

fn header(text: &str, key: &str) -> Option<String> {
    text.lines()
        .take_while(|l| l.starts_with(";;"))
        .find_map(|l| l.trim_start_matches(";;").trim().strip_prefix(key).map(|v| v.trim().to_string()))
}

fn wat_cases() -> Vec<Case> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("tests/hostile"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wat"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&path).unwrap();
            let expect = header(&text, "expect:").unwrap_or_else(|| panic!("{name}: no `;; expect:` line"));
            let (phase, expect) = expect.split_once(' ').unwrap_or_else(|| panic!("{name}: `expect: <phase> <what>`"));
            let mut limits = CallLimits::default();
            for setting in header(&text, "limits:").unwrap_or_default().split_whitespace() {
                let (k, v) = setting.split_once('=').unwrap();
                let v: u64 = v.parse().unwrap();
                match k {
                    "fuel" => limits.fuel = v,
                    "memory_pages" => limits.memory_pages = v as u32,
                    "timeout_ms" => limits.timeout = Duration::from_millis(v),
                    other => panic!("{name}: unknown limit {other}"),
                }
            }
            let mut wasm = wat(&text);
            if name == "truncated" {
                wasm.truncate(wasm.len() / 2);
            }
            Case {
                name,
                phase: phase.to_string(),
                expect: expect.to_string(),
                groups: header(&text, "groups:")
                    .map(|g| g.split(',').map(|s| s.trim().to_string()).collect())
                    .unwrap_or_default(),
                subsystem: header(&text, "subsystem:").unwrap_or_else(|| "test.run".into()),
                limits,
                wasm,
            }
        })
        .collect()
}

#[test]
fn every_wat_case_fails_exactly_as_expected() {
    let cases = wat_cases();
    assert!(cases.len() >= 20, "the corpus lost cases");
    let dir = tempfile::tempdir().unwrap();
    let host = Host::builder().store(dir.path()).policy(test_policy()).open().unwrap();
    for case in cases {
        let groups: Vec<&str> = case.groups.iter().map(String::as_str).collect();
        let archive = run_package(&case.subsystem, &groups, case.wasm.clone());
        match case.phase.as_str() {
            "install" => match host.install(&archive) {
                Err(Error::Rejected(report)) => {
                    let codes: Vec<&str> = report.errors().map(|d| d.code.as_str()).collect();
                    assert!(
                        codes.contains(&case.expect.as_str()),
                        "{}: expected {}, got {codes:?}\n{report}",
                        case.name,
                        case.expect
                    );
                }
                other => panic!("{}: expected rejection {}, got {other:?}", case.name, case.expect),
            },
            "call" => {
                // Each call case is its own module version so they can all be installed.
                let archive = archive_with_version(&case, &groups, &archive);
                host.install(&archive).unwrap_or_else(|e| panic!("{}: {e}", case.name));
                let active = host
                    .activate(
                        &[Request::parse("hostile/m", Some(&format!("={}", version_of(&case.name)))).unwrap()],
                        &AppConfig::new(),
                    )
                    .unwrap();
                match active.call_with("hostile/m", "run", b"some input", Some(case.limits)) {
                    Err(Error::Call(e)) => assert_eq!(kind_name(&e.kind), case.expect, "{}: {e}", case.name),
                    other => panic!("{}: expected {}, got {other:?}", case.name, case.expect),
                }
                // And the host keeps serving.
                active
                    .call_with("hostile/m", "run", b"", Some(CallLimits { fuel: 1000, ..CallLimits::default() }))
                    .ok();
            }
            other => panic!("{}: unknown phase {other}", case.name),
        }
    }
}

/// A version number unique to each case name (so all cases install side by side).
fn version_of(name: &str) -> String {
    let h = name.bytes().fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    format!("1.0.{}", h % 1_000_000)
}

fn archive_with_version(case: &Case, groups: &[&str], _archive: &[u8]) -> Vec<u8> {
    let manifest = wasmod_tests::run_manifest(&case.subsystem, groups)
        .replace("\"1.0.0\"", &format!("{:?}", version_of(&case.name)));
    wasmod_tests::package_from_files(&manifest, &[("run.wasm", case.wasm.clone())])
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
    let host = Host::builder().store(dir.path()).policy(test_policy()).open().unwrap();
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
    let host = Host::builder().store(dir.path()).policy(test_policy()).open().unwrap();
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
    active.call_with("chain/c0", "run", b"", Some(limits)).unwrap();
    // And a chain shares one fuel budget: the caller pays for its callees.
    let tight = CallLimits { max_depth: 16, fuel: 200, ..CallLimits::default() };
    let err = active.call_with("chain/c0", "run", b"", Some(tight)).unwrap_err();
    assert!(err.to_string().contains("fuel"), "{err}");
}

// ---- fuzz regressions ---------------------------------------------------------------

/// Replays every kept fuzz finding. Nothing to replay while fuzzing has found nothing
/// (see docs/fuzzing.md); the bodies themselves are exercised by the next test.
#[test]
fn fuzz_findings_stay_fixed() {
    let dir = root().join("tests/hostile/fuzz");
    let Ok(targets) = std::fs::read_dir(&dir) else { return };
    for target in targets {
        let target = target.unwrap().path();
        for input in std::fs::read_dir(&target).unwrap() {
            let bytes = std::fs::read(input.unwrap().path()).unwrap();
            let name = target.file_name().unwrap().to_string_lossy();
            match name.as_ref() {
                "manifest" => {
                    wasmod_tests::fuzz::manifest(&bytes);
                }
                "archive" => {
                    wasmod_tests::fuzz::archive(&bytes);
                }
                "validate" => {
                    wasmod_tests::fuzz::validate(&bytes);
                }
                "call" => {
                    wasmod_tests::fuzz::call(&bytes);
                }
                other => panic!("unknown fuzz target directory {other}"),
            }
        }
    }
}

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
}
