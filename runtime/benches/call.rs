//! The per-call cost of the runtime: a call with fresh-instance semantics in a warm
//! instance reset after each call (the default), in a new instance per call, and in an
//! instance kept alive and never reset (the floor); one host call from a guest, and
//! throughput on 1 and 2 threads; and, first, a reference loop that shows how fast the
//! machine is during the run.
//!
//! The guest is the trivial function of the performance target: one wasm page, one host
//! import (`log.write`, linked on every call but not called), echoing its input; inputs
//! are 1 KiB, so 1 KiB goes in and 1 KiB comes out.

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use common::setup;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn bench(c: &mut Criterion) {
    // Warm instances (the default) and every call in a fresh instance.
    let (runtime, functions) = setup(true);
    let (fresh_runtime, fresh_functions) = setup(false);
    let input = vec![0x5a_u8; 1024];
    let echo = &functions["echo"];

    // The machine's own speed, measured right before the key number: a fixed chain of
    // dependent integer operations that touches no memory and calls nothing, so it
    // moves only with the CPU this VM gets. Compare it across runs.
    let mut group = c.benchmark_group("machine");
    group.bench_function("reference_loop", |b| b.iter(|| reference_loop(black_box(0x9e37_79b9_7f4a_7c15))));
    group.finish();

    let mut group = c.benchmark_group("call");
    group.throughput(Throughput::Elements(1));
    group.bench_function("warm_instance_1KiB", |b| {
        b.iter(|| black_box(runtime.call(echo, black_box(&input)).expect("echo works")))
    });
    let fresh_echo = &fresh_functions["echo"];
    group.bench_function("fresh_instance_1KiB", |b| {
        b.iter(|| black_box(fresh_runtime.call(fresh_echo, black_box(&input)).expect("echo works")))
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

/// 10,000 rounds of xorshift and a multiply, each depending on the one before.
fn reference_loop(mut x: u64) -> u64 {
    for _ in 0..10_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x = x.wrapping_mul(0x2545_f491_4f6c_dd1d);
    }
    x
}

criterion_group!(benches, bench);
criterion_main!(benches);
