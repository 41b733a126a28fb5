//! The embedder API on real modules: lifecycle order and config provenance, kv
//! isolation, module-call permissions, atomic activations, store rules.

use std::path::Path;

use wasmod::{AppConfig, ConfigValue, Error, Host, Provenance, Request};
use wasmod_tests::{package, test_policy};

fn host(dir: &Path) -> Host {
    Host::builder().store(dir).artifact_key([2; 32]).policy(test_policy()).open().unwrap()
}

fn install(host: &Host, names: &[&str]) {
    for n in names {
        host.install(&package(n)).unwrap_or_else(|e| panic!("installing {n}: {e}"));
    }
}

fn req(name: &str) -> Request {
    Request::parse(name, None).unwrap()
}

fn json_call(active: &wasmod::Activation, module: &str, function: &str, input: &str) -> serde_json::Value {
    let out = active.call(module, function, input.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    serde_json::from_slice(&out.output).unwrap()
}

#[test]
fn init_runs_in_dependency_order_and_config_remembers_who_wrote_it() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(dir.path());
    install(&host, &["lifecycle-base", "lifecycle-top"]);
    let mut config = AppConfig::new();
    config.set("fixtures/base", "greeting", "hi");
    let active = host.activate(&[req("fixtures/top")], &config).unwrap();

    let order: Vec<String> = active.plan().modules.iter().map(|m| m.name.to_string()).collect();
    assert_eq!(order, ["fixtures/base", "fixtures/top"]);
    let base = "fixtures/base".parse().unwrap();
    let top = "fixtures/top".parse().unwrap();
    assert_eq!(
        active.config("fixtures/base", "greeting"),
        Some((ConfigValue::String("hi".into()), Provenance::Application))
    );
    assert_eq!(
        active.config("fixtures/base", "derived"),
        Some((ConfigValue::String("hi!".into()), Provenance::Init { module: base }))
    );
    // top's init saw base's derived value: base's init ran first.
    assert_eq!(
        active.config("fixtures/top", "seen"),
        Some((ConfigValue::String("hi!/top".into()), Provenance::Init { module: top }))
    );
    // Outside init, config.set is refused (the function fails if it was allowed).
    assert_eq!(json_call(&active, "fixtures/base", "get_config", r#""greeting""#), serde_json::json!("\"hi\""));
}

#[test]
fn defaults_apply_and_bad_config_is_reported_all_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(dir.path());
    install(&host, &["lifecycle-base", "lifecycle-top"]);
    let active = host.activate(&[req("fixtures/top")], &AppConfig::new()).unwrap();
    assert_eq!(active.config("fixtures/base", "greeting").unwrap().1, Provenance::Default);
    assert_eq!(active.config("fixtures/top", "seen").unwrap().0, ConfigValue::String("hello!/top".into()));

    let bad =
        AppConfig::from_ron(r#"{ "fixtures/base": { "greeting": 3, "colour": "red" }, "fixtures/nope": {} }"#).unwrap();
    match host.activate(&[req("fixtures/top")], &bad) {
        Err(Error::Config(problems)) => assert_eq!(problems.len(), 3, "{problems:#?}"),
        other => panic!("expected config problems, got {other:?}"),
    }
}

#[test]
fn kv_namespaces_are_isolated_between_modules() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(dir.path());
    install(&host, &["lifecycle-base", "lifecycle-top", "lifecycle-spy"]);
    let active = host.activate(&[req("fixtures/top"), req("fixtures/spy")], &AppConfig::new()).unwrap();
    active.call("fixtures/base", "kv_put", br#"["secret","s3cr3t"]"#).unwrap();
    assert_eq!(json_call(&active, "fixtures/base", "kv_read", r#""secret""#), serde_json::json!("s3cr3t"));
    assert_eq!(json_call(&active, "fixtures/base", "kv_read", r#""marker""#), serde_json::json!("written by init"));
    for other in ["fixtures/top", "fixtures/spy"] {
        assert_eq!(
            json_call(&active, other, "kv_read", r#""secret""#),
            serde_json::Value::Null,
            "{other} read base's key"
        );
        assert_eq!(json_call(&active, other, "kv_read", r#""marker""#), serde_json::Value::Null);
    }
    // Data persists across activations and hosts.
    drop(active);
    drop(host);
    let host = self::host(dir.path());
    let active = host.activate(&[req("fixtures/base")], &AppConfig::new()).unwrap();
    assert_eq!(json_call(&active, "fixtures/base", "kv_read", r#""secret""#), serde_json::json!("s3cr3t"));
}

/// A module's kv namespace belongs to its name: every version shares it, it outlives
/// an uninstall, and it goes only when purged (which is refused while a version of the
/// module is installed).
#[test]
fn kv_data_belongs_to_the_module_name_until_purged() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(dir.path());
    install(&host, &["lifecycle-base"]);
    let base: wasmod::ModuleName = "fixtures/base".parse().unwrap();
    let active = host.activate(&[req("fixtures/base")], &AppConfig::new()).unwrap();
    active.call("fixtures/base", "kv_put", br#"["secret","s3cr3t"]"#).unwrap();
    let usage = host.kv_usage(&base).unwrap();
    // The init hook's "marker" and the key just written.
    assert_eq!(usage.keys, 2, "{usage:?}");
    assert_eq!(usage.bytes, ("marker".len() + "written by init".len() + "secret".len() + "s3cr3t".len()) as u64);
    drop(active);
    match host.purge_kv(&base) {
        Err(Error::StillInstalled { versions, .. }) => assert_eq!(versions, ["fixtures/base@1.0.0"]),
        other => panic!("expected a refusal, got {other:?}"),
    }
    let version = wasmod::Version::new(1, 0, 0);
    host.uninstall(&base, &version).unwrap();
    assert_eq!(host.kv_usage(&base).unwrap(), usage, "uninstalling keeps the data");
    install(&host, &["lifecycle-base"]);
    let active = host.activate(&[req("fixtures/base")], &AppConfig::new()).unwrap();
    assert_eq!(json_call(&active, "fixtures/base", "kv_read", r#""secret""#), serde_json::json!("s3cr3t"));
    drop(active);
    host.uninstall(&base, &version).unwrap();
    assert_eq!(host.purge_kv(&base).unwrap(), 2);
    assert_eq!(host.kv_usage(&base).unwrap(), wasmod::KvUsage { bytes: 0, keys: 0 });
}

#[test]
fn modules_may_call_declared_dependencies_only() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(dir.path());
    install(&host, &["lifecycle-base", "lifecycle-top", "lifecycle-spy"]);
    let active = host.activate(&[req("fixtures/top"), req("fixtures/spy")], &AppConfig::new()).unwrap();
    // spy declares no dependency: refused by the host, whatever it calls.
    let refused = json_call(&active, "fixtures/spy", "call_other", r#"["fixtures/base","kv_read"]"#);
    let message = refused["Err"].as_str().unwrap();
    assert!(message.contains("denied"), "{message}");
    // top declares fixtures/base: the call reaches base (which then rejects the empty input).
    let reached = json_call(&active, "fixtures/top", "call_other", r#"["fixtures/base","kv_read"]"#);
    let message = reached["Err"].as_str().unwrap();
    assert!(message.contains("fixtures/base@1.0.0 function `kv_read` returned an error"), "{message}");
    // And an unknown function of a dependency is "not found".
    let missing = json_call(&active, "fixtures/top", "call_other", r#"["fixtures/base","nope"]"#);
    assert!(missing["Err"].as_str().unwrap().contains("not found"), "{missing}");
}

fn all_kv_keys(store: &Path) -> Vec<(String, Vec<u8>)> {
    use redb::{ReadableDatabase, ReadableTable};
    let db = redb::Database::open(store.join("kv.redb")).unwrap();
    let tx = db.begin_read().unwrap();
    let table = tx.open_table(redb::TableDefinition::<(&str, &[u8]), &[u8]>::new("kv")).unwrap();
    table
        .iter()
        .unwrap()
        .map(|e| {
            let (k, _) = e.unwrap();
            let (m, key) = k.value();
            (m.to_string(), key.to_vec())
        })
        .collect()
}

#[test]
fn a_failing_init_aborts_the_activation_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(dir.path());
    install(&host, &["lifecycle-base", "lifecycle-failing"]);
    match host.activate(&[req("fixtures/failing")], &AppConfig::new()) {
        Err(Error::Init { module, error }) => {
            assert_eq!(module, "fixtures/failing@1.0.0");
            assert!(error.to_string().contains("refusing to start"), "{error}");
        }
        other => panic!("expected the init to fail, got {other:?}"),
    }
    drop(host);
    // Neither base's init marker nor failing's write reached the store.
    assert_eq!(all_kv_keys(dir.path()), []);
    // The store is still usable, and a good activation commits its init writes.
    let host = self::host(dir.path());
    host.activate(&[req("fixtures/base")], &AppConfig::new()).unwrap();
    drop(host);
    assert_eq!(all_kv_keys(dir.path()), [("fixtures/base".to_string(), b"marker".to_vec())]);
}

#[test]
fn uninstall_refuses_a_version_others_need_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(dir.path());
    install(&host, &["lifecycle-base", "lifecycle-top"]);
    let base: wasmod::ModuleName = "fixtures/base".parse().unwrap();
    let v1 = wasmod::Version::new(1, 0, 0);
    match host.uninstall(&base, &v1) {
        Err(Error::InUse { dependents, .. }) => assert_eq!(dependents, ["fixtures/top@1.0.0 requires ^1"]),
        other => panic!("expected InUse, got {other:?}"),
    }
    assert_eq!(host.list().unwrap().installed.len(), 2);
    host.uninstall_even_if_needed(&base, &v1).unwrap();
    assert_eq!(host.list().unwrap().installed.len(), 1);
    assert!(matches!(host.uninstall(&base, &v1), Err(Error::NotInstalled { .. })));
    // Top can no longer be activated, and says why.
    match host.activate(&[req("fixtures/top")], &AppConfig::new()) {
        Err(Error::Resolve(wasmod::ResolveError::MissingModule { name, .. })) => {
            assert_eq!(name.as_str(), "fixtures/base")
        }
        other => panic!("expected a missing module, got {other:?}"),
    }
}

#[test]
fn same_version_with_other_content_is_refused_and_same_content_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(dir.path());
    let original = package("lifecycle-base");
    assert!(host.install(&original).unwrap().newly_installed);
    assert!(!host.install(&original).unwrap().newly_installed);
    let manifest = std::fs::read_to_string(wasmod_tests::root().join("tests/fixtures/lifecycle/base.module.ron"))
        .unwrap()
        .replace("name: \"fixtures/base\",", "name: \"fixtures/base\", description: \"changed\",");
    let changed = wasmod_pack::pack_build(&manifest, &wasmod_tests::build("lifecycle")).unwrap();
    assert!(matches!(host.install(&changed), Err(Error::Conflict { ref module }) if module == "fixtures/base@1.0.0"));
}

fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p.clone());
            }
            let bytes = if p.is_file() { std::fs::read(&p).unwrap().len() } else { 0 };
            out.push(format!("{} {bytes}", p.strip_prefix(dir).unwrap().display()));
        }
    }
    out.sort();
    out
}

#[test]
fn a_rejected_package_leaves_the_store_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(dir.path());
    install(&host, &["three"]);
    let before = tree(dir.path());
    let evil = wasmod_tests::run_package(
        "test.run",
        &[],
        wasmod_tests::wat(&wasmod_tests::abi_module(
            r#"(import "wasmod:kv@1" "list" (func (param i32 i32) (result i64)))"#,
            "i64.const 0",
            "",
        )),
    );
    match host.install(&evil) {
        Err(Error::Rejected(report)) => assert_eq!(report.codes(), [wasmod::Code::ImportUndeclaredGroup]),
        other => panic!("expected a rejection, got {other:?}"),
    }
    assert_eq!(tree(dir.path()), before);
}

/// A version directory changed or damaged outside wasmod (its package gone, garbage in
/// its place, or another module's package) is reported, and the rest of the store works.
#[test]
fn a_damaged_version_is_reported_and_the_rest_of_the_store_works() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(dir.path());
    install(&host, &["lifecycle-base", "lifecycle-top", "three"]);
    let modules = dir.path().join("modules");
    let empty = modules.join("fixtures/ghost/1.0.0");
    std::fs::create_dir_all(&empty).unwrap();
    let garbage = modules.join("fixtures/junk/2.0.0");
    std::fs::create_dir_all(&garbage).unwrap();
    std::fs::write(garbage.join("package.zip"), b"not a zip").unwrap();
    let moved = modules.join("fixtures/impostor/1.0.0");
    std::fs::create_dir_all(&moved).unwrap();
    std::fs::write(moved.join("package.zip"), package("three")).unwrap();

    let listing = host.list().unwrap();
    let ids: Vec<String> = listing.installed.iter().map(|m| m.id()).collect();
    assert_eq!(ids, ["fixtures/base@1.0.0", "fixtures/three@1.0.0", "fixtures/top@1.0.0"]);
    let damaged: Vec<(&Path, &str)> = listing.damaged.iter().map(|d| (d.dir.as_path(), d.reason.as_str())).collect();
    assert_eq!(damaged.len(), 3, "{damaged:?}");
    assert!(damaged[0].0.ends_with("fixtures/ghost/1.0.0") && damaged[0].1.contains("cannot be read"), "{damaged:?}");
    assert!(damaged[1].0.ends_with("fixtures/impostor/1.0.0") && damaged[1].1.contains("holds fixtures/three@1.0.0"));
    assert!(damaged[2].0.ends_with("fixtures/junk/2.0.0") && damaged[2].1.contains("does not read"), "{damaged:?}");
    let active = host.activate(&[req("fixtures/top")], &AppConfig::new()).unwrap();
    assert_eq!(active.plan().modules.len(), 2);
    assert!(matches!(host.activate(&[req("fixtures/ghost")], &AppConfig::new()), Err(Error::Resolve(_))));
}

/// Functions are cached by their content, not by name and version: a package replaced
/// under the same name and version (by hand, outside wasmod) runs as what it now is.
#[test]
fn a_package_replaced_under_the_same_version_runs_as_what_it_now_is() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(dir.path());
    let package = |name: &str| {
        let wasm = wasmod_tests::wat(&wasmod_tests::abi_module(
            "",
            "i64.const 0x100000000",
            &format!(r#"(data (i32.const 0) "{name}")"#),
        ));
        let manifest = r#"(name: "t/swapped", version: "1.0.0", functions: { "run": (implements: "test.run") })"#;
        wasmod_tests::package_from_files(manifest, &[("run.wasm", wasm)])
    };
    host.install(&package("a")).unwrap();
    let active = host.activate(&[req("t/swapped")], &AppConfig::new()).unwrap();
    assert_eq!(active.call("t/swapped", "run", b"").unwrap().output, b"a");
    std::fs::write(dir.path().join("modules/t/swapped/1.0.0/package.zip"), package("b")).unwrap();
    let active = host.activate(&[req("t/swapped")], &AppConfig::new()).unwrap();
    assert_eq!(active.call("t/swapped", "run", b"").unwrap().output, b"b");
}

#[test]
fn an_embedder_can_turn_warm_instances_off_and_calls_see_the_same_either_way() {
    for on in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let host = Host::builder()
            .store(dir.path())
            .artifact_key([2; 32])
            .policy(test_policy())
            .warm_instances(on)
            .open()
            .unwrap();
        install(&host, &["limits"]);
        let active = host.activate(&[req("fixtures/limits")], &AppConfig::new()).unwrap();
        // On a thread of its own, so that the count of warm instances is this host's.
        std::thread::scope(|s| {
            s.spawn(|| {
                for call in 0..3 {
                    let out = active.call("fixtures/limits", "counter", b"x").unwrap().output;
                    let out = String::from_utf8_lossy(&out).into_owned();
                    assert!(out.contains("call 1,"), "warm {on}, call {call}: {out}");
                }
                assert_eq!(wasmod_runtime::Runtime::warm_instances_on_this_thread(), usize::from(on), "warm {on}");
            });
        });
    }
}
