//! Warm instances are reset exactly: every call observes what a fresh instance would,
//! whatever the calls before it did or how they ended. Each test calls at least three
//! times; every call reports the state it found (then changes it), and the report must
//! be the pristine one.
//!
//! The suite runs with warm instances on and off (`WASMOD_WARM_INSTANCES`); these tests
//! check that the warm path was taken whenever it is on.

use std::borrow::Cow;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use wasmod_host_abi::{GroupDef, HostFunctionDef, Signature, ValType};
use wasmod_runtime::{
    CallLimits, CallOptions, ErrorKind, HostContext, HostFunctionError, HostGroup, HostValue, LoadedFunction, NoCache,
    Runtime,
};
use wasmod_tests::{package, wat};
use wasmod_validator::HostPolicy;

/// A guest whose state covers every kind a reset must restore. Input byte 0 picks a mode:
/// 0 report then change everything; 1, 2, 3: the same, then trap, loop forever, or call a
/// host function that traps; 4 load past the initial memory; 5 grow by input byte 1
/// pages and return the result; 6 change everything, call itself through the host, then
/// report; 7 have the host write a page the guest never touches; 8 have the host read it.
const STATE_GUEST: &str = r#"(module
  (import "wasmod:t.warm@1" "trap" (func $trap (result i32)))
  (import "wasmod:t.warm@1" "reenter" (func $reenter (result i32)))
  (import "wasmod:t.warm@1" "poke" (func $poke (result i32)))
  (import "wasmod:t.warm@1" "peek" (func $peek (result i32)))
  (memory (export "memory") 2 16)
  (data (i32.const 0x10064) "DATA-SEGMENT")
  (global $i32 (mut i32) (i32.const 7))
  (global $i64 (mut i64) (i64.const 0x1122334455667788))
  (global $f32 (mut f32) (f32.const 1.5))
  (global $f64 (mut f64) (f64.const -2.25))
  (global $v128 (mut v128) (v128.const i64x2 0x0102030405060708 0x090a0b0c0d0e0f10))
  (global $func (mut funcref) (ref.null func))
  (global $ext (mut externref) (ref.null extern))
  (elem declare func $report)
  (func (export "__wasmod_abi_v1"))
  (func (export "wasmod_alloc") (param i32) (result i32) i32.const 1024)
  ;; 77 bytes at 0x3000: a zero page, a data segment's start and the tail of its page,
  ;; the last byte, memory.size, then every global.
  (func $report
    (i64.store (i32.const 0x3000) (i64.load (i32.const 0x5000)))
    (i64.store (i32.const 0x3008) (i64.load (i32.const 0x10064)))
    (i64.store (i32.const 0x3010) (i64.load (i32.const 0x10070)))
    (i32.store8 (i32.const 0x3018) (i32.load8_u (i32.const 0x1ffff)))
    (i32.store (i32.const 0x3019) (memory.size))
    (i32.store (i32.const 0x301d) (global.get $i32))
    (i64.store (i32.const 0x3021) (global.get $i64))
    (f32.store (i32.const 0x3029) (global.get $f32))
    (f64.store (i32.const 0x302d) (global.get $f64))
    (v128.store (i32.const 0x3035) (global.get $v128))
    (i32.store (i32.const 0x3045) (ref.is_null (global.get $func)))
    (i32.store (i32.const 0x3049) (ref.is_null (global.get $ext))))
  (func $change
    (i64.store (i32.const 0x5000) (i64.const -1))
    (i64.store (i32.const 0x10064) (i64.const -1))
    (i64.store (i32.const 0x10070) (i64.const -1))
    (i32.store8 (i32.const 0x1ffff) (i32.const 0xee))
    (drop (memory.grow (i32.const 2)))
    (i32.store (i32.const 0x20010) (i32.const 0x5a5a))
    (global.set $i32 (i32.const 99))
    (global.set $i64 (i64.const -5))
    (global.set $f32 (f32.const 9))
    (global.set $f64 (f64.const 9))
    (global.set $v128 (v128.const i64x2 -1 -1))
    (global.set $func (ref.func $report)))
  (func (export "run") (param $p i32) (param $l i32) (result i64)
    (local $mode i32)
    (if (local.get $l) (then (local.set $mode (i32.load8_u (local.get $p)))))
    (if (i32.eq (local.get $mode) (i32.const 4)) (then
      (drop (i32.load (i32.const 0x20000)))
      (return (i64.const 0))))
    (if (i32.eq (local.get $mode) (i32.const 5)) (then
      (i32.store (i32.const 0x3000) (memory.grow (i32.load8_u offset=1 (local.get $p))))
      (return (i64.const 0x4_0000_3000))))
    (if (i32.eq (local.get $mode) (i32.const 6)) (then
      (call $change)
      (i32.store8 (i32.const 0x3100) (call $reenter))
      (call $report)
      (i32.store8 (i32.const 0x304d) (i32.load8_u (i32.const 0x3100)))
      (return (i64.const 0x4e_0000_3000))))
    (if (i32.eq (local.get $mode) (i32.const 7)) (then (drop (call $poke)) (return (i64.const 0))))
    (if (i32.eq (local.get $mode) (i32.const 8)) (then
      (i32.store8 (i32.const 0x3000) (call $peek))
      (return (i64.const 0x1_0000_3000))))
    (call $report)
    (call $change)
    (if (i32.eq (local.get $mode) (i32.const 1)) (then unreachable))
    (if (i32.eq (local.get $mode) (i32.const 2)) (then (loop $forever (br $forever))))
    (if (i32.eq (local.get $mode) (i32.const 3)) (then (drop (call $trap))))
    (i64.const 0x4d_0000_3000)))"#;

