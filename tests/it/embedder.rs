//! The embedder's side through the public API only: extension points (cardinality,
//! implementations in plan order, calls by subsystem with each failure mode) and typed
//! calls, on modules built from WAT and on real sdk guests.

use std::path::Path;

use serde::{Deserialize, Serialize};
use wasmod::{AppConfig, Error, Host, Request, SubsystemDef};
use wasmod_tests::{abi_module, constant_module as module, package, package_from_files, test_policy, wat};

/// A module whose `run` (subsystem `test.run`) returns its input.
fn echo(name: &str) -> Vec<u8> {
    let body = "(i64.or (i64.shl (i64.extend_i32_u (local.get 1)) (i64.const 32)) (i64.extend_i32_u (local.get 0)))";
    let manifest = format!(r#"(name: {name:?}, version: "1.0.0", functions: {{ "run": (implements: "test.run") }})"#);
    package_from_files(&manifest, &[("run.wasm", wat(&abi_module("", body, "")))])
}

/// A host whose policy has `pricing.quote` (one implementation), `audit.hook` (many,
/// stop at the first error) and `audit.collect` (many, collect every result).
fn host(dir: &Path) -> Host {
    Host::builder()
        .store(dir)
        .artifact_key([4; 32])
        .policy(test_policy())
        .extension_point("pricing.quote", SubsystemDef::new(&[], "Prices an order.").one())
        .extension_point("audit.hook", SubsystemDef::new(&[], "Sees every order."))
        .extension_point("audit.collect", SubsystemDef::new(&[], "Sees every order.").collect_errors())
        .open()
        .unwrap()
}

fn req(name: &str) -> Request {
    Request::parse(name, None).unwrap()
}

fn names(active: &wasmod::Activation, subsystem: &str) -> Vec<String> {
    active.implementations(subsystem).iter().map(|i| format!("{}.{}", i.module, i.function)).collect()
}

#[test]
fn a_one_subsystem_with_two_active_implementations_is_refused_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(dir.path());
    host.install(&module("p/cheap", "pricing.quote", "1", false, &[])).unwrap();
    host.install(&module("p/dear", "pricing.quote", "9", false, &[])).unwrap();
    // Each alone is fine.
    let active = host.activate(&[req("p/cheap")], &AppConfig::new()).unwrap();
    assert_eq!(active.call_one("pricing.quote", b"").unwrap().output, b"1");
    match host.activate(&[req("p/cheap"), req("p/dear")], &AppConfig::new()) {
        Err(Error::TooManyImplementations { subsystem, implementations }) => {
            assert_eq!(subsystem, "pricing.quote");
            assert_eq!(implementations, ["p/cheap@1.0.0 (run)", "p/dear@1.0.0 (run)"]);
        }
        other => panic!("expected TooManyImplementations, got {other:?}"),
    }
}

#[test]
fn implementations_come_in_plan_order_and_each_is_called_in_it() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(dir.path());
    // a/top depends on z/base, so z/base comes first in the plan although it sorts
    // after a/top by name.
    host.install(&module("z/base", "audit.hook", "base", false, &[])).unwrap();
    host.install(&module("a/top", "audit.hook", "top", false, &["z/base"])).unwrap();
    host.install(&module("m/other", "pricing.quote", "7", false, &[])).unwrap();
    let active = host.activate(&[req("a/top"), req("m/other")], &AppConfig::new()).unwrap();
    assert_eq!(names(&active, "audit.hook"), ["z/base.run", "a/top.run"]);
    assert_eq!(names(&active, "pricing.quote"), ["m/other.run"]);
    assert!(active.implementations("nobody.implements").is_empty());
    let outputs: Vec<Vec<u8>> =
        active.call_each("audit.hook", b"order").into_iter().map(|c| c.result.unwrap().output).collect();
    assert_eq!(outputs, [b"base".to_vec(), b"top".to_vec()]);
}

