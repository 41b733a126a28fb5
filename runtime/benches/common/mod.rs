//! What the runtime benchmarks share: the trivial guest of the performance target and
//! a runtime whose host functions do nothing, so only the runtime is measured.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use wasmod_host_abi::{GroupDef, groups};
use wasmod_runtime::{HostContext, HostFunctionError, HostGroup, HostValue, LoadedFunction, NoCache, Runtime};
use wasmod_validator::HostPolicy;

/// Echo: `wasmod_alloc` always answers a fixed buffer, so an instance kept alive can be
/// called forever without growing.
pub(crate) const ECHO: &str = r#"(module
  (import "wasmod:log@1" "write" (func $log (param i32 i32 i32)))
  (import "wasmod:clock@1" "monotonic_nanos" (func $now (result i64)))
  (memory (export "memory") 1)
  (func (export "__wasmod_abi_v1"))
  (func (export "wasmod_alloc") (param i32) (result i32) i32.const 1024)
  (func (export "echo") (param $ptr i32) (param $len i32) (result i64)
    ;; Never taken with the benchmark's 1 KiB input, but it keeps the import: the packer
    ;; drops imports a function cannot reach.
    (if (i32.eqz (local.get $len)) (then (call $log (i32.const 0) (i32.const 0) (i32.const 0))))
    (i64.or (i64.shl (i64.extend_i32_u (local.get $len)) (i64.const 32)) (i64.extend_i32_u (local.get $ptr))))
  (func (export "clock1000") (param i32 i32) (result i64)
    (local $i i32) (local $acc i64)
    (loop $l
      (local.set $acc (i64.add (local.get $acc) (call $now)))
      (br_if $l (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (i32.const 1000))))
    i64.const 0)
  (func (export "clock0") (param i32 i32) (result i64)
    (local $i i32) (local $acc i64)
    (loop $l
      (local.set $acc (i64.add (local.get $acc) (local.get $acc)))
      (br_if $l (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (i32.const 1000))))
    i64.const 0))"#;

/// `log.write` and `clock.monotonic_nanos` that do nothing, to measure the runtime alone.
pub(crate) struct Quiet(GroupDef);

impl HostGroup for Quiet {
    fn def(&self) -> &GroupDef {
        &self.0
    }
    fn call(&self, _: usize, _: &mut HostContext<'_>, _: &[HostValue]) -> Result<Option<HostValue>, HostFunctionError> {
        Ok(if self.0.name == "clock" { Some(HostValue::I64(7)) } else { None })
    }
}

/// The packed `echo` file, as every runtime measured gets it.
#[allow(dead_code, reason = "the peer benchmark's; the runtime's benchmarks load the package")]
pub(crate) fn echo_file() -> Vec<u8> {
    package().function_bytes("echo").expect("echo is packed").to_vec()
}

/// The runtime (with warm instances on or off) and the guest's functions.
pub(crate) fn setup(warm: bool) -> (Runtime, BTreeMap<&'static str, LoadedFunction>) {
    let validated = package();
    let runtime = Runtime::builder()
        .group(Arc::new(Quiet(groups::LOG)))
        .group(Arc::new(Quiet(groups::CLOCK)))
        .warm_instances(warm)
        .build();
    let functions = ["echo", "clock1000", "clock0"]
        .into_iter()
        .map(|f| (f, runtime.load(&validated, f, &NoCache).expect("loads")))
        .collect();
    (runtime, functions)
}

/// The guest's package, validated.
fn package() -> wasmod_validator::ValidatedPackage {
    let manifest = r#"(name: "bench/echo", version: "1.0.0", functions: {
        "echo": (file: "echo.wasm", implements: "bench.run", groups: ["log"]),
        "clock1000": (file: "clock1000.wasm", implements: "bench.run", groups: ["clock"]),
        "clock0": (file: "clock0.wasm", implements: "bench.run"),
    })"#;
    // One build, split per function by the packer (each file keeps only its imports).
    let build = wat::parse_str(ECHO).expect("valid WAT");
    let archive = wasmod_pack::pack_build(manifest, &build).expect("packs");
    let package = wasmod_manifest::Package::read(&archive, &Default::default()).expect("reads");
    let mut policy = HostPolicy::new().with_subsystem("bench.run", &["log", "clock"], "");
    policy.limits.max_imports = 8;
    let validated = match wasmod_validator::validate_package(package, &policy) {
        Ok(v) => v,
        Err(report) => panic!("{report}"),
    };
    // The target's workload links one host import on every call: make sure the packer
    // kept it.
    let echo_imports = wasmod_validator::function_imports(validated.function_bytes("echo").expect("echo is packed"));
    assert_eq!(echo_imports, Ok(vec![("wasmod:log@1".to_string(), "write".to_string())]), "echo keeps one import");
    validated
}

#[allow(dead_code, reason = "the scaling and peer benchmarks' (criterion times the others)")]
/// Operations per second with `threads` threads each running `op` until `window` is over.
pub(crate) fn rate(threads: usize, window: Duration, op: &(dyn Fn() + Sync)) -> f64 {
    let stop = AtomicBool::new(false);
    let started = Instant::now();
    let total: u64 = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut n = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        op();
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        std::thread::sleep(window);
        stop.store(true, Ordering::Relaxed);
        workers.into_iter().map(|w| w.join().expect("worker")).sum()
    });
    total as f64 / started.elapsed().as_secs_f64()
}

#[allow(dead_code, reason = "the scaling and peer benchmarks'")]
/// The median of `v`.
pub(crate) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
}
