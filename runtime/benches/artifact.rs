//! Compiling a function with Cranelift versus loading its verified artifact from the
//! cache. The function is `everything` of the all-groups fixture (a Rust guest using
//! every host group; built by `cargo xtask build-fixtures`).

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use wasmod_host_abi::{GroupDef, HostFunctionDef, abi::BYTES_CALL_SIGNATURE};
use wasmod_manifest::{ArchiveLimits, Package};
use wasmod_runtime::{DirCache, Runtime};
use wasmod_validator::HostPolicy;

/// A runtime that can link every group `everything` imports (the groups are never called).
fn runtime() -> Runtime {
    struct Unused(GroupDef);
    impl wasmod_runtime::HostGroup for Unused {
        fn def(&self) -> &GroupDef {
            &self.0
        }
        fn call(
            &self,
            _: usize,
            _: &mut wasmod_runtime::HostContext<'_>,
            _: &[wasmod_runtime::HostValue],
        ) -> Result<Option<wasmod_runtime::HostValue>, wasmod_runtime::HostFunctionError> {
            Err(wasmod_runtime::HostFunctionError::Trap("not used in this benchmark".into()))
        }
    }
    // One key for all, so that every runtime trusts the cache's artifacts.
    let mut b = Runtime::builder().artifact_key([1; 32]);
    for g in wasmod_host_abi::groups::STANDARD_GROUPS.iter().map(|g| (*g).clone()).chain([inventory()]) {
        b = b.group(std::sync::Arc::new(Unused(g)));
    }
    b.build()
}

fn inventory() -> GroupDef {
    GroupDef {
        name: "acme.inventory".into(),
        version: 1,
        doc: "".into(),
        functions: vec![HostFunctionDef { name: "stock".into(), signature: BYTES_CALL_SIGNATURE, doc: "".into() }]
            .into(),
    }
}

fn bench(c: &mut Criterion) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/fixtures/packages/all-groups.zip");
    let bytes = std::fs::read(&path).expect("fixture packages exist: run `cargo xtask build-fixtures`");
    let package = Package::read(&bytes, &ArchiveLimits::default()).expect("a valid archive");
    let mut policy = HostPolicy::development().with_custom_group(inventory());
    if let Some(any) = policy.any_subsystem.as_mut() {
        any.groups.push("acme.inventory".into());
    }
    let validated = wasmod_validator::validate_package(package, &policy).expect("valid");
    let dir = tempfile::tempdir().expect("a temp dir");
    let cache = DirCache::new(dir.path());
    // Fill the cache once.
    runtime().load(&validated, "everything", &cache).expect("loads");

    let mut group = c.benchmark_group("artifact");
    group.sample_size(10);
    group.bench_function("compile_everything", |b| {
        b.iter(|| black_box(runtime().compile(&validated, "everything").expect("compiles")))
    });
    // A fresh runtime per load, so engine code memory does not pile up across iterations.
    group.bench_function("load_cached_everything", |b| {
        b.iter_batched(
            runtime,
            |rt| {
                let f = rt.load(&validated, "everything", &cache).expect("loads");
                assert_eq!(f.source(), &wasmod_runtime::ArtifactSource::Cache);
                black_box(f);
                rt
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