/// Where the host's `poke` writes: page 1, well past the data segment.
const POKED: i32 = 0x18000;

/// The report of a fresh instance.
fn pristine() -> Vec<u8> {
    let mut r = vec![0; 8];
    r.extend_from_slice(b"DATA-SEG");
    r.extend_from_slice(&[0; 8]);
    r.push(0);
    r.extend_from_slice(&2u32.to_le_bytes());
    r.extend_from_slice(&7i32.to_le_bytes());
    r.extend_from_slice(&0x1122_3344_5566_7788i64.to_le_bytes());
    r.extend_from_slice(&1.5f32.to_le_bytes());
    r.extend_from_slice(&(-2.25f64).to_le_bytes());
    r.extend_from_slice(&0x0102_0304_0506_0708u64.to_le_bytes());
    r.extend_from_slice(&0x090a_0b0c_0d0e_0f10u64.to_le_bytes());
    r.extend_from_slice(&1u32.to_le_bytes());
    r.extend_from_slice(&1u32.to_le_bytes());
    r
}

/// The report after `$change`.
fn changed() -> Vec<u8> {
    let mut r = vec![0xff; 24];
    r.push(0xee);
    r.extend_from_slice(&4u32.to_le_bytes());
    r.extend_from_slice(&99i32.to_le_bytes());
    r.extend_from_slice(&(-5i64).to_le_bytes());
    r.extend_from_slice(&9f32.to_le_bytes());
    r.extend_from_slice(&9f64.to_le_bytes());
    r.extend_from_slice(&[0xff; 16]);
    r.extend_from_slice(&0u32.to_le_bytes());
    r.extend_from_slice(&1u32.to_le_bytes());
    r
}

/// The embedder group the guest imports.
struct WarmGroup {
    def: GroupDef,
    /// The function `reenter` calls (the guest itself).
    target: OnceLock<LoadedFunction>,
    /// What the nested call of `reenter` reported.
    nested: Mutex<Vec<Vec<u8>>>,
}

fn group_def() -> GroupDef {
    const SIG: Signature = Signature { params: Cow::Borrowed(&[]), results: Cow::Borrowed(&[ValType::I32]) };
    let f = |name: &'static str| HostFunctionDef { name: Cow::Borrowed(name), signature: SIG, doc: Cow::Borrowed("") };
    GroupDef {
        name: Cow::Borrowed("t.warm"),
        version: 1,
        doc: Cow::Borrowed("Test hooks of the warm-instance tests."),
        functions: Cow::Owned(vec![f("trap"), f("reenter"), f("poke"), f("peek")]),
    }
}

impl HostGroup for WarmGroup {
    fn def(&self) -> &GroupDef {
        &self.def
    }

    fn call(
        &self,
        function: usize,
        cx: &mut HostContext<'_>,
        _: &[HostValue],
    ) -> Result<Option<HostValue>, HostFunctionError> {
        match function {
            0 => Err(HostFunctionError::Trap("the test's host trap".into())),
            1 => {
                let target = self.target.get().expect("the test set the target").clone();
                let report = cx
                    .call_module(&target, &[0], None)
                    .map(|o| o.output)
                    .map_err(|e| HostFunctionError::Trap(e.to_string()))?;
                let ok = report == pristine();
                self.nested.lock().unwrap().push(report);
                Ok(Some(HostValue::I32(i32::from(ok))))
            }
            2 => cx.write(POKED, &[0xaa]).map(|()| Some(HostValue::I32(0))),
            _ => Ok(Some(HostValue::I32(i32::from(cx.read(POKED, 1)?[0])))),
        }
    }
}

struct Setup {
    rt: Runtime,
    f: LoadedFunction,
    group: Arc<WarmGroup>,
}

