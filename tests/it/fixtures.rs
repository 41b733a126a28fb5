//! Every fixture is used by at least one test.

use std::path::Path;

#[test]
fn every_fixture_is_used_by_a_test() {
    let root = wasmod_tests::root();
    let sources: String = std::fs::read_dir(root.join("tests/it"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    let mut names = Vec::new();
    for entry in std::fs::read_dir(root.join("tests/fixtures")).unwrap() {
        let path = entry.unwrap().path();
        if path.join("Cargo.toml").is_file() {
            names.push(file_name(&path));
        }
    }
    if let Ok(wats) = std::fs::read_dir(root.join("tests/fixtures/wat")) {
        for entry in wats {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "wat") {
                names.push(path.file_stem().unwrap().to_string_lossy().into_owned());
            }
        }
    }
    assert!(!names.is_empty());
    let unused: Vec<&String> = names.iter().filter(|n| !sources.contains(&format!("\"{n}\""))).collect();
    assert!(unused.is_empty(), "fixtures no test uses (use them or delete them): {unused:?}");
}

fn file_name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}
