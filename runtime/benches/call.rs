//! The per-call cost of the runtime: a fresh instance per call, compared with a call into
//! an instance kept alive, one host call from a guest, and throughput on 1 and 2 threads.
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