fn setup() -> Setup {
    let group = Arc::new(WarmGroup { def: group_def(), target: OnceLock::new(), nested: Mutex::default() });
    let rt = Runtime::builder().group(group.clone()).build();
    let policy =
        HostPolicy::new().with_custom_group(group_def()).with_subsystem("test.run", &["t.warm"], "Warm-state tests.");
    let archive = wasmod_tests::run_package("test.run", &["t.warm"], wat(STATE_GUEST));
    let validated =
        wasmod_validator::validate_archive(&archive, &policy, &wasmod_manifest::ArchiveLimits::default()).unwrap();
    let f = rt.load(&validated, "run", &NoCache).unwrap();
    group.target.set(f.clone()).ok();
    Setup { rt, f, group }
}

fn options(f: impl FnOnce(&mut CallLimits)) -> CallOptions {
    let mut limits = CallLimits::default();
    f(&mut limits);
    CallOptions { limits: Some(limits), data: None }
}

impl Setup {
    fn call(&self, input: &[u8]) -> Result<Vec<u8>, ErrorKind> {
        self.rt.call(&self.f, input).map(|o| o.output).map_err(|e| e.kind)
    }

    /// A call of mode 0 that must find the pristine state (and leaves it changed).
    fn assert_pristine(&self, call: usize) {
        assert_eq!(self.call(&[0]).unwrap(), pristine(), "call {call} did not find a fresh instance's state");
        self.assert_kept_warm();
    }

    /// After a call that returned normally, the warm instance waits for the next one
    /// (when warm instances are on).
    fn assert_kept_warm(&self) {
        let expected = usize::from(self.rt.uses_warm_instances());
        assert_eq!(Runtime::warm_instances_on_this_thread(), expected, "warm instances kept on this thread");
    }
}

#[test]
fn zero_pages_data_pages_and_the_last_byte_are_pristine_at_every_call() {
    let s = setup();
    for call in 0..4 {
        let report = s.call(&[0]).unwrap();
        assert_eq!(report[..8], [0; 8], "call {call}: a zero page");
        assert_eq!(&report[8..16], b"DATA-SEG", "call {call}: a data segment");
        assert_eq!(report[16..24], [0; 8], "call {call}: the tail of the segment's page");
        assert_eq!(report[24], 0, "call {call}: the last byte of memory");
        s.assert_kept_warm();
    }
}

#[test]
fn memory_grown_by_a_call_is_back_to_its_minimum_and_past_it_traps() {
    let s = setup();
    for call in 0..3 {
        // Grows to 4 pages, then reports 2 at the next call.
        assert_eq!(s.call(&[0]).unwrap()[25..29], 2u32.to_le_bytes(), "call {call}: memory.size");
        let err = s.call(&[4]).unwrap_err();
        assert!(matches!(&err, ErrorKind::Trap { message } if message.contains("oob")), "{err:?}");
    }
}

#[test]
fn every_global_type_is_restored() {
    let s = setup();
    for call in 0..3 {
        assert_eq!(s.call(&[0]).unwrap()[29..], pristine()[29..], "call {call}: i32, i64, f32, f64, v128, refs");
    }
}

#[test]
fn the_metering_flag_and_fuel_are_fresh_after_fuel_ran_out() {
    let s = setup();
    let first = s.rt.call(&s.f, &[0]).unwrap().metrics.fuel_used;
    for call in 0..3 {
        let err = s.rt.call_with(&s.f, &[2], &options(|l| l.fuel = 50_000)).unwrap_err();
        assert_eq!(err.kind, ErrorKind::FuelExhausted { fuel: 50_000 }, "call {call}");
        let again = s.rt.call(&s.f, &[0]).unwrap();
        assert_eq!(again.output, pristine(), "call {call}");
        assert_eq!(again.metrics.fuel_used, first, "call {call}: the same work costs the same fuel");
    }
}

#[test]
fn a_trap_in_the_middle_of_writes_leaves_nothing_behind() {
    let s = setup();
    for call in 0..3 {
        assert!(matches!(s.call(&[1]).unwrap_err(), ErrorKind::Trap { .. }), "call {call}");
        // The trapped instance is dropped, not kept.
        assert_eq!(Runtime::warm_instances_on_this_thread(), 0);
        s.assert_pristine(call);
    }
}

#[test]
fn a_timeout_in_the_middle_of_writes_leaves_nothing_behind() {
    let s = setup();
    let slow = options(|l| {
        l.fuel = u64::MAX / 2;
        l.timeout = Duration::from_millis(30);
    });
    for call in 0..3 {
        let err = s.rt.call_with(&s.f, &[2], &slow).unwrap_err();
        assert!(matches!(err.kind, ErrorKind::DeadlineExceeded { .. }), "call {call}: {err}");
        assert_eq!(Runtime::warm_instances_on_this_thread(), 0);
        s.assert_pristine(call);
    }
}

