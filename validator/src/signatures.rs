//! The identity the runtime's engine gives a function type, and collisions of it.
//!
//! wasmer (the runtime's engine) identifies a function type by a 32-bit CRC of its
//! parameter and result types, registers every type of a module's type section when the
//! module is loaded, and cannot survive two different types with the same hash: it
//! panics while holding its locks. CRC is affine, so a type with the hash of, say,
//! `log.write`'s signature takes a few lines of linear algebra to find. The validator
//! refuses such a file at install: a type whose hash equals that of an ABI or host-group
//! signature it is not, or of another type in the same file, and a policy whose own
//! signatures collide. (Two packages that are each fine alone can still collide with
//! each other: the runtime loads every module into an engine of its own, so their types
//! never meet.)

use std::collections::HashMap;

use wasmod_host_abi::abi::{ALLOC_SIGNATURE, ENTRY_SIGNATURE, MARKER_SIGNATURE, PANIC_MESSAGE_SIGNATURE};
use wasmod_host_abi::{Signature, ValType};

use crate::HostPolicy;

/// wasmer's code of a value type (the discriminant of its `Type`), or `None` for a
/// reference type it does not support.
fn code(t: wasmparser::ValType) -> Option<u8> {
    Some(match t {
        wasmparser::ValType::I32 => 0,
        wasmparser::ValType::I64 => 1,
        wasmparser::ValType::F32 => 2,
        wasmparser::ValType::F64 => 3,
        wasmparser::ValType::V128 => 4,
        wasmparser::ValType::Ref(r) if r.is_extern_ref() => 5,
        wasmparser::ValType::Ref(r) if r.is_func_ref() => 6,
        wasmparser::ValType::Ref(r) if r == wasmparser::RefType::EXNREF || r == wasmparser::RefType::EXN => 7,
        wasmparser::ValType::Ref(_) => return None,
    })
}

fn abi_code(t: ValType) -> u8 {
    match t {
        ValType::I32 => 0,
        ValType::I64 => 1,
        ValType::F32 => 2,
        ValType::F64 => 3,
    }
}

/// wasmer's hash of a function type given by the codes of its types.
fn hash_codes(params: &[u8], results: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&(results.len() as u64).to_le_bytes());
    h.update(&(params.len() as u64).to_le_bytes());
    h.update(results);
    h.update(params);
    h.finalize()
}

/// A function type as the engine identifies it: its hash, its type codes, and how to
/// show it.
#[derive(Debug, Clone)]
pub(crate) struct FileType {
    pub hash: u32,
    pub codes: (Vec<u8>, Vec<u8>),
    pub text: String,
}

/// The hash and text of a parsed function type; `None` for a type wasmer cannot load
/// (the feature check has refused such a file already).
pub(crate) fn file_type(ty: &wasmparser::FuncType) -> Option<FileType> {
    let params = ty.params().iter().map(|t| code(*t)).collect::<Option<Vec<_>>>()?;
    let results = ty.results().iter().map(|t| code(*t)).collect::<Option<Vec<_>>>()?;
    Some(FileType { hash: hash_codes(&params, &results), codes: (params, results), text: ty.to_string() })
}

/// The hash wasmer gives each type of a wasm file's type section, in order (exposed so
/// the runtime can check that it agrees with wasmer).
#[doc(hidden)]
pub fn type_hashes(wasm: &[u8]) -> Result<Vec<u32>, String> {
    let mut out = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        if let wasmparser::Payload::TypeSection(section) = payload.map_err(|e| e.to_string())? {
            for ty in section.into_iter_err_on_gc_types() {
                let ty = ty.map_err(|e| e.to_string())?;
                out.push(file_type(&ty).ok_or_else(|| format!("unsupported type {ty}"))?.hash);
            }
        }
    }
    Ok(out)
}

/// A signature the host side registers with the engine: the ABI's and those of every
/// offered group's functions, with a name for people.
fn host_signatures(policy: &HostPolicy) -> Vec<(String, Signature)> {
    let abi = [
        ("an entry point", ENTRY_SIGNATURE),
        ("`wasmod_alloc`", ALLOC_SIGNATURE),
        ("the ABI marker", MARKER_SIGNATURE),
        ("the panic-message export", PANIC_MESSAGE_SIGNATURE),
    ];
    let abi = abi.into_iter().map(|(name, sig)| (name.to_string(), sig));
    let groups = policy
        .groups()
        .flat_map(|g| g.functions.iter().map(move |f| (format!("`{}.{}`", g.name, f.name), f.signature.clone())));
    abi.chain(groups).collect()
}

/// The host signatures as the engine identifies them.
fn host_types(policy: &HostPolicy) -> Vec<FileType> {
    host_signatures(policy)
        .into_iter()
        .map(|(name, sig)| {
            let params: Vec<u8> = sig.params.iter().map(|t| abi_code(*t)).collect();
            let results: Vec<u8> = sig.results.iter().map(|t| abi_code(*t)).collect();
            FileType { hash: hash_codes(&params, &results), codes: (params, results), text: format!("{name} ({sig})") }
        })
        .collect()
}