#[test]
fn call_one_needs_exactly_one_implementation() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(dir.path());
    host.install(&module("h/one", "audit.hook", "1", false, &[])).unwrap();
    host.install(&module("h/two", "audit.hook", "2", false, &[])).unwrap();
    let active = host.activate(&[req("h/one"), req("h/two")], &AppConfig::new()).unwrap();
    match active.call_one("pricing.quote", b"") {
        Err(Error::NoImplementation { subsystem }) => assert_eq!(subsystem, "pricing.quote"),
        other => panic!("expected NoImplementation, got {other:?}"),
    }
    match active.call_one("audit.hook", b"") {
        Err(Error::TooManyImplementations { implementations, .. }) => assert_eq!(implementations.len(), 2),
        other => panic!("expected TooManyImplementations, got {other:?}"),
    }
}

#[test]
fn call_each_stops_at_the_first_failure_unless_the_subsystem_collects() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(dir.path());
    for (subsystem, prefix) in [("audit.hook", "s"), ("audit.collect", "c")] {
        host.install(&module(&format!("{prefix}/a"), subsystem, "a", false, &[])).unwrap();
        host.install(&module(&format!("{prefix}/b"), subsystem, "b refuses", true, &[])).unwrap();
        host.install(&module(&format!("{prefix}/c"), subsystem, "c", false, &[])).unwrap();
    }
    let request: Vec<Request> = ["s/a", "s/b", "s/c", "c/a", "c/b", "c/c"].iter().map(|n| req(n)).collect();
    let active = host.activate(&request, &AppConfig::new()).unwrap();

    let stopped = active.call_each("audit.hook", b"");
    let called: Vec<String> = stopped.iter().map(|c| c.implementation.module.to_string()).collect();
    assert_eq!(called, ["s/a", "s/b"], "the implementation after the failure is not called");
    assert!(stopped[0].result.is_ok());
    match &stopped[1].result {
        Err(Error::Call(e)) => {
            assert!(matches!(&e.kind, wasmod::ErrorKind::GuestError { message } if message == "b refuses"))
        }
        other => panic!("expected the guest's error, got {other:?}"),
    }

    let collected = active.call_each("audit.collect", b"");
    let outcomes: Vec<(String, bool)> =
        collected.iter().map(|c| (c.implementation.module.to_string(), c.result.is_ok())).collect();
    assert_eq!(outcomes, [("c/a".into(), true), ("c/b".into(), false), ("c/c".into(), true)]);
}

#[test]
fn a_policy_file_declares_cardinality_and_failure_mode() {
    let policy = wasmod::load_policy(
        r#"(subsystems: {
            "pricing.quote": (groups: [], cardinality: one),
            "audit.hook": (groups: ["log"], on_error: collect),
            "orders.place": (groups: []),
        })"#,
    )
    .unwrap();
    let def = |name: &str| policy.subsystem(name).unwrap().clone();
    assert_eq!(
        (def("pricing.quote").cardinality, def("pricing.quote").on_error),
        (wasmod::Cardinality::One, wasmod::OnError::Stop)
    );
    assert_eq!(
        (def("audit.hook").cardinality, def("audit.hook").on_error),
        (wasmod::Cardinality::Many, wasmod::OnError::Collect)
    );
    assert_eq!(def("orders.place").cardinality, wasmod::Cardinality::Many, "many is the default");
    assert!(matches!(
        wasmod::load_policy(r#"(subsystems: { "x.y": (groups: [], cardinality: two) })"#),
        Err(wasmod::PolicyError::Syntax { .. })
    ));
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Order {
    sku: String,
    quantity: u32,
}

#[test]
fn typed_calls_encode_the_input_and_decode_the_output() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(dir.path());
    host.install(&echo("t/echo")).unwrap();
    host.install(&package("lifecycle-base")).unwrap();
    let active = host.activate(&[req("t/echo"), req("fixtures/base")], &AppConfig::new()).unwrap();
    let order = Order { sku: "tea".into(), quantity: 2 };

    // The echo returns the encoded input: decoding it as the same type gives it back.
    let back: Order = active.call_json("t/echo", "run", &order).unwrap();
    assert_eq!(back, order);
    let back: Order = active.call_postcard("t/echo", "run", &order).unwrap();
    assert_eq!(back, order);
    // The two encodings differ: postcard bytes are not JSON.
    let raw = active.call_postcard::<_, serde_json::Value>("t/echo", "run", &order).unwrap_err();
    assert!(matches!(&raw, Error::Encoding { format: "postcard", direction: "output", .. }), "{raw}");
    match active.call_json::<_, Vec<u64>>("t/echo", "run", &order) {
        Err(Error::Encoding { module, function, format, direction, .. }) => {
            assert_eq!((module.as_str(), function.as_str(), format, direction), ("t/echo", "run", "JSON", "output"));
        }
        other => panic!("expected a decoding error, got {other:?}"),
    }

    // A real sdk guest taking and returning `Json<T>`: its init wrote the marker.
    let marker: Option<String> = active.call_json("fixtures/base", "kv_read", "marker").unwrap();
    assert_eq!(marker.as_deref(), Some("written by init"));
    let missing: Option<String> = active.call_json("fixtures/base", "kv_read", "nothing").unwrap();
    assert_eq!(missing, None);
}

