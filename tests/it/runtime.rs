//! The runtime on real guests: round trips, every group binding, every limit, isolation
//! between calls, artifact verification, threads and leaks.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use wasmod_runtime::{ArtifactSource, CallLimits, CallOptions, DirCache, ErrorKind, LoadedFunction, Runtime};
use wasmod_tests::groups::{Journal, doubles};
use wasmod_tests::{package, validated, wat_fixture_package};

/// One artifact cache for the whole test binary, so each function compiles once.
fn cache() -> &'static DirCache {
    static CACHE: OnceLock<(tempfile::TempDir, DirCache)> = OnceLock::new();
    let (_, cache) = CACHE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let cache = DirCache::new(dir.path());
        (dir, cache)
    });
    cache
}

fn runtime() -> (Runtime, Arc<Journal>) {
    let journal = Arc::new(Journal::default());
    // One key for every runtime here, so that they share the cache's artifacts.
    let mut builder = Runtime::builder().artifact_key([1; 32]);
    for g in doubles(&journal) {
        builder = builder.group(g);
    }
    (builder.build(), journal)
}

fn load(rt: &Runtime, archive: &[u8], function: &str) -> LoadedFunction {
    rt.load(&validated(archive), function, cache()).unwrap_or_else(|e| panic!("{e}"))
}

fn limits(f: impl FnOnce(&mut CallLimits)) -> CallOptions {
    let mut l = CallLimits::default();
    f(&mut l);
    CallOptions { limits: Some(l), data: None }
}

/// After any failure, the same runtime still serves a normal call.
fn still_serves(rt: &Runtime) {
    let echo = load(rt, &package("all-groups"), "echo");
    assert_eq!(rt.call(&echo, b"still alive").unwrap().output, b"still alive");
}

#[test]
fn bytes_round_trip() {
    let (rt, _) = runtime();
    let echo = load(&rt, &package("all-groups"), "echo");
    let input: Vec<u8> = (0..=255).cycle().take(100_000).collect();
    let out = rt.call(&echo, &input).unwrap();
    assert_eq!(out.output, input);
    assert_eq!(rt.call(&echo, b"").unwrap().output, b"");
    assert!(out.metrics.fuel_used > 0 && out.metrics.memory_pages > 0);
}

#[derive(Serialize)]
struct Order {
    sku: String,
    quantity: u32,
}

#[derive(Deserialize, Debug, PartialEq)]
struct Receipt {
    sku: String,
    total_cents: u64,
}

#[test]
fn serde_values_round_trip() {
    let (rt, _) = runtime();
    let price = load(&rt, &package("all-groups"), "price");
    let input = wasmod_host_abi::wire::encode(&Order { sku: "sku-1".into(), quantity: 4 }).unwrap();
    let out = rt.call(&price, &input).unwrap();
    let receipt: Receipt = wasmod_host_abi::wire::decode(&out.output).unwrap();
    assert_eq!(receipt, Receipt { sku: "sku-1".into(), total_cents: 1000 });
    // The guest's own error comes back as GuestError with its message.
    let zero = wasmod_host_abi::wire::encode(&Order { sku: "x".into(), quantity: 0 }).unwrap();
    let err = rt.call(&price, &zero).unwrap_err();
    assert_eq!(err.kind, ErrorKind::GuestError { message: "quantity must be positive".into() });
    assert_eq!((err.module().as_str(), err.function()), ("fixtures/all-groups", "price"));
    // Undecodable input is the sdk's error, naming the function.
    let err = rt.call(&price, &[0xff; 3]).unwrap_err();
    assert!(matches!(&err.kind, ErrorKind::GuestError { message } if message.contains("`price`")), "{err}");
}

#[test]
fn every_standard_binding_reaches_its_host_function() {
    let (rt, journal) = runtime();
    let everything = load(&rt, &package("all-groups"), "everything");
    let out = rt.call(&everything, b"payload").unwrap();
    // clock.now + clock.monotonic and random.u64 (0xabab...) end up in the output.
    let text = String::from_utf8(out.output).unwrap();
    assert!(text.starts_with(&(1_700_000_000_000_000_000i64 + 42).to_string()), "{text}");
    assert!(text.ends_with(&u64::from_le_bytes([0xab; 8]).to_string()), "{text}");
    let calls = journal.calls.lock().unwrap().clone();
    for expected in [
        "log.write",
        "config.get",
        "config.get_from",
        "config.set",
        "clock.now_unix_nanos",
        "clock.monotonic_nanos",
        "random.fill",
        "kv.set",
        "kv.get",
        "kv.delete",
        "kv.list",
        "modules.call",
        "acme.inventory.stock",
    ] {
        assert!(calls.iter().any(|c| c == expected), "{expected} was not reached: {calls:?}");
    }
    assert_eq!(journal.logs.lock().unwrap().as_slice(), ["everything: 7 bytes"]);
}

