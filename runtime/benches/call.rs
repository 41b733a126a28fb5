//! The per-call cost of the runtime: a fresh instance per call, compared with a call into
//! an instance kept alive, one host call from a guest, and throughput on 1 and 2 threads.
//!
//! The guest is the trivial function of the performance target: one wasm page, one host
//! import (`log.write`, linked on every call but not called), echoing its input; inputs
//! are 1 KiB, so 1 KiB goes in and 1 KiB comes out.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use wasmod_host_abi::{GroupDef, HostPolicy, groups};
use wasmod_runtime::{HostContext, HostError, HostGroup, HostValue, LoadedFunction, NoCache, Runtime};

/// Echo: `wasmod_alloc` always answers a fixed buffer, so an instance kept alive can be
/// called forever without growing.
const ECHO: &str = r#"(module
  (import "wasmod:log@1" "write" (func $log (param i32 i32 i32)))
  (import "wasmod:clock@1" "monotonic_nanos" (func $now (result i64)))
  (memory (export "memory") 1)
  (func (export "__wasmod_abi_v1"))
  (func (export "wasmod_alloc") (param i32) (result i32) i32.const 1024)
  (func (export "echo") (param $ptr i32) (param $len i32) (result i64)
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
struct Quiet(GroupDef);

impl HostGroup for Quiet {
    fn def(&self) -> &GroupDef {
        &self.0
    }
    fn call(&self, _: usize, _: &mut HostContext<'_>, _: &[HostValue]) -> Result<Option<HostValue>, HostError> {
        Ok(if self.0.name == "clock" { Some(HostValue::I64(7)) } else { None })
    }
}

fn setup() -> (Runtime, BTreeMap<&'static str, LoadedFunction>) {
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
    let runtime = Runtime::builder().group(Arc::new(Quiet(groups::LOG))).group(Arc::new(Quiet(groups::CLOCK))).build();
    let functions = ["echo", "clock1000", "clock0"]
        .into_iter()
        .map(|f| (f, runtime.load(&validated, f, &NoCache).expect("loads")))
        .collect();
    (runtime, functions)
}

fn bench(c: &mut Criterion) {
    let (runtime, functions) = setup();
    let input = vec![0x5a_u8; 1024];
    let echo = &functions["echo"];

    let mut group = c.benchmark_group("call");
    group.throughput(Throughput::Elements(1));
    group.bench_function("fresh_instance_1KiB", |b| {
        b.iter(|| black_box(runtime.call(echo, black_box(&input)).expect("echo works")))
    });
    let mut live = runtime.live_instance(echo).expect("instantiates");
    group.bench_function("live_instance_1KiB", |b| {
        b.iter(|| black_box(live.call(black_box(&input)).expect("echo works")))
    });
    group.finish();

    // One host call: 1000 calls of clock.monotonic_nanos minus the same loop without them,
    // divided by 1000.
    let mut group = c.benchmark_group("host_call");
    let clock1000 = &functions["clock1000"];
    let clock0 = &functions["clock0"];
    group.bench_function("clock_x1000", |b| b.iter(|| black_box(runtime.call(clock1000, b"").expect("runs"))));
    group.bench_function("no_host_call_x1000", |b| b.iter(|| black_box(runtime.call(clock0, b"").expect("runs"))));
    group.finish();

    let mut group = c.benchmark_group("throughput");
    group.throughput(Throughput::Elements(1));
    for threads in [1usize, 2] {
        group.bench_function(format!("{threads}_threads"), |b| {
            b.iter_custom(|iters| {
                let per_thread = iters.div_ceil(threads as u64);
                let started = Instant::now();
                std::thread::scope(|s| {
                    for _ in 0..threads {
                        s.spawn(|| {
                            for _ in 0..per_thread {
                                black_box(runtime.call(echo, &input).expect("echo works"));
                            }
                        });
                    }
                });
                // Time per call: the wall time of the batch over the calls made.
                let elapsed = started.elapsed();
                Duration::from_secs_f64(elapsed.as_secs_f64() * iters as f64 / (per_thread * threads as u64) as f64)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
