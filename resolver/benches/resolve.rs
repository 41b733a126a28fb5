//! Resolving a request over synthetic catalogs of 100, 1,000 and 10,000 modules.
//!
//! Module `i` has three versions; each version depends on module `i - 1` and on up to
//! three other modules with a smaller index (so the graph is a DAG), with caret
//! requirements that the middle or highest version satisfies. The request names the 10
//! highest-indexed modules, so the closure, and the plan, is the whole catalog.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use wasmod_resolver::{Catalog, ModuleSpec, Request};

fn name(i: usize) -> String {
    format!("bench/m{i:05}")
}

/// A small deterministic generator (xorshift), so the catalog is the same every run.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn catalog(modules: usize) -> Catalog {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut specs = Vec::with_capacity(modules * 3);
    for i in 0..modules {
        for minor in 0..3 {
            let mut deps = Vec::new();
            if i > 0 {
                deps.push((name(i - 1), "^1"));
                for _ in 0..(rng.next() % 4) {
                    let d = (rng.next() as usize) % i;
                    let req = if rng.next().is_multiple_of(2) { "^1.1" } else { "^1" };
                    deps.push((name(d), req));
                }
            }
            deps.sort();
            deps.dedup_by(|a, b| a.0 == b.0);
            let deps: Vec<(&str, &str)> = deps.iter().map(|(n, r)| (n.as_str(), *r)).collect();
            specs.push(ModuleSpec::parse(&name(i), &format!("1.{minor}.0"), &deps).expect("valid spec"));
        }
    }
    Catalog::new(specs).expect("no duplicates")
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("resolve");
    for modules in [100usize, 1_000, 10_000] {
        let catalog = catalog(modules);
        let request: Vec<Request> =
            (modules - 10..modules).map(|i| Request::parse(&name(i), None).expect("valid")).collect();
        let plan = catalog.resolve(&request).expect("the synthetic catalog resolves");
        group.throughput(Throughput::Elements(plan.modules.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(modules), &modules, |b, _| {
            b.iter(|| black_box(catalog.resolve(black_box(&request)).expect("resolves")))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