#[test]
fn a_guest_error_and_a_guest_panic() {
    let (rt, _) = runtime();
    let fails = load(&rt, &package("all-groups"), "fails");
    let err = rt.call(&fails, b"").unwrap_err();
    assert_eq!(err.kind, ErrorKind::GuestError { message: "this function always fails".into() });
    let panics = load(&rt, &package("all-groups"), "panics");
    let err = rt.call(&panics, b"").unwrap_err();
    let ErrorKind::GuestPanic { message } = &err.kind else { panic!("expected a panic, got {err}") };
    assert!(message.contains("nobody expects an empty input") && message.contains("src/lib.rs"), "{message}");
    assert_eq!(rt.call(&panics, b"fine").unwrap().output, b"fine");
}

#[test]
fn infinite_loop_stops_on_fuel() {
    let (rt, _) = runtime();
    for f in [load(&rt, &package("limits"), "spin"), load(&rt, &wat_fixture_package("loop", &[]), "run")] {
        let err = rt.call_with(&f, b"", &limits(|l| l.fuel = 5_000_000)).unwrap_err();
        assert_eq!(err.kind, ErrorKind::FuelExhausted { fuel: 5_000_000 }, "{err}");
        let used = err.metrics.as_ref().unwrap().fuel_used;
        assert!(used > 4_900_000 && used <= 5_000_000, "used {used}");
    }
    still_serves(&rt);
}

#[test]
fn infinite_loop_stops_on_the_deadline_even_with_huge_fuel() {
    let (rt, _) = runtime();
    for f in [load(&rt, &package("limits"), "spin"), load(&rt, &wat_fixture_package("loop", &[]), "run")] {
        let started = Instant::now();
        let options = limits(|l| {
            l.fuel = u64::MAX / 2;
            l.timeout = Duration::from_millis(200);
        });
        let err = rt.call_with(&f, b"", &options).unwrap_err();
        let elapsed = started.elapsed();
        assert_eq!(err.kind, ErrorKind::DeadlineExceeded { timeout: Duration::from_millis(200) }, "{err}");
        assert!(elapsed >= Duration::from_millis(200), "stopped early: {elapsed:?}");
        assert!(elapsed < Duration::from_secs(10), "stopped late: {elapsed:?}");
    }
    still_serves(&rt);
}

#[test]
fn memory_bomb_stops_on_the_memory_limit() {
    let (rt, _) = runtime();
    for f in [load(&rt, &package("limits"), "hog"), load(&rt, &wat_fixture_package("grow_bomb", &[]), "run")] {
        let err = rt.call_with(&f, b"", &limits(|l| l.memory_pages = 64)).unwrap_err();
        assert_eq!(err.kind, ErrorKind::MemoryLimit { limit_pages: 64 }, "{err}");
        assert!(err.metrics.as_ref().unwrap().memory_pages <= 64);
    }
    still_serves(&rt);
}

#[test]
fn unbounded_recursion_traps() {
    let (rt, _) = runtime();
    for f in [load(&rt, &package("limits"), "recurse"), load(&rt, &wat_fixture_package("recursion", &[]), "run")] {
        let err = rt.call(&f, b"").unwrap_err();
        assert_eq!(err.kind, ErrorKind::StackOverflow, "{err}");
    }
    still_serves(&rt);
}

#[test]
fn out_of_bounds_output_is_a_guest_error() {
    let (rt, _) = runtime();
    let f = load(&rt, &wat_fixture_package("oob_output", &[]), "run");
    let err = rt.call(&f, b"").unwrap_err();
    assert!(matches!(&err.kind, ErrorKind::BadPointer { reason } if reason.contains("0xfffff0")), "{err}");
    still_serves(&rt);
}

