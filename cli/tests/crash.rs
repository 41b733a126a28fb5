//! A child process installing a package is killed with SIGKILL at varied moments;
//! afterwards the store opens and is consistent every time: the module is either fully
//! installed (its package reads, validates and runs) or absent, and no half-written
//! install remains.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use wasmod::{AppConfig, Host, HostPolicy, Request};

fn install_child(store: &Path, package: &Path) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_wasmod"))
        .arg("--store")
        .arg(store)
        .arg("install")
        .arg(package)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts")
}

fn check_consistent(store: &Path) -> bool {
    let host = Host::builder().store(store).policy(HostPolicy::development()).open().expect("the store opens");
    let staging: Vec<_> = std::fs::read_dir(store.join("staging")).unwrap().collect();
    assert!(staging.is_empty(), "opening the store clears interrupted installs");
    let listed = host.list().expect("the store lists");
    match listed.as_slice() {
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

    let rounds = 12u32;
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
