//! A child process installing a package is killed with SIGKILL at varied moments;
//! afterwards the store opens and is consistent every time: the module is either fully
//! installed (its package reads, validates and runs) or absent, and no half-written
//! install remains.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use wasmod::{AppConfig, Host, HostPolicy, Request};

fn install_child(store: &Path, package: &Path) -> std::process::Child {
    wasmod(store, &["install", package.to_str().expect("a UTF-8 path")])
}

/// The artifact key of a test store: beside it, not in the user's configuration.
fn key(store: &Path) -> std::path::PathBuf {
    store.with_extension("key")
}

fn open(store: &Path) -> Host {
    Host::builder().store(store).artifact_key_file(key(store)).policy(HostPolicy::development()).open().unwrap()
}

fn check_consistent(store: &Path) -> bool {
    let host = open(store);
    let staging: Vec<_> = std::fs::read_dir(store.join("staging")).unwrap().collect();
    assert!(staging.is_empty(), "opening the store clears interrupted installs");
    let listed = host.list().expect("the store lists");
    assert!(listed.damaged.is_empty(), "a killed install damaged a version: {:?}", listed.damaged);
    match listed.installed.as_slice() {
        [] => false,
        [m] => {
            assert_eq!(m.id(), "fixtures/base@1.0.0");
            // Fully installed: it activates and runs.
            let active =
                host.activate(&[Request::parse("fixtures/base", None).unwrap()], &AppConfig::new()).expect("activates");
            active.call("fixtures/base", "kv_read", br#""marker""#).expect("runs");
            true
        }
        more => panic!("unexpected modules {more:?}"),
    }
}

#[test]
fn killed_installs_leave_the_store_before_or_after_never_half() {
    let dir = tempfile::tempdir().unwrap();
    let package = dir.path().join("base.zip");
    std::fs::write(&package, wasmod_tests::package("lifecycle-base")).unwrap();

    // How long an install takes here, start to finish.
    let started = Instant::now();
    let status = install_child(&dir.path().join("timing"), &package).wait().unwrap();
    assert!(status.success());
    let full = started.elapsed();

    let rounds = 8u32;
    let (mut installed, mut absent) = (0, 0);
    for i in 0..rounds {
        let store = dir.path().join(format!("store-{i}"));
        let mut child = install_child(&store, &package);
        // Spread the kills from the very start to well past the end of an install
        // (install times vary by tens of percent from run to run).
        let delay = full * 2 * i / rounds;
        std::thread::sleep(delay);
        let _ = child.kill();
        let _ = child.wait();
        if store.exists() && check_consistent(&store) { installed += 1 } else { absent += 1 }
    }
    // Both outcomes happened: the kills really landed at different moments.
    assert!(installed > 0 && absent > 0, "installed {installed}, absent {absent} (install takes {full:?})");
}

fn wasmod(store: &Path, args: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_wasmod"))
        .arg("--store")
        .arg(store)
        .args(args)
        .env("WASMOD_ARTIFACT_KEY", key(store))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts")
}

fn run_to_end(store: &Path, args: &[&str]) {
    assert!(wasmod(store, args).wait().unwrap().success(), "wasmod {args:?} failed");
}

#[test]
fn killed_uninstalls_leave_the_store_before_or_after_never_half() {
    let dir = tempfile::tempdir().unwrap();
    let package = dir.path().join("base.zip");
    std::fs::write(&package, wasmod_tests::package("lifecycle-base")).unwrap();
    let package = package.to_str().unwrap();
    let (mut installed, mut absent) = (0, 0);
    for i in 0..8u32 {
        let store = dir.path().join(format!("store-{i}"));
        run_to_end(&store, &["install", package]);
        let mut child = wasmod(&store, &["uninstall", "fixtures/base@1.0.0"]);
        std::thread::sleep(std::time::Duration::from_millis(u64::from(i) * 6));
        let _ = child.kill();
        let _ = child.wait();
        let trash: Vec<_> = {
            let _host = open(&store);
            std::fs::read_dir(store.join("trash")).unwrap().collect()
        };
        assert!(trash.is_empty(), "opening the store clears interrupted uninstalls");
        if check_consistent(&store) { installed += 1 } else { absent += 1 }
    }
    assert!(absent > 0, "installed {installed}, absent {absent}");
}

/// The numbers `n` of the keys `fill/n` of fixtures/base, read straight from the
/// database, with each value checked against its key.
fn filled(store: &Path) -> Vec<u32> {
    use redb::{ReadableDatabase, ReadableTable};
    let db = redb::Database::open(store.join("kv.redb")).expect("the kv database opens after a crash");
    let tx = db.begin_read().unwrap();
    let table = tx.open_table(redb::TableDefinition::<(&str, &[u8]), &[u8]>::new("kv")).unwrap();
    let mut out = Vec::new();
    for entry in table.iter().unwrap() {
        let (k, v) = entry.unwrap();
        let (module, key) = k.value();
        assert_eq!(module, "fixtures/base");
        let key = std::str::from_utf8(key).unwrap();
        if let Some(n) = key.strip_prefix("fill/") {
            let n: u32 = n.parse().unwrap();
            assert_eq!(std::str::from_utf8(v.value()).unwrap(), n.to_string(), "a torn value");
            out.push(n);
        }
    }
    out
}

fn count_in(keys: &[u32], start: u32, n: u32) -> usize {
    let present: Vec<u32> = keys.iter().copied().filter(|k| (start..start + n).contains(k)).collect();
    // Writes happen in key order, each durable: what is there is a prefix.
    assert_eq!(present, (start..start + present.len() as u32).collect::<Vec<_>>(), "a hole in the written keys");
    present.len()
}

#[test]
fn killed_kv_writes_lose_nothing_that_was_committed() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let package = dir.path().join("base.zip");
    std::fs::write(&package, wasmod_tests::package("lifecycle-base")).unwrap();
    run_to_end(&store, &["install", package.to_str().unwrap()]);
    run_to_end(&store, &["call", "fixtures/base", "kv_fill", "--data", "[0, 20]"]);
    let started = std::time::Instant::now();
    run_to_end(&store, &["call", "fixtures/base", "kv_fill", "--data", "[100000, 200]"]);
    let full = started.elapsed();

    // Kill calls at delays found by bisection between "before the first write" and "after
    // the last": how long process start takes against the writes varies with the load of
    // the machine, so fixed fractions of a full call may all land before the writes.
    let (mut before, mut after) = (Duration::ZERO, full * 3 / 2);
    let mut rounds: Vec<(u32, usize)> = Vec::new();
    for r in 0..12u32 {
        let start = 1000 * (r + 1);
        let data = format!("[{start}, 200]");
        let delay = (before + after) / 2;
        let mut child = wasmod(&store, &["call", "fixtures/base", "kv_fill", "--data", &data]);
        std::thread::sleep(delay);
        let _ = child.kill();
        let _ = child.wait();
        let keys = filled(&store);
        // Everything committed before, by completed calls and by earlier killed ones, is
        // still there.
        assert_eq!(count_in(&keys, 0, 20), 20);
        assert_eq!(count_in(&keys, 100_000, 200), 200);
        for (s, n) in &rounds {
            assert_eq!(count_in(&keys, *s, 200), *n, "keys of an earlier round changed");
        }
        let written = count_in(&keys, start, 200);
        rounds.push((start, written));
        match written {
            0 => before = delay,
            200 => after = delay,
            // A kill in the middle of the writes: what matters has been seen; a few more
            // rounds around it check later kills against it.
            _ if rounds.iter().filter(|(_, n)| *n > 0 && *n < 200).count() >= 3 => break,
            _ => {}
        }
    }
    assert!(
        rounds.iter().any(|(_, n)| *n > 0 && *n < 200),
        "no kill landed in the middle of the writes: {rounds:?} (a full call takes {full:?})"
    );
}