#[test]
fn out_of_bounds_pointer_to_a_host_function_is_a_guest_error() {
    let (rt, journal) = runtime();
    let f = load(&rt, &wat_fixture_package("bad_host_pointer", &["log"]), "run");
    let err = rt.call(&f, b"").unwrap_err();
    assert!(matches!(&err.kind, ErrorKind::BadPointer { reason } if reason.contains("log.write")), "{err}");
    assert!(journal.logs.lock().unwrap().is_empty());
    still_serves(&rt);
}

#[test]
fn output_larger_than_the_limit_is_refused() {
    let (rt, _) = runtime();
    let echo = load(&rt, &package("all-groups"), "echo");
    let err = rt.call_with(&echo, &[1u8; 4096], &limits(|l| l.max_output_bytes = 1000)).unwrap_err();
    assert_eq!(err.kind, ErrorKind::OutputTooLarge { len: 4096, limit: 1000 });
}

#[test]
fn a_call_never_sees_memory_written_by_an_earlier_call() {
    let (rt, _) = runtime();
    // Raw memory: each call writes a secret where the next call looks. Past 64 calls
    // this thread runs its own copy of the code (ADR 0007); both must be clean.
    let scribble = load(&rt, &wat_fixture_package("scribble", &[]), "run");
    for i in 0..150u8 {
        let out = rt.call(&scribble, &[i + 1; 16]).unwrap();
        assert_eq!(out.output, [0u8; 16], "call {i} saw a previous call's bytes");
    }
    // Rust statics: a value stashed by one call is gone in the next.
    let stash = load(&rt, &package("limits"), "stash");
    let peek = load(&rt, &package("limits"), "peek");
    rt.call(&stash, b"secret").unwrap();
    assert_eq!(rt.call(&peek, b"").unwrap().output, b"");
}

#[test]
fn fuel_and_memory_are_reported() {
    let (rt, _) = runtime();
    let busy = load(&rt, &package("limits"), "busy");
    let small = rt.call(&busy, &wasmod_host_abi::wire::encode(&10u64).unwrap()).unwrap();
    let large = rt.call(&busy, &wasmod_host_abi::wire::encode(&10_000u64).unwrap()).unwrap();
    assert!(large.metrics.fuel_used > small.metrics.fuel_used + 10_000, "{:?} vs {:?}", small.metrics, large.metrics);
    assert!(small.metrics.memory_pages >= 17);
    assert!(small.metrics.wall > Duration::ZERO);
}

#[test]
fn tampered_or_truncated_artifacts_are_recompiled() {
    let dir = tempfile::tempdir().unwrap();
    let cache = DirCache::new(dir.path());
    let (rt, _) = runtime();
    let pkg = validated(&package("three"));
    let wasm = pkg.function_bytes("pure").unwrap();
    let path = cache.path(&rt.cache_key(wasm, "pure"));

    assert_eq!(rt.load(&pkg, "pure", &cache).unwrap().source(), &ArtifactSource::CompiledMissing);
    assert_eq!(rt.load(&pkg, "pure", &cache).unwrap().source(), &ArtifactSource::Cache);

    let mut bytes = std::fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(&path, &bytes).unwrap();
    let f = rt.load(&pkg, "pure", &cache).unwrap();
    assert_eq!(f.source(), &ArtifactSource::CompiledReplacing { reason: "Corrupt".into() });
    assert_eq!(rt.call(&f, b"abc").unwrap().output, b"cba");
    assert_eq!(rt.load(&pkg, "pure", &cache).unwrap().source(), &ArtifactSource::Cache);

    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 100]).unwrap();
    let f = rt.load(&pkg, "pure", &cache).unwrap();
    assert_eq!(f.source(), &ArtifactSource::CompiledReplacing { reason: "Malformed".into() });
    assert_eq!(rt.call(&f, b"xy").unwrap().output, b"yx");
}

#[test]
fn calls_from_several_threads_all_return_correct_results() {
    let (rt, _) = runtime();
    let price = load(&rt, &package("all-groups"), "price");
    std::thread::scope(|s| {
        for t in 0..4u32 {
            let (rt, price) = (&rt, &price);
            s.spawn(move || {
                for i in 1..=250u32 {
                    let q = t * 1000 + i;
                    let input = wasmod_host_abi::wire::encode(&Order { sku: format!("t{t}"), quantity: q }).unwrap();
                    let receipt: Receipt =
                        wasmod_host_abi::wire::decode(&rt.call(price, &input).unwrap().output).unwrap();
                    assert_eq!(receipt, Receipt { sku: format!("t{t}"), total_cents: u64::from(q) * 250 });
                }
            });
        }
    });
}