/// Every type of a file that collides: `(type index, its text, what it collides with)`.
/// Linear in the number of types.
pub(crate) fn collisions(types: &[Option<FileType>], policy: &HostPolicy) -> Vec<(usize, String, String)> {
    let mut host: HashMap<u32, FileType> = HashMap::new();
    for sig in host_types(policy) {
        host.entry(sig.hash).or_insert(sig);
    }
    let mut first: HashMap<u32, (usize, &FileType)> = HashMap::new();
    let mut out = Vec::new();
    for (i, ty) in types.iter().enumerate() {
        let Some(ty) = ty else { continue };
        if let Some(sig) = host.get(&ty.hash).filter(|h| h.codes != ty.codes) {
            out.push((i, ty.text.clone(), sig.text.clone()));
            continue;
        }
        match first.get(&ty.hash) {
            Some((j, other)) if other.codes != ty.codes => {
                out.push((i, ty.text.clone(), format!("type {j} of the same file ({})", other.text)));
            }
            Some(_) => {}
            None => {
                first.insert(ty.hash, (i, ty));
            }
        }
    }
    out
}

/// Pairs of the policy's own host signatures (the ABI's and every offered group's) that
/// the engine cannot tell apart: such a policy is incoherent.
pub(crate) fn policy_collisions(policy: &HostPolicy) -> Vec<String> {
    let mut first: HashMap<u32, FileType> = HashMap::new();
    let mut out = Vec::new();
    for sig in host_types(policy) {
        match first.get(&sig.hash) {
            Some(other) if other.codes != sig.codes => out.push(format!(
                "{} and {} have the same engine identity (a 32-bit hash): give one of them another signature",
                other.text, sig.text
            )),
            Some(_) => {}
            None => {
                first.insert(sig.hash, sig);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn types_of(wat: &str) -> Vec<Option<FileType>> {
        let wasm = wat::parse_str(wat).unwrap();
        let mut out = Vec::new();
        for payload in wasmparser::Parser::new(0).parse_all(&wasm) {
            if let wasmparser::Payload::TypeSection(s) = payload.unwrap() {
                for ty in s.into_iter_err_on_gc_types() {
                    out.push(file_type(&ty.unwrap()));
                }
            }
        }
        out
    }

    /// 32 parameters chosen to hash like `log.write`'s `(i32, i32, i32) -> ()`.
    const FORGED: &str = "i64 i64 i32 i32 i32 i64 i64 i64 i64 i64 i64 i64 i32 i64 i32 i64 \
                          i64 i64 i32 i64 i32 i32 i32 i64 i64 i64 i32 i64 i32 i64 i64 i32";

    #[test]
    fn a_type_forged_to_hash_like_a_host_signature_collides() {
        let types = types_of(&format!("(module (type (func (param i32 i32 i32))) (type (func (param {FORGED}))))"));
        assert_eq!(types[0].as_ref().unwrap().hash, types[1].as_ref().unwrap().hash);
        let found = collisions(&types, &HostPolicy::new());
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, 1);
        assert!(found[0].2.contains("`log.write`"), "{found:?}");
    }

    #[test]
    fn a_forged_type_collides_with_its_twin_in_the_same_file_when_no_host_signature_does() {
        // Without the log group, the forged type is only a twin of type 0.
        let mut policy = HostPolicy::new();
        policy.standard_groups.retain(|g| g != "log");
        let types = types_of(&format!("(module (type (func (param i32 i32 i32))) (type (func (param {FORGED}))))"));
        let found = collisions(&types, &policy);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].2.starts_with("type 0 of the same file"), "{found:?}");
    }

    #[test]
    fn an_embedder_group_whose_signature_collides_with_a_standard_one_makes_the_policy_incoherent() {
        use std::borrow::Cow;
        use wasmod_host_abi::{GroupDef, HostFunctionDef};
        let forged: Vec<ValType> =
            FORGED.split_whitespace().map(|t| if t == "i64" { ValType::I64 } else { ValType::I32 }).collect();
        let group = GroupDef {
            name: Cow::Borrowed("acme.forged"),
            version: 1,
            doc: Cow::Borrowed(""),
            functions: Cow::Owned(vec![HostFunctionDef {
                name: Cow::Borrowed("f"),
                signature: Signature { params: forged.into(), results: Vec::new().into() },
                doc: Cow::Borrowed(""),
            }]),
        };
        assert!(policy_collisions(&HostPolicy::new()).is_empty());
        let found = policy_collisions(&HostPolicy::new().with_custom_group(group));
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("`log.write`") && found[0].contains("`acme.forged.f`"), "{found:?}");
    }

    #[test]
    fn ordinary_types_do_not_collide() {
        let types = types_of(
            "(module (type (func (param i32 i32 i32))) (type (func (param i32 i32) (result i64))) \
             (type (func (param i32 i32) (result i64))) (type (func (result funcref))))",
        );
        assert!(collisions(&types, &HostPolicy::new()).is_empty());
    }
}
