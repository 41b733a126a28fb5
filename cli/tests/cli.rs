//! The `wasmod` binary end to end on a temporary store: pack → validate → install →
//! resolve → call, exit codes, JSON output, and a rejected package changing nothing.

use std::path::Path;
use std::process::{Command, Output};

fn wasmod(store: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wasmod"))
        .arg("--store")
        .arg(store)
        .args(args)
        .env_remove("WASMOD_POLICY")
        // A key beside the store, not in the user's configuration.
        .env("WASMOD_ARTIFACT_KEY", store.with_extension("key"))
        .output()
        .expect("the binary runs")
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[test]
fn pack_validate_install_resolve_call() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let root = wasmod_tests::root();
    let build = root.join("target/fixtures/wasm32-unknown-unknown/release/fixture_lifecycle.wasm");
    assert!(build.is_file(), "run `cargo xtask build-fixtures` first");
    let mut packages = Vec::new();
    for name in ["base", "top"] {
        let out = dir.path().join(format!("{name}.zip"));
        let manifest = root.join(format!("tests/fixtures/lifecycle/{name}.module.ron"));
        ok(&wasmod(
            &store,
            &[
                "pack",
                "--manifest",
                manifest.to_str().unwrap(),
                "--wasm",
                build.to_str().unwrap(),
                "-o",
                out.to_str().unwrap(),
            ],
        ));
        ok(&wasmod(&store, &["validate", out.to_str().unwrap()]));
        packages.push(out);
    }
    let installed = ok(&wasmod(&store, &["install", packages[0].to_str().unwrap(), packages[1].to_str().unwrap()]));
    assert!(
        installed.contains("installed fixtures/base@1.0.0") && installed.contains("installed fixtures/top@1.0.0"),
        "{installed}"
    );

    let plan: serde_json::Value =
        serde_json::from_str(&ok(&wasmod(&store, &["--json", "resolve", "fixtures/top"]))).unwrap();
    let order: Vec<&str> = plan["plan"].as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert_eq!(order, ["fixtures/base", "fixtures/top"]);

    let config = dir.path().join("config.ron");
    std::fs::write(&config, r#"{ "fixtures/base": { "greeting": "bonjour" } }"#).unwrap();
    let out = ok(&wasmod(
        &store,
        &["call", "fixtures/base", "kv_put", "--data", r#"["k","v"]"#, "--config", config.to_str().unwrap()],
    ));
    assert_eq!(out, "", "a unit result has no output");
    let out = ok(&wasmod(
        &store,
        &["call", "fixtures/top", "get_config", "--data", r#""seen""#, "--config", config.to_str().unwrap()],
    ));
    assert_eq!(out, r#""\"bonjour!/top\"""#);
    let json: serde_json::Value =
        serde_json::from_str(&ok(&wasmod(&store, &["--json", "call", "fixtures/base", "kv_read", "--data", r#""k""#])))
            .unwrap();
    assert_eq!(json["output"], r#""v""#);
    assert!(json["metrics"]["fuel_used"].as_u64().unwrap() > 0);

    let listed: serde_json::Value = serde_json::from_str(&ok(&wasmod(&store, &["--json", "list"]))).unwrap();
    assert_eq!(listed["installed"].as_array().unwrap().len(), 2);
    assert_eq!(listed["damaged"].as_array().unwrap().len(), 0);
}

#[test]
fn a_rejected_package_exits_1_and_leaves_the_store_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let good = dir.path().join("three.zip");
    std::fs::write(&good, wasmod_tests::package("three")).unwrap();
    ok(&wasmod(&store, &["install", good.to_str().unwrap()]));
    let before = ok(&wasmod(&store, &["--json", "list"]));

    let evil = dir.path().join("evil.zip");
    std::fs::write(
        &evil,
        wasmod_tests::run_package(
            "test.run",
            &[],
            wasmod_tests::wat(&wasmod_tests::abi_module(r#"(import "env" "exfiltrate" (func))"#, "i64.const 0", "")),
        ),
    )
    .unwrap();
    let out = wasmod(&store, &["install", evil.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("error[import-not-a-group]") && stderr.contains("nothing was installed"), "{stderr}");
    assert!(!stderr.contains("\x1b["), "no colour when stderr is not a terminal");
    assert_eq!(ok(&wasmod(&store, &["--json", "list"])), before);

    let out = wasmod(&store, &["--json", "validate", evil.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["report"]["diagnostics"][0]["code"], "import-not-a-group");
}

#[test]
fn exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    assert_eq!(wasmod(&store, &["frobnicate"]).status.code(), Some(2), "unknown command is a usage error");
    assert_eq!(wasmod(&store, &["uninstall"]).status.code(), Some(2), "missing argument is a usage error");
    let out = wasmod(&store, &["call", "nobody/here", "run"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("module `nobody/here` is not installed"));
    let out = wasmod(&store, &["uninstall", "nobody/here@1.0.0"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn dispatch_calls_every_implementation_in_plan_order() {
    use wasmod_tests::constant_module;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let mut files = Vec::new();
    for (name, output, fails, deps) in [
        ("z/base", "base", false, &[][..]),
        ("a/top", "top", false, &["z/base"][..]),
        ("f/fails", "refused", true, &[][..]),
    ] {
        let path = dir.path().join(format!("{}.zip", name.replace('/', "-")));
        std::fs::write(&path, constant_module(name, "audit.hook", output, fails, deps)).unwrap();
        files.push(path.to_str().unwrap().to_owned());
    }
    let mut install = vec!["install"];
    install.extend(files.iter().map(String::as_str));
    ok(&wasmod(&store, &install));

    // z/base is a dependency of a/top, so it comes first although it sorts after it.
    let text = ok(&wasmod(&store, &["dispatch", "audit.hook", "a/top", "--data", "order"]));
    assert_eq!(text, "z/base@1.0.0 (run): base\na/top@1.0.0 (run): top\n");
    let json: serde_json::Value =
        serde_json::from_str(&ok(&wasmod(&store, &["--json", "dispatch", "audit.hook", "a/top"]))).unwrap();
    assert_eq!(json["subsystem"], "audit.hook");
    assert_eq!(json["calls"][1]["module"], "a/top");
    assert_eq!(json["calls"][1]["output"], "top");

    // A failing implementation: reported, and the exit code is 1.
    let out = wasmod(&store, &["dispatch", "audit.hook", "a/top", "f/fails"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("f/fails@1.0.0 (run): failed:") && text.contains("refused"), "{text}");
    // Nothing implements it: an error, exit code 1.
    let out = wasmod(&store, &["dispatch", "nobody.home", "a/top"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no active module implements subsystem `nobody.home`"));
}

#[test]
fn an_upgrade_asking_for_new_groups_needs_allow_new_grants() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let wasm = wasmod_tests::wat(&wasmod_tests::abi_module("", "i64.const 0", ""));
    let release = |version: &str, groups: &[&str]| {
        let manifest = wasmod_tests::run_manifest("test.run", groups).replace("1.0.0", version);
        let path = dir.path().join(format!("m-{version}.zip"));
        std::fs::write(&path, wasmod_tests::package_from_files(&manifest, &[("run.wasm", wasm.clone())])).unwrap();
        path.to_str().unwrap().to_owned()
    };
    ok(&wasmod(&store, &["install", &release("1.0.0", &["log"])]));
    let before = ok(&wasmod(&store, &["--json", "list"]));

    let wider = release("1.1.0", &["kv", "log"]);
    let out = wasmod(&store, &["install", &wider]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("hostile/m@1.1.0 asks for more than hostile/m@1.0.0 was granted: run: +kv"), "{stderr}");
    assert_eq!(ok(&wasmod(&store, &["--json", "list"])), before, "nothing was installed");

    let installed = ok(&wasmod(&store, &["install", "--allow-new-grants", &wider]));
    assert!(installed.contains("installed hostile/m@1.1.0"), "{installed}");
}
