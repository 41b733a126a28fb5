//! Host-level costs: a `kv.get` on a hit from a guest, and activating 50 modules with
//! init hooks.

use std::collections::BTreeMap;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use wasmod::{AppConfig, Host, HostPolicy, Request};

const KV: &str = r#"(module
  (import "wasmod:kv@1" "get" (func $get (param i32 i32) (result i64)))
  (import "wasmod:kv@1" "set" (func $set (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "key")
  (data (i32.const 16) "value")
  (func (export "__wasmod_abi_v1"))
  (func (export "wasmod_alloc") (param i32) (result i32) i32.const 4096)
  (func (export "put") (param i32 i32) (result i64)
    (drop (call $set (i32.const 0) (i32.const 3) (i32.const 16) (i32.const 5)))
    i64.const 0)
  (func (export "get1000") (param i32 i32) (result i64)
    (local $i i32)
    (loop $l
      (drop (call $get (i32.const 0) (i32.const 3)))
      (br_if $l (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (i32.const 1000))))
    i64.const 0)
  (func (export "loop1000") (param i32 i32) (result i64)
    (local $i i32)
    (loop $l
      (br_if $l (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (i32.const 1000))))
    i64.const 0))"#;

fn init_module(i: usize) -> String {
    let deps = if i == 0 { String::new() } else { format!(r#"dependencies: {{ "bench/m{:02}": "^1" }},"#, i - 1) };
    format!(
        r#"(name: "bench/m{i:02}", version: "1.0.0", {deps}
            config: {{ "n": (type: Int, default: {i}) }},
            functions: {{ "init": (implements: "init", groups: ["config"]) }})"#
    )
}

const INIT: &str = r#"(module
  (import "wasmod:config@1" "get" (func $get (param i32 i32) (result i64)))
  (memory (export "memory") 1)
  (data (i32.const 0) "n")
  (func (export "__wasmod_abi_v1"))
  (func (export "wasmod_alloc") (param i32) (result i32) i32.const 4096)
  (func (export "init") (param i32 i32) (result i64)
    (drop (call $get (i32.const 0) (i32.const 1)))
    i64.const 0))"#;

fn package(manifest: &str, files: &[(&str, &str)]) -> Vec<u8> {
    let files: BTreeMap<String, Vec<u8>> =
        files.iter().map(|(n, w)| (n.to_string(), wat::parse_str(w).expect("valid WAT"))).collect();
    wasmod_manifest::write_package(manifest, &files).expect("valid package")
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let host = Host::builder()
        .store(dir.path())
        .artifact_key([4; 32])
        .policy(HostPolicy::development())
        .open()
        .expect("opens");

    // One module, three functions split out of one WAT build by the packer.
    let manifest = r#"(name: "bench/kv", version: "1.0.0", functions: {
        "put": (implements: "bench.run", groups: ["kv"]),
        "get1000": (implements: "bench.run", groups: ["kv"]),
        "loop1000": (implements: "bench.run"),
    })"#;
    let archive = wasmod_pack::pack_build(manifest, &wat::parse_str(KV).expect("valid WAT")).expect("packs");
    host.install(&archive).expect("installs");
    let active =
        host.activate(&[Request::parse("bench/kv", None).expect("valid")], &AppConfig::new()).expect("activates");
    active.call("bench/kv", "put", b"").expect("stores the key");

    let mut group = c.benchmark_group("host_call");
    group.bench_function("kv_get_hit_x1000", |b| {
        b.iter(|| black_box(active.call("bench/kv", "get1000", b"").expect("runs")))
    });
    group.bench_function("loop_x1000", |b| {
        b.iter(|| black_box(active.call("bench/kv", "loop1000", b"").expect("runs")))
    });
    group.finish();

    // 50 modules in a chain, each with an init hook reading its config.
    for i in 0..50 {
        host.install(&package(&init_module(i), &[("init.wasm", INIT)])).expect("installs");
    }
    let request = [Request::parse("bench/m49", None).expect("valid")];
    let first = host.activate(&request, &AppConfig::new()).expect("activates");
    assert_eq!(first.plan().modules.len(), 50);
    let mut group = c.benchmark_group("activation");
    group.sample_size(20);
    group.bench_function("50_modules_with_init", |b| {
        b.iter(|| black_box(host.activate(&request, &AppConfig::new()).expect("activates")))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