#[test]
fn a_host_trap_in_the_middle_of_writes_leaves_nothing_behind() {
    let s = setup();
    for call in 0..3 {
        let err = s.call(&[3]).unwrap_err();
        assert!(matches!(&err, ErrorKind::HostTrap { function, .. } if function == "t.warm.trap"), "{err:?}");
        assert_eq!(Runtime::warm_instances_on_this_thread(), 0);
        s.assert_pristine(call);
    }
}

#[test]
fn each_call_has_its_own_memory_limit() {
    let s = setup();
    // Growing the 2-page memory by 2 pages needs a limit of 4; every call has its own.
    for (call, limit) in [4, 3, 16, 2, 4, 3].into_iter().enumerate() {
        let out = s.rt.call_with(&s.f, &[5, 2], &options(|l| l.memory_pages = limit)).unwrap().output;
        let expected: i32 = if limit >= 4 { 2 } else { -1 };
        assert_eq!(out, expected.to_le_bytes(), "call {call} with a limit of {limit} pages");
    }
    // A limit below the initial size: the fresh path says so, as for a fresh instance.
    let err = s.rt.call_with(&s.f, &[0], &options(|l| l.memory_pages = 1)).unwrap_err();
    assert_eq!(err.kind, ErrorKind::MemoryLimit { limit_pages: 1 });
    s.assert_pristine(0);
}

#[test]
fn a_reentrant_call_gets_a_fresh_instance_and_the_caller_keeps_its_own_state() {
    let s = setup();
    for call in 0..3 {
        let mut expected = changed();
        expected.push(1);
        assert_eq!(s.call(&[6]).unwrap(), expected, "call {call}: the caller's state, then the callee's verdict");
        assert_eq!(s.group.nested.lock().unwrap().last(), Some(&pristine()), "call {call}: the callee's report");
        s.assert_pristine(call);
    }
}

#[test]
fn a_page_only_a_host_function_wrote_is_cleared() {
    let s = setup();
    for call in 0..3 {
        assert_eq!(s.call(&[8]).unwrap(), [0], "call {call}: the host finds the page clean");
        assert_eq!(s.call(&[7]).unwrap(), b"", "call {call}");
    }
}

#[test]
fn warm_and_fresh_runtimes_agree_call_by_call() {
    let warm = setup();
    let fresh = {
        let s = setup();
        let rt = Runtime::builder().group(s.group.clone()).warm_instances(false).build();
        Setup { rt, ..s }
    };
    for mode in [0u8, 5, 0, 1, 0, 3, 0, 4, 0, 6, 8, 7, 8, 0] {
        let input = [mode, 3];
        let (a, b) = (warm.rt.call(&warm.f, &input), fresh.rt.call(&fresh.f, &input));
        match (a, b) {
            (Ok(a), Ok(b)) => {
                assert_eq!(a.output, b.output, "mode {mode}");
                assert_eq!(a.metrics.fuel_used, b.metrics.fuel_used, "mode {mode}");
                assert_eq!(a.metrics.memory_pages, b.metrics.memory_pages, "mode {mode}");
            }
            (Err(a), Err(b)) => assert_eq!(a.kind, b.kind, "mode {mode}"),
            (a, b) => panic!("mode {mode}: warm {a:?}, fresh {b:?}"),
        }
    }
}

#[test]
fn an_sdk_guest_with_a_static_counter_and_heap_returns_the_same_every_call() {
    let rt = Runtime::builder().build();
    let validated = wasmod_tests::validated(&package("limits"));
    let counter = rt.load(&validated, "counter", &NoCache).unwrap();
    let first = rt.call(&counter, b"hello").unwrap();
    // The sdk's allocator serves a small call from the initial memory: no growth.
    let initial = initial_pages(validated.function_bytes("counter").unwrap());
    assert_eq!(first.metrics.memory_pages, initial, "the call grew its memory");
    for call in 1..5 {
        let again = rt.call(&counter, b"hello").unwrap();
        assert_eq!(again.output, first.output, "call {call}");
        assert_eq!(again.metrics.memory_pages, first.metrics.memory_pages, "call {call}");
    }
    assert_eq!(
        Runtime::warm_instances_on_this_thread(),
        usize::from(rt.uses_warm_instances()),
        "a Rust guest is resettable"
    );
}

/// The initial pages of a file's memory.
fn initial_pages(wasm: &[u8]) -> u32 {
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        if let wasmparser::Payload::MemorySection(memories) = payload.unwrap() {
            return memories.into_iter().next().unwrap().unwrap().initial as u32;
        }
    }
    panic!("no memory")
}
