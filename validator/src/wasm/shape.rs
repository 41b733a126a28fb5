//! The shape of a function file: what the checks need to know of it, gathered in one
//! pass over its sections.

use std::collections::BTreeMap;

use wasmod_host_abi::ValType;
use wasmparser::{BinaryReaderError, ExternalKind, Parser, Payload, TypeRef};

/// A function type as `(params, results)` in host-abi's value types.
pub(super) type Sig = (Vec<ValType>, Vec<ValType>);

/// The shape of a file, gathered in one pass after validation succeeded.
#[derive(Default)]
pub(super) struct Shape {
    /// Function types; `None` for one with reference-typed parameters or results, which
    /// never matches an ABI signature.
    pub(super) types: Vec<Option<Sig>>,
    /// The same types as the engine identifies them.
    pub(super) engine_types: Vec<Option<crate::signatures::FileType>>,
    /// `(module, name, type)` of every import, in file order.
    pub(super) imports: Vec<(String, String, TypeRef)>,
    /// Type index of every function, imported ones first.
    pub(super) func_types: Vec<u32>,
    pub(super) imported_funcs: usize,
    /// Kind and index of every export, by name.
    pub(super) exports: BTreeMap<String, (ExternalKind, u32)>,
    pub(super) memories: Vec<wasmparser::MemoryType>,
    pub(super) tables: Vec<wasmparser::TableType>,
    /// Bytes of all data segments together.
    pub(super) data_bytes: u64,
    /// The start function's index and the byte offset of the start section.
    pub(super) start: Option<(u32, u64)>,
}

fn val(t: &wasmparser::ValType) -> Option<ValType> {
    Some(match t {
        wasmparser::ValType::I32 => ValType::I32,
        wasmparser::ValType::I64 => ValType::I64,
        wasmparser::ValType::F32 => ValType::F32,
        wasmparser::ValType::F64 => ValType::F64,
        _ => return None,
    })
}

pub(super) fn shape(bytes: &[u8]) -> Result<Shape, BinaryReaderError> {
    let mut s = Shape::default();
    for payload in Parser::new(0).parse_all(bytes) {
        match payload? {
            Payload::TypeSection(section) => {
                for ty in section.into_iter_err_on_gc_types() {
                    let ty = ty?;
                    let params = ty.params().iter().map(val).collect::<Option<Vec<_>>>();
                    let results = ty.results().iter().map(val).collect::<Option<Vec<_>>>();
                    s.types.push(params.zip(results));
                    s.engine_types.push(crate::signatures::file_type(&ty));
                }
            }
            Payload::ImportSection(section) => {
                for import in section.into_imports() {
                    let import = import?;
                    if let TypeRef::Func(t) = import.ty {
                        s.func_types.push(t);
                        s.imported_funcs += 1;
                    }
                    s.imports.push((import.module.to_string(), import.name.to_string(), import.ty));
                }
            }
            Payload::FunctionSection(section) => {
                for t in section {
                    s.func_types.push(t?);
                }
            }
            Payload::TableSection(section) => {
                for table in section {
                    s.tables.push(table?.ty);
                }
            }
            Payload::MemorySection(section) => {
                for memory in section {
                    s.memories.push(memory?);
                }
            }
            Payload::ExportSection(section) => {
                for export in section {
                    let export = export?;
                    s.exports.insert(export.name.to_string(), (export.kind, export.index));
                }
            }
            Payload::StartSection { func, range } => s.start = Some((func, range.start)),
            Payload::DataSection(section) => {
                for data in section {
                    s.data_bytes += data?.data.len() as u64;
                }
            }
            _ => {}
        }
    }
    Ok(s)
}

impl Shape {
    pub(super) fn func_signature(&self, index: u32) -> Option<&Sig> {
        self.types.get(*self.func_types.get(index as usize)? as usize)?.as_ref()
    }
}

pub(super) fn show(sig: Option<&Sig>) -> String {
    match sig {
        Some((params, results)) => {
            wasmod_host_abi::Signature { params: params.clone().into(), results: results.clone().into() }.to_string()
        }
        None => "a signature with reference types".into(),
    }
}
