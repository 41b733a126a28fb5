//! Host-function types whose engine identities collide.
//!
//! wasmer identifies a function type by a 32-bit CRC of its parameter and result types
//! (`FunctionType::signature_hash`), and its per-engine signature registry panics,
//! holding its locks, when a second, different type with the same hash is registered.
//! CRC is affine, so such a type is easy to construct on purpose.
//!
//! Module types never meet in a registry: every loaded module has an engine of its own,
//! and the validator refuses a file with two colliding types, or with one that collides
//! with an ABI or host-group signature (`engine` says how the engines are laid out). What
//! does meet is the host-function types of a thread's engine: every store on a thread
//! registers there the types of the host functions its module imports, which are the
//! signatures of the runtime's groups, and of every other runtime's that calls on that
//! thread. Two groups of an embedder's with colliding signatures would make the second
//! link panic, so each runtime, when it is built, finds the pairs among its own group
//! types and those of the runtimes built before it in the process (a process-wide table
//! of host-function types, which only embedders' code adds to), and a function
//! importing one of them does not load.

use std::collections::HashMap;
use std::sync::Mutex;

use wasmer::FunctionType;

/// A host-function type whose identity another one has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Collision {
    /// The type a function imports.
    pub signature: FunctionType,
    /// The other host-function type with its identity.
    pub owner: FunctionType,
}

/// The runtime's host-function types, by identity, and which identities two of them
/// share.
#[derive(Debug, Default)]
pub(crate) struct HostTypes {
    collisions: HashMap<u32, (FunctionType, FunctionType)>,
}

impl HostTypes {
    /// The identities among `types` (every function of every group of a runtime being
    /// built) that two different types share, counting the host-function types of the
    /// runtimes built before in this process; `types` join those.
    pub(crate) fn new<'a>(types: impl IntoIterator<Item = &'a FunctionType>) -> HostTypes {
        static PROCESS: Mutex<Option<HashMap<u32, FunctionType>>> = Mutex::new(None);
        let mut process = PROCESS.lock().unwrap_or_else(|p| p.into_inner());
        let first = process.get_or_insert_with(HashMap::new);
        let mut collisions = HashMap::new();
        for ty in types {
            let hash = ty.signature_hash();
            match first.get(&hash) {
                Some(owner) if owner != ty => {
                    collisions.entry(hash).or_insert_with(|| (owner.clone(), ty.clone()));
                }
                Some(_) => {}
                None => {
                    first.insert(hash, ty.clone());
                }
            }
        }
        HostTypes { collisions }
    }

    /// Whether `ty` may be linked: `Err` when another host-function type has its
    /// identity.
    pub(crate) fn check(&self, ty: &FunctionType) -> Result<(), Collision> {
        match self.collisions.get(&ty.signature_hash()) {
            Some((a, b)) => {
                let owner = if a == ty { b } else { a };
                Err(Collision { signature: ty.clone(), owner: owner.clone() })
            }
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use wasmer::Type;

    use super::*;

    /// 32 parameters chosen to hash like `(i32, i32, i32) -> ()`, found the way an
    /// attacker would: CRC is affine, so it is one linear system over GF(2).
    fn forged_log_write() -> FunctionType {
        let bits = [1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 0, 1, 0, 1, 1, 1, 0, 1, 0, 0, 0, 1, 1, 1, 0, 1, 0, 1, 1, 0];
        FunctionType::new(bits.map(|b| if b == 1 { Type::I64 } else { Type::I32 }).to_vec(), vec![])
    }

    #[test]
    fn only_colliding_host_types_are_refused_within_a_runtime_and_across_runtimes() {
        let log_write = FunctionType::new(vec![Type::I32; 3], vec![]);
        let forged = forged_log_write();
        assert_eq!(forged.signature_hash(), log_write.signature_hash());
        let bytes_call = FunctionType::new(vec![Type::I32; 2], vec![Type::I64]);
        let types = HostTypes::new([&log_write, &bytes_call, &bytes_call, &forged]);
        assert_eq!(types.check(&forged), Err(Collision { signature: forged.clone(), owner: log_write.clone() }));
        assert_eq!(types.check(&log_write), Err(Collision { signature: log_write.clone(), owner: forged.clone() }));
        assert_eq!(types.check(&bytes_call), Ok(()), "the same type twice is no collision");
        // A later runtime with the ordinary type alone is fine; one with the forged type
        // alone collides with the earlier runtimes' `log_write` (their stores may share a
        // thread's engine).
        assert_eq!(HostTypes::new([&log_write, &bytes_call]).check(&log_write), Ok(()));
        assert_eq!(HostTypes::new([&forged]).check(&forged), Err(Collision { signature: forged, owner: log_write }));
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
        let v128 = Type::V128;
        let expected = [
            FunctionType::new(vec![], vec![]),
            FunctionType::new(vec![Type::I32, Type::I64, Type::F32, Type::F64], vec![v128]),
            FunctionType::new(vec![Type::ExternRef, Type::FuncRef], vec![Type::I32, Type::I32, Type::F64]),
            FunctionType::new(vec![Type::I32; 3], vec![]),
            FunctionType::new(vec![], vec![Type::FuncRef]),
        ];
        let wasmer: Vec<u32> = expected.iter().map(FunctionType::signature_hash).collect();
        assert_eq!(wasmod_validator::type_hashes(&wasm).unwrap(), wasmer);
    }
}
