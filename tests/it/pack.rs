//! The packer splits one build into per-function files with exactly the imports each
//! function uses; the sdk emits only imports that host-abi declares, with the same
//! signatures.

use wasmod_host_abi::groups::{STANDARD_GROUPS, parse_import_module, standard_group};
use wasmod_host_abi::{ValType, abi::BYTES_CALL_SIGNATURE};
use wasmod_manifest::{ArchiveLimits, Package};
use wasmod_tests::{build, imports, package};

fn groups_imported(wasm: &[u8]) -> Vec<String> {
    let mut groups: Vec<String> = imports(wasm)
        .into_iter()
        .map(|(m, ..)| parse_import_module(&m).expect("a group import").0.to_string())
        .collect();
    groups.dedup();
    groups
}

#[test]
fn split_files_import_exactly_what_each_function_uses() {
    let pkg = Package::read(&package("three"), &ArchiveLimits::default()).unwrap();
    let a = pkg.function_bytes("uses_log").unwrap();
    let b = pkg.function_bytes("uses_kv").unwrap();
    let c = pkg.function_bytes("pure").unwrap();

    assert_eq!(groups_imported(a), ["log"]);
    assert_eq!(groups_imported(b), ["kv"]);
    assert!(imports(c).is_empty(), "pure imports {:?}", imports(c));
    // B uses kv.get and kv.set, and nothing else of kv.
    let mut b_functions: Vec<String> = imports(b).into_iter().map(|(_, n, ..)| n).collect();
    b_functions.sort();
    assert_eq!(b_functions, ["get", "set"]);

    let unsplit = build("three");
    assert!(c.len() < unsplit.len(), "pure is {} bytes, the whole build {}", c.len(), unsplit.len());
    // The unsplit build imports both groups; the split removed them from C.
    assert_eq!(groups_imported(&unsplit).len(), 2);
}

fn to_abi(t: &wasmparser::ValType) -> ValType {
    match t {
        wasmparser::ValType::I32 => ValType::I32,
        wasmparser::ValType::I64 => ValType::I64,
        wasmparser::ValType::F32 => ValType::F32,
        wasmparser::ValType::F64 => ValType::F64,
        other => panic!("unexpected value type {other:?}"),
    }
}

#[test]
fn every_sdk_import_is_declared_in_host_abi_with_the_same_signature() {
    // The all-groups fixture calls every binding of the sdk (and one embedder group
    // bound with `import_group!`), so its imports are every import the sdk can emit.
    let imported = imports(&build("all-groups"));
    let mut seen = std::collections::BTreeSet::new();
    for (module, name, params, results) in &imported {
        let (group, version) = parse_import_module(module).unwrap_or_else(|| panic!("`{module}` is not a group"));
        let params: Vec<ValType> = params.iter().map(to_abi).collect();
        let results: Vec<ValType> = results.iter().map(to_abi).collect();
        let expected = match standard_group(group) {
            Some(g) => {
                assert_eq!(version, g.version, "{module}");
                &g.function(name).unwrap_or_else(|| panic!("{module}.{name} is not in host-abi")).signature
            }
            None => &BYTES_CALL_SIGNATURE,
        };
        assert!(
            expected.matches(&params, &results),
            "{module}.{name}: sdk {params:?} -> {results:?}, host-abi {expected}"
        );
        seen.insert((group.to_string(), name.clone()));
    }
    // And the sdk binds every function of every standard group.
    for g in STANDARD_GROUPS {
        for f in g.functions.iter() {
            assert!(
                seen.contains(&(g.name.to_string(), f.name.to_string())),
                "the sdk never imports {}.{}",
                g.name,
                f.name
            );
        }
    }
    assert!(seen.contains(&("acme.inventory".to_string(), "stock".to_string())));
}
