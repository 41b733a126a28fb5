//! Two processes on one store: one installs version after version while the other runs
//! `wasmod list` in a loop. Every install succeeds, every listing succeeds and shows
//! only intact versions, no version once listed disappears, and all are there at the
//! end. (Opening a store used to empty `staging/` without any lock, so a `list` deleted
//! the install in flight beside it: 15 failures in 15 tries.)

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

fn wasmod(store: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wasmod"))
        .arg("--store")
        .arg(store)
        .args(args)
        // A key beside the store, not in the user's configuration.
        .env("WASMOD_ARTIFACT_KEY", store.with_extension("key"))
        .output()
        .expect("the binary runs")
}

/// Version `1.0.<patch>` of a small module with a kv-using function (the calls at the
/// end open, and the first creates, the store's kv data).
fn package(dir: &Path, patch: u32) -> PathBuf {
    let manifest = format!(
        r#"(name: "race/m", version: "1.0.{patch}", functions: {{ "run": (implements: "race.run", groups: ["kv"]) }})"#
    );
    let wasm = wasmod_tests::wat(&wasmod_tests::abi_module(
        r#"(import "wasmod:kv@1" "get" (func $get (param i32 i32) (result i64)))"#,
        &format!("(drop (call $get (i32.const 0) (i32.const 0))) i64.const {patch}"),
        "",
    ));
    let path = dir.join(format!("m-{patch}.zip"));
    std::fs::write(&path, wasmod_tests::package_from_files(&manifest, &[("run.wasm", wasm)])).unwrap();
    path
}

#[test]
fn installs_racing_list_loops_lose_and_damage_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let versions = 10;
    let packages: Vec<PathBuf> = (0..versions).map(|p| package(dir.path(), p)).collect();
    let done = AtomicBool::new(false);
    let deadline = Instant::now() + Duration::from_secs(300);

    let listings = std::thread::scope(|s| {
        let lister = s.spawn(|| {
            let mut seen: Vec<usize> = Vec::new();
            while !done.load(Ordering::SeqCst) && Instant::now() < deadline {
                let out = wasmod(&store, &["--json", "list"]);
                assert!(out.status.success(), "list failed: {}", String::from_utf8_lossy(&out.stderr));
                let listing: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
                assert_eq!(listing["damaged"], serde_json::json!([]), "a listing saw a damaged version");
                let count = listing["installed"].as_array().unwrap().len();
                if let Some(last) = seen.last() {
                    assert!(count >= *last, "an installed version disappeared: {last} then {count}");
                }
                seen.push(count);
            }
            seen
        });
        for package in &packages {
            let out = wasmod(&store, &["install", package.to_str().unwrap()]);
            assert!(out.status.success(), "install failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        done.store(true, Ordering::SeqCst);
        lister.join().expect("the lister saw nothing wrong")
    });
    assert!(listings.len() >= 3, "the lister ran only {} times: no race was tried", listings.len());
    assert!(listings.first() < listings.last(), "the lister never overlapped the installs: {listings:?}");

    let out = wasmod(&store, &["--json", "list"]);
    let listing: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listing["installed"].as_array().unwrap().len(), versions as usize);
    for patch in 0..versions {
        let out = wasmod(&store, &["call", &format!("race/m@=1.0.{patch}"), "run"]);
        assert!(out.status.success(), "1.0.{patch} does not run: {}", String::from_utf8_lossy(&out.stderr));
    }
}
