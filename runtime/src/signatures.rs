//! One function type per signature hash, process-wide.
//!
//! wasmer identifies a function type by a 32-bit CRC of its parameter and result types
//! (`FunctionType::signature_hash`) and registers every type of a module's type section
//! in its engine's signature registry when the module is loaded, used or not, and every
//! host function's type when the function is made. A second, *different* type with the
//! same hash hits `unreachable!("type signature collision")` inside wasmer while it holds
//! the registry's lock and its engine's mutex: a panic that poisons both. CRC is affine,
//! so such a type is easy to construct on purpose.
//!
//! wasmer's translator refuses two colliding types inside one module, and the validator
//! refuses a file with a type that collides with an ABI or host-group signature. What is
//! left is two modules that are each fine alone: this table catches them. Every module
//! the runtime loads claims the hashes of all its types here first, before wasmer sees
//! them; a module with a type whose hash another type already owns is refused with an
//! error and never reaches an engine. The table only grows, like wasmer's registries,
//! and it covers every engine of the process (the shared one, the per-thread ones and
//! the compiling ones), so it is a superset of what any single registry holds: what is
//! admitted here cannot collide in any of them.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use wasmer::wasmparser::{Parser, Payload, RefType, ValType as WpType};
use wasmer::{FunctionType, Type};

/// A type whose hash another type already owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Collision {
    /// The type being admitted.
    pub signature: FunctionType,
    /// The type that owns its hash.
    pub owner: FunctionType,
}

fn owners() -> &'static Mutex<HashMap<u32, FunctionType>> {
    static OWNERS: OnceLock<Mutex<HashMap<u32, FunctionType>>> = OnceLock::new();
    OWNERS.get_or_init(Mutex::default)
}

/// Admits `types` as a whole: either every one of them owns its hash afterwards (or
/// already did), or none is added and the first collision is returned.
pub(crate) fn claim(types: &[FunctionType]) -> Result<(), Collision> {
    let mut owners = owners().lock().unwrap_or_else(|p| p.into_inner());
    let mut fresh: HashMap<u32, &FunctionType> = HashMap::new();
    for ty in types {
        let hash = ty.signature_hash();
        let owner = owners.get(&hash).or_else(|| fresh.get(&hash).copied());
        match owner {
            Some(owner) if owner != ty => {
                return Err(Collision { signature: ty.clone(), owner: owner.clone() });
            }
            Some(_) => {}
            None => {
                fresh.insert(hash, ty);
            }
        }
    }
    for (hash, ty) in fresh {
        owners.insert(hash, ty.clone());
    }
    Ok(())
}

fn to_type(t: WpType) -> Option<Type> {
    Some(match t {
        WpType::I32 => Type::I32,
        WpType::I64 => Type::I64,
        WpType::F32 => Type::F32,
        WpType::F64 => Type::F64,
        WpType::V128 => Type::V128,
        WpType::Ref(r) if r.is_extern_ref() => Type::ExternRef,
        WpType::Ref(r) if r.is_func_ref() => Type::FuncRef,
        WpType::Ref(r) if r == RefType::EXNREF || r == RefType::EXN => Type::ExceptionRef,
        WpType::Ref(_) => return None,
    })
}

/// Every function type of a wasm file's type section, as wasmer will register it.
pub(crate) fn file_types(wasm: &[u8]) -> Result<Vec<FunctionType>, String> {
    let mut out = Vec::new();
    for payload in Parser::new(0).parse_all(wasm) {
        if let Payload::TypeSection(section) = payload.map_err(|e| e.to_string())? {
            for ty in section.into_iter_err_on_gc_types() {
                let ty = ty.map_err(|e| e.to_string())?;
                let convert = |types: &[WpType]| types.iter().map(|t| to_type(*t)).collect::<Option<Vec<_>>>();
                let (Some(params), Some(results)) = (convert(ty.params()), convert(ty.results())) else {
                    return Err(format!("a function type uses a reference type wasmer does not support: {ty}"));
                };
                out.push(FunctionType::new(params, results));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 32 parameters chosen to hash like `(i32, i32, i32) -> ()`, found the way an
    /// attacker would: CRC is affine, so it is one linear system over GF(2).
    pub(crate) fn forged_log_write() -> FunctionType {
        let bits = [1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 0, 1, 0, 1, 1, 1, 0, 1, 0, 0, 0, 1, 1, 1, 0, 1, 0, 1, 1, 0];
        FunctionType::new(bits.map(|b| if b == 1 { Type::I64 } else { Type::I32 }).to_vec(), vec![])
    }

    #[test]
    fn a_colliding_type_is_refused_and_nothing_of_its_batch_is_kept() {
        let log_write = FunctionType::new(vec![Type::I32; 3], vec![]);
        let forged = forged_log_write();
        assert_eq!(forged.signature_hash(), log_write.signature_hash());
        assert_ne!(forged, log_write);
        let innocent = FunctionType::new(vec![Type::F64, Type::F64, Type::F32], vec![Type::I64, Type::F32]);
        claim(std::slice::from_ref(&log_write)).unwrap();
        let err = claim(&[innocent.clone(), forged.clone()]).unwrap_err();
        assert_eq!(err, Collision { signature: forged, owner: log_write.clone() });
        // The batch was refused whole: `innocent` owns nothing yet...
        assert!(!owners().lock().unwrap().contains_key(&innocent.signature_hash()));
        // ...and the same type again is fine.
        claim(&[log_write, innocent]).unwrap();
    }

    #[test]
    fn the_validator_hashes_types_as_wasmer_does() {
        let wasm = wat::parse_str(
            r#"(module
                (type (func))
                (type (func (param i32 i64 f32 f64) (result v128)))
                (type (func (param externref funcref) (result i32 i32 f64)))
                (type (func (param i32 i32 i32)))
                (type (func (result funcref))))"#,
        )
        .unwrap();
        let wasmer: Vec<u32> = file_types(&wasm).unwrap().iter().map(FunctionType::signature_hash).collect();
        assert_eq!(wasmer.len(), 5);
        assert_eq!(wasmod_validator::type_hashes(&wasm).unwrap(), wasmer);
    }
}