/// A host with the embedder group `acme.stock@1`, built from closures, and a subsystem
/// `test.stock` that may use it.
fn stock_host(dir: &Path) -> Host {
    use wasmod::{GroupBuilder, HostContext, HostFunctionError};
    let stock = GroupBuilder::new("acme.stock", 1, "Stock levels.")
        .bytes("level", "The stock level of a SKU, as text.", |_cx, sku| {
            Ok(if sku == b"tea" { b"12".to_vec() } else { b"0".to_vec() })
        })
        .typed("reserve", "Reserves `n` of a SKU; says how many are left.", |_cx, (sku, n): (String, u32)| {
            if sku == "tea" { Ok(12u32.saturating_sub(n)) } else { Err(HostFunctionError::Status(-1)) }
        })
        .func("double", "Twice its argument.", |_cx: &mut HostContext<'_>, n: i32| Ok(n * 2))
        .build();
    Host::builder()
        .store(dir)
        .artifact_key([5; 32])
        .subsystem("test.stock", &["acme.stock"], "Uses the stock group.")
        .custom_group(stock)
        .open()
        .unwrap()
}

/// A module `name` whose `run` passes its input to `acme.stock`'s `function` (of
/// signature `[i32, i32] -> [i64]`) and returns what it returns.
fn stock_caller(name: &str, function: &str) -> Vec<u8> {
    let import = format!(r#"(import "wasmod:acme.stock@1" {function:?} (func $f (param i32 i32) (result i64)))"#);
    let manifest = format!(
        r#"(name: {name:?}, version: "1.0.0", functions: {{ "run": (implements: "test.stock", groups: ["acme.stock"]) }})"#
    );
    package_from_files(
        &manifest,
        &[("run.wasm", wat(&abi_module(&import, "(call $f (local.get 0) (local.get 1))", "")))],
    )
}

#[test]
fn an_embedder_group_built_from_closures_is_validated_and_linked_from_one_definition() {
    let dir = tempfile::tempdir().unwrap();
    let host = stock_host(dir.path());
    // The group's definition is in the policy, with the signatures the closures give.
    let def = host.policy().group("acme.stock").expect("the group is offered");
    let signatures: Vec<(String, String)> =
        def.functions.iter().map(|f| (f.name.to_string(), f.signature.to_string())).collect();
    assert_eq!(
        signatures,
        [
            ("level".into(), "[i32, i32] -> [i64]".into()),
            ("reserve".into(), "[i32, i32] -> [i64]".into()),
            ("double".into(), "[i32] -> [i32]".into())
        ]
    );

    host.install(&stock_caller("s/level", "level")).unwrap();
    host.install(&stock_caller("s/reserve", "reserve")).unwrap();
    let double = {
        let import = r#"(import "wasmod:acme.stock@1" "double" (func $double (param i32) (result i32)))"#;
        // Returns the first `double(len)` bytes of its memory.
        let body = "(i64.shl (i64.extend_i32_u (call $double (local.get 1))) (i64.const 32))";
        let manifest = r#"(name: "s/double", version: "1.0.0", functions: { "run": (implements: "test.stock", groups: ["acme.stock"]) })"#;
        package_from_files(manifest, &[("run.wasm", wat(&abi_module(import, body, "")))])
    };
    host.install(&double).unwrap();
    let active = host.activate(&[req("s/level"), req("s/reserve"), req("s/double")], &AppConfig::new()).unwrap();

    assert_eq!(active.call("s/level", "run", b"tea").unwrap().output, b"12");
    assert_eq!(active.call("s/level", "run", b"cake").unwrap().output, b"0");
    let left: u32 = active.call_postcard("s/reserve", "run", &("tea".to_string(), 5u32)).unwrap();
    assert_eq!(left, 7);
    assert_eq!(active.call("s/double", "run", b"abc").unwrap().output.len(), 6);
    // A status from the closure reaches the guest as its result: here, returned as the
    // entry's word, it is refused as output (a negative word is an error region).
    let refused = active.call_postcard::<_, u32>("s/reserve", "run", &("cake".to_string(), 1u32));
    assert!(
        matches!(&refused, Err(Error::Call(e)) if matches!(e.kind, wasmod::ErrorKind::OutputTooLarge { .. })),
        "{refused:?}"
    );
}

#[test]
fn a_typed_embedder_function_answers_invalid_to_input_that_does_not_decode() {
    let dir = tempfile::tempdir().unwrap();
    let host = stock_host(dir.path());
    // `run` passes its input to `reserve` and answers one byte if the status was INVALID
    // (-3), none otherwise; the closure never returns -3, so only the decoding can.
    let import = r#"(import "wasmod:acme.stock@1" "reserve" (func $f (param i32 i32) (result i64)))"#;
    let body = "(if (result i64) (i64.eq (call $f (local.get 0) (local.get 1)) (i64.const -3)) \
                (then (i64.const 4294967296)) (else (i64.const 0)))";
    let manifest = r#"(name: "s/garbled", version: "1.0.0", functions: { "run": (implements: "test.stock", groups: ["acme.stock"]) })"#;
    host.install(&package_from_files(manifest, &[("run.wasm", wat(&abi_module(import, body, "")))])).unwrap();
    let active = host.activate(&[req("s/garbled")], &AppConfig::new()).unwrap();
    // Not postcard of (String, u32): a string length that runs past the input.
    assert_eq!(active.call("s/garbled", "run", &[0xff]).unwrap().output.len(), 1);
    // Well-formed input reaches the closure, which answers a count, not the status.
    let encoded = wasmod_host_abi::wire::encode(&("tea".to_string(), 1u32)).unwrap();
    assert_eq!(active.call("s/garbled", "run", &encoded).unwrap().output.len(), 0);
}

#[test]
fn a_guest_importing_an_embedder_function_with_another_signature_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let host = stock_host(dir.path());
    // `double` takes one i32; this guest imports it with two.
    match host.install(&stock_caller("s/wrong", "double")) {
        Err(Error::Rejected(report)) => {
            let codes: Vec<&str> = report.errors().map(|d| d.code.as_str()).collect();
            assert_eq!(codes, ["import-bad-signature"], "{report}");
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
}

/// A host that quarantines a function after 3 failures in a row, for `cooldown_ms`.
fn quarantining_host(dir: &Path, cooldown_ms: u64) -> Host {
    let mut policy = test_policy();
    policy.quarantine = wasmod::QuarantinePolicy { after_failures: 3, cooldown_ms };
    Host::builder().store(dir).artifact_key([6; 32]).policy(policy).open().unwrap()
}

fn one_function(name: &str, body: &str) -> Vec<u8> {
    let manifest = format!(r#"(name: {name:?}, version: "1.0.0", functions: {{ "run": (implements: "test.run") }})"#);
    package_from_files(&manifest, &[("run.wasm", wat(&abi_module("", body, "(data (i32.const 16) \"no\")")))])
}

fn stats_of(host: &Host, module: &str) -> wasmod::FunctionStats {
    host.statistics().into_iter().find(|s| s.module.as_str() == module).expect("the function has statistics")
}

#[test]
fn a_function_that_keeps_trapping_is_quarantined_and_its_calls_fail_fast() {
    let dir = tempfile::tempdir().unwrap();
    let host = quarantining_host(dir.path(), 300);
    host.install(&one_function("q/traps", "unreachable")).unwrap();
    let active = host.activate(&[req("q/traps")], &AppConfig::new()).unwrap();
    for _ in 0..3 {
        let err = active.call("q/traps", "run", b"").unwrap_err();
        assert!(matches!(&err, Error::Call(e) if matches!(e.kind, wasmod::ErrorKind::Trap { .. })), "{err}");
    }
    match active.call("q/traps", "run", b"") {
        Err(Error::Quarantined { module, function, failures, retry_after }) => {
            assert_eq!((module.as_str(), function.as_str(), failures), ("q/traps", "run", 3));
            assert!(retry_after <= std::time::Duration::from_millis(300));
        }
        other => panic!("expected the quarantine, got {other:?}"),
    }
    let stats = stats_of(&host, "q/traps");
    assert_eq!((stats.calls, stats.succeeded, stats.quarantines), (4, 0, 1));
    assert_eq!(stats.errors.get("trap"), Some(&3));
    assert_eq!(stats.errors.get("quarantined"), Some(&1));
    assert!(stats.quarantined_for.is_some());
    // The activation sees the same record.
    assert_eq!(active.statistics().iter().map(|s| s.calls).collect::<Vec<_>>(), [4]);

    // After the cooldown the function runs again; failing again, it is set aside again.
    std::thread::sleep(std::time::Duration::from_millis(350));
    let trial = active.call("q/traps", "run", b"");
    assert!(matches!(&trial, Err(Error::Call(e)) if matches!(e.kind, wasmod::ErrorKind::Trap { .. })), "{trial:?}");
    assert!(matches!(active.call("q/traps", "run", b""), Err(Error::Quarantined { failures: 4, .. })));
    assert_eq!(stats_of(&host, "q/traps").quarantines, 2);
    // An uninstalled version's record goes with it.
    drop(active);
    host.uninstall(&"q/traps".parse().unwrap(), &"1.0.0".parse().unwrap()).unwrap();
    assert!(host.statistics().is_empty());
}

#[test]
fn a_function_returning_its_own_error_is_not_quarantined_and_statistics_measure_calls() {
    let dir = tempfile::tempdir().unwrap();
    let host = quarantining_host(dir.path(), 60_000);
    let refuses = format!("i64.const {}", wasmod_tests::ok_word(16, 2) | i64::MIN);
    host.install(&one_function("q/refuses", &refuses)).unwrap();
    host.install(&echo("q/echo")).unwrap();
    let active = host.activate(&[req("q/refuses"), req("q/echo")], &AppConfig::new()).unwrap();
    for _ in 0..10 {
        let refused = active.call("q/refuses", "run", b"");
        assert!(
            matches!(&refused, Err(Error::Call(e)) if matches!(e.kind, wasmod::ErrorKind::GuestError { .. })),
            "{refused:?}"
        );
        assert_eq!(active.call("q/echo", "run", b"hello").unwrap().output, b"hello");
    }
    let refuses = stats_of(&host, "q/refuses");
    assert_eq!((refuses.calls, refuses.quarantines, refuses.consecutive_failures), (10, 0, 0));
    assert_eq!(refuses.errors.get("guest_error"), Some(&10));
    let echo = stats_of(&host, "q/echo");
    assert_eq!((echo.calls, echo.succeeded), (10, 10));
    assert!(echo.errors.is_empty());
    assert!(echo.fuel_p50 > 0 && echo.fuel_p99 >= echo.fuel_p50, "{echo:?}");
    assert!(echo.wall_p99 >= echo.wall_p50 && echo.wall_p99 > std::time::Duration::ZERO, "{echo:?}");
}

/// A `run` that calls `run` of `callee` (through `modules.call`, with no input) and
/// answers the envelope that came back.
fn calling(callee: &str) -> Vec<u8> {
    wat(&format!(
        r#"(module
        (import "wasmod:modules@1" "call" (func $call (param i32 i32 i32 i32 i32 i32) (result i64)))
        (memory (export "memory") 1)
        (data (i32.const 0) "{callee}")
        (data (i32.const 64) "run")
        (func (export "__wasmod_abi_v1"))
        (func (export "wasmod_alloc") (param i32) (result i32) i32.const 1024)
        (func (export "run") (param i32 i32) (result i64)
          (call $call (i32.const 0) (i32.const {len}) (i32.const 64) (i32.const 3) (i32.const 0) (i32.const 0))))"#,
        len = callee.len()
    ))
}

#[test]
fn nested_calls_and_init_hooks_count_and_a_quarantined_callee_is_refused_to_its_caller() {
    let dir = tempfile::tempdir().unwrap();
    let host = quarantining_host(dir.path(), 60_000);
    host.install(&one_function("n/callee", "unreachable")).unwrap();
    // `run` calls `n/callee.run` and answers the envelope that came back; `init` does
    // nothing.
    let run = calling("n/callee");
    let init = wat(r#"(module
        (memory (export "memory") 1)
        (func (export "__wasmod_abi_v1"))
        (func (export "wasmod_alloc") (param i32) (result i32) i32.const 1024)
        (func (export "init") (param i32 i32) (result i64) i64.const 0))"#);
    let manifest = r#"(name: "n/caller", version: "1.0.0", dependencies: { "n/callee": "*" },
        functions: { "run": (implements: "test.run", groups: ["modules"]), "init": (implements: "init") })"#;
    host.install(&package_from_files(manifest, &[("run.wasm", run), ("init.wasm", init)])).unwrap();
    let active = host.activate(&[req("n/caller")], &AppConfig::new()).unwrap();
    let envelopes: Vec<Vec<u8>> = (0..4).map(|_| active.call("n/caller", "run", b"").unwrap().output).collect();
    // Every envelope is CALL_ERR and a message: three traps, then the refusal.
    assert!(envelopes.iter().all(|e| e.first() == Some(&1)), "{envelopes:?}");
    let refusal = String::from_utf8_lossy(&envelopes[3][1..]).into_owned();
    assert!(refusal.contains("n/callee function `run` is quarantined after 3 failures in a row"), "{refusal}");
    let of = |module: &str, function: &str| {
        host.statistics()
            .into_iter()
            .find(|s| s.module.as_str() == module && s.function == function)
            .unwrap_or_else(|| panic!("no statistics of {module}.{function}"))
    };
    let callee = of("n/callee", "run");
    // Three traps quarantine it; the fourth nested call is refused without running.
    assert_eq!((callee.calls, callee.quarantines), (4, 1));
    assert_eq!(callee.errors.get("trap"), Some(&3));
    assert_eq!(callee.errors.get("quarantined"), Some(&1));
    assert_eq!((of("n/caller", "run").calls, of("n/caller", "run").succeeded), (4, 4));
    assert_eq!((of("n/caller", "init").calls, of("n/caller", "init").succeeded), (1, 1));
}

#[test]
fn a_deadline_that_runs_out_in_a_nested_call_is_the_callers_failure() {
    let dir = tempfile::tempdir().unwrap();
    let host = quarantining_host(dir.path(), 60_000);
    host.install(&one_function("d/spin", "(loop $forever (br $forever)) unreachable")).unwrap();
    let run = calling("d/spin");
    let manifest = r#"(name: "d/caller", version: "1.0.0", dependencies: { "d/spin": "*" },
        functions: { "run": (implements: "test.run", groups: ["modules"]) })"#;
    host.install(&package_from_files(manifest, &[("run.wasm", run)])).unwrap();
    let active = host.activate(&[req("d/caller")], &AppConfig::new()).unwrap();
    let limits = wasmod::CallLimits { timeout: std::time::Duration::from_millis(50), ..Default::default() };
    for _ in 0..3 {
        let err = active.call_with("d/caller", "run", b"", limits).unwrap_err();
        assert!(
            matches!(&err, Error::Call(e) if matches!(e.kind, wasmod::ErrorKind::DeadlineExceeded { .. })),
            "{err}"
        );
    }
    let spin = stats_of(&host, "d/spin");
    assert_eq!(spin.errors.get("deadline_exceeded"), Some(&3));
    // Counted, but the spinning callee ran on its caller's time: no streak, no quarantine.
    assert_eq!((spin.calls, spin.consecutive_failures, spin.quarantines), (3, 0, 0));
    let caller = stats_of(&host, "d/caller");
    assert_eq!((caller.calls, caller.consecutive_failures, caller.quarantines), (3, 3, 1));
}

/// Version `version` of `u/app`: `run` (subsystem `test.run`) with `groups`, plus a
/// function `extra` with `log` when `extra`.
fn app_version(version: &str, groups: &[&str], extra: bool) -> Vec<u8> {
    let groups: Vec<String> = groups.iter().map(|g| format!("{g:?}")).collect();
    let extra_fn = if extra { r#", "extra": (implements: "test.run", groups: ["log"])"# } else { "" };
    let manifest = format!(
        r#"(name: "u/app", version: {version:?}, functions: {{ "run": (implements: "test.run", groups: [{}]){extra_fn} }})"#,
        groups.join(", ")
    );
    let module = abi_module("", "i64.const 0", "");
    let mut files = vec![("run.wasm", wat(&module))];
    if extra {
        files.push(("extra.wasm", wat(&module.replace(r#"(export "run")"#, r#"(export "extra")"#))));
    }
    package_from_files(&manifest, &files)
}

#[test]
fn an_upgrade_asking_for_new_groups_is_refused_with_the_difference_unless_approved() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(dir.path());
    host.install(&app_version("1.0.0", &["log"], false)).unwrap();
    // The same grants, or fewer: no approval needed.
    host.install(&app_version("1.0.1", &[], false)).unwrap();
    // 1.1.0 asks `run` for kv and adds `extra` (with log): compared with 1.0.1, the
    // highest installed version.
    let v110 = app_version("1.1.0", &["log", "kv"], true);
    match host.install(&v110) {
        Err(Error::NewGrants { module, previous, changes, new_dependencies }) => {
            assert_eq!((module.as_str(), previous.as_str()), ("u/app@1.1.0", "u/app@1.0.1"));
            let shown: Vec<String> = changes.iter().map(ToString::to_string).collect();
            assert_eq!(shown, ["extra (new): +log", "run: +kv +log"]);
            assert!(new_dependencies.is_empty());
        }
        other => panic!("expected NewGrants, got {other:?}"),
    }
    let listed = |host: &Host| -> Vec<String> { host.list().unwrap().installed.iter().map(|m| m.id()).collect() };
    assert_eq!(listed(&host), ["u/app@1.0.0", "u/app@1.0.1"], "the refusal installed nothing");
    let approved = wasmod::InstallOptions { allow_new_grants: true };
    host.install_with(&v110, &approved).unwrap();
    assert_eq!(listed(&host), ["u/app@1.0.0", "u/app@1.0.1", "u/app@1.1.0"]);
}

#[test]
fn an_upgrade_declaring_a_new_dependency_is_refused_unless_approved() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(dir.path());
    host.install(&echo("u/lib")).unwrap();
    host.install(&app_version("1.0.0", &[], false)).unwrap();
    // 1.1.0 asks for no new group but depends on u/lib, whose config and functions it
    // could then reach.
    let manifest = r#"(name: "u/app", version: "1.1.0", dependencies: { "u/lib": "*" },
        functions: { "run": (implements: "test.run", groups: []) })"#;
    let v110 = package_from_files(manifest, &[("run.wasm", wat(&abi_module("", "i64.const 0", "")))]);
    let err = host.install(&v110).unwrap_err();
    match &err {
        Error::NewGrants { changes, new_dependencies, .. } => {
            assert!(changes.is_empty(), "{changes:?}");
            assert_eq!(new_dependencies, &["u/lib"]);
        }
        other => panic!("expected NewGrants, got {other:?}"),
    }
    assert!(
        err.to_string().starts_with("u/app@1.1.0 asks for more than u/app@1.0.0 was granted: depends on: +u/lib;"),
        "{err}"
    );
    host.install_with(&v110, &wasmod::InstallOptions { allow_new_grants: true }).unwrap();
}

/// fixtures/base at `version`, from the lifecycle build, with `extra_config` added to its
/// config schema (RON entries, e.g. `"region": (type: String),`).
fn base_version(version: &str, extra_config: &str) -> Vec<u8> {
    let manifest = std::fs::read_to_string(wasmod_tests::root().join("tests/fixtures/lifecycle/base.module.ron"))
        .unwrap()
        .replace(r#"version: "1.0.0""#, &format!("version: {version:?}"))
        .replace(r#""derived": (type: String),"#, &format!(r#""derived": (type: String), {extra_config}"#));
    wasmod_pack::pack_build(&manifest, &wasmod_tests::build("lifecycle")).unwrap()
}

/// The upgrade recipe of the crate docs: build the new activation beside the one
/// serving, swap when it succeeds; a failed one leaves the old one serving.
#[test]
fn an_upgrade_is_prepared_beside_the_serving_activation_and_keeps_the_kv_data() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(dir.path());
    host.install(&package("lifecycle-base")).unwrap();
    let mut serving = host.activate(&[req("fixtures/base")], &AppConfig::new()).unwrap();
    serving.call("fixtures/base", "kv_put", br#"["order","42"]"#).unwrap();

    // 1.1.0 needs two config values the application does not give.
    host.install(&base_version(
        "1.1.0",
        r#""region": (type: String, required: true), "tier": (type: Int, required: true),"#,
    ))
    .unwrap();
    match host.activate(&[req("fixtures/base")], &AppConfig::new()) {
        Err(Error::Config(problems)) => assert_eq!(problems.len(), 2, "every problem is listed: {problems:?}"),
        other => panic!("expected the config problems, got {other:?}"),
    }
    // The old activation was never disturbed.
    let read: Option<String> = serving.call_json("fixtures/base", "kv_read", "order").unwrap();
    assert_eq!(read.as_deref(), Some("42"));
    assert_eq!(serving.plan().modules[0].version.to_string(), "1.0.0");

    // With the config it needs, the new version activates beside the old one; calls on
    // the old one go on meanwhile, from another thread.
    let mut config = AppConfig::new();
    config.set("fixtures/base", "region", "eu");
    config.set("fixtures/base", "tier", 2i64);
    let next = std::thread::scope(|s| {
        let old = &serving;
        let calls = s.spawn(move || {
            (0..20).all(|_| old.call_json::<_, Option<String>>("fixtures/base", "kv_read", "order").is_ok())
        });
        let next = host.activate(&[req("fixtures/base")], &config).unwrap();
        assert!(calls.join().unwrap(), "the serving activation kept answering");
        next
    });
    assert_eq!(next.plan().modules[0].version.to_string(), "1.1.0");
    serving = next;
    // The kv data belongs to the module name: the new version reads what the old wrote.
    let read: Option<String> = serving.call_json("fixtures/base", "kv_read", "order").unwrap();
    assert_eq!(read.as_deref(), Some("42"));
}

#[test]
fn the_lifecycle_hook_is_not_an_extension_point() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(dir.path());
    host.install(&package("lifecycle-base")).unwrap();
    let active = host.activate(&[req("fixtures/base")], &AppConfig::new()).unwrap();
    // `init` ran once, in the activation's init phase; nothing runs it again.
    assert!(active.implementations("init").is_empty());
    assert!(active.call_each("init", b"").is_empty());
    assert!(matches!(active.call_one("init", b""), Err(Error::NoImplementation { .. })));
    assert_eq!(active.implementations("test.run").len(), 4);
}
