//! Validation throughput over the fixture packages (built by `cargo xtask build-fixtures`),
//! in bytes of wasm per second.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use wasmod_manifest::{ArchiveLimits, Package};
use wasmod_validator::HostPolicy;

fn bench(c: &mut Criterion) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/fixtures/packages");
    let mut packages = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("fixture packages exist: run `cargo xtask build-fixtures`") {
        let bytes = std::fs::read(entry.expect("readable").path()).expect("readable");
        packages.push(Package::read(&bytes, &ArchiveLimits::default()).expect("fixture packages are valid archives"));
    }
    packages.sort_by(|a, b| a.manifest.name.cmp(&b.manifest.name));
    let wasm_bytes: usize = packages.iter().flat_map(|p| p.files.values()).map(Vec::len).sum();
    // The fixtures use the embedder group `acme.inventory`: offer it, like the tests do.
    let mut policy = HostPolicy::development();
    policy.custom_groups.push(wasmod_host_abi::GroupDef {
        name: "acme.inventory".into(),
        version: 1,
        doc: "".into(),
        functions: vec![wasmod_host_abi::HostFunctionDef {
            name: "stock".into(),
            signature: wasmod_host_abi::abi::BYTES_CALL_SIGNATURE,
            doc: "".into(),
        }]
        .into(),
    });
    if let Some(any) = policy.any_subsystem.as_mut() {
        any.groups.push("acme.inventory".into());
    }

    let mut group = c.benchmark_group("validate");
    group.throughput(Throughput::Bytes(wasm_bytes as u64));
    group.bench_function("all_fixture_packages", |b| {
        b.iter(|| {
            for p in &packages {
                let validated = wasmod_validator::validate_package(p.clone(), &policy);
                black_box(validated.is_ok());
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
