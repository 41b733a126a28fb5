//! Whether a function file can be served by a warm instance that is reset after every
//! call (ADR 0010), decided once at load from the wasm bytes.
//!
//! A warm instance can be put back exactly only where wasmod owns the state: the linear
//! memory and the globals. wasmer keeps tables and the passive data and element
//! segments private, so a file that can change them (`table.set`, `table.grow`,
//! `table.fill`, `table.copy`, `table.init`, `data.drop`, `elem.drop`) always gets a
//! fresh instance. So does a file whose memory is not its own single defined memory.
//! LLVM's output for Rust and C uses none of these outside shared memories.

use wasmparser::{Operator, Parser, Payload};

/// What a call needs to know before it may reuse a warm instance of a resettable file:
/// the limits its instantiation must fit in (a call whose limits it does not fit takes
/// the fresh path, which reports exactly what a fresh instance would).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Resettable {
    /// The memory's initial pages.
    pub min_pages: u32,
    /// The largest initial size of a table of the file.
    pub table_elements: u32,
}

/// Why a file is not resettable, for the load's debug log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum NotResettable {
    /// It uses an instruction that changes state wasmod cannot restore.
    Uses(&'static str),
    /// It has no memory of its own, or more than one.
    Memory,
    /// The bytes do not parse (they were validated, so this does not happen).
    Unreadable(String),
}

/// Classifies a function file (see the module docs).
pub(crate) fn classify(wasm: &[u8]) -> Result<Resettable, NotResettable> {
    let mut memories = Vec::new();
    let mut table_elements = 0u32;
    let unreadable = |e: wasmparser::BinaryReaderError| NotResettable::Unreadable(e.to_string());
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.map_err(unreadable)? {
            Payload::MemorySection(reader) => {
                for memory in reader {
                    memories.push(memory.map_err(unreadable)?);
                }
            }
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    if matches!(import.map_err(unreadable)?.ty, wasmparser::TypeRef::Memory(_)) {
                        return Err(NotResettable::Memory);
                    }
                }
            }
            Payload::TableSection(reader) => {
                for table in reader {
                    let initial = table.map_err(unreadable)?.ty.initial;
                    table_elements = table_elements.max(u32::try_from(initial).unwrap_or(u32::MAX));
                }
            }
            Payload::CodeSectionEntry(body) => {
                let mut ops = body.get_operators_reader().map_err(unreadable)?;
                while !ops.eof() {
                    if let Some(name) = changes_hidden_state(&ops.read().map_err(unreadable)?) {
                        return Err(NotResettable::Uses(name));
                    }
                }
            }
            _ => {}
        }
    }
    match memories.as_slice() {
        [memory] if !memory.shared && !memory.memory64 => Ok(Resettable {
            min_pages: u32::try_from(memory.initial).map_err(|_| NotResettable::Memory)?,
            table_elements,
        }),
        _ => Err(NotResettable::Memory),
    }
}

/// The instruction's name if it changes a table or a passive segment.
fn changes_hidden_state(op: &Operator<'_>) -> Option<&'static str> {
    Some(match op {
        Operator::TableSet { .. } => "table.set",
        Operator::TableGrow { .. } => "table.grow",
        Operator::TableFill { .. } => "table.fill",
        Operator::TableCopy { .. } => "table.copy",
        Operator::TableInit { .. } => "table.init",
        Operator::DataDrop { .. } => "data.drop",
        Operator::ElemDrop { .. } => "elem.drop",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify_wat(body: &str) -> Result<Resettable, NotResettable> {
        let wat = format!(
            r#"(module (memory 3) (table $t 5 funcref) (table $u 2 funcref)
                (data $d "x") (elem $e func $f)
                (func $f) (func (export "run") {body}))"#
        );
        classify(&wat::parse_str(wat).unwrap())
    }

    #[test]
    fn plain_code_is_resettable_with_its_initial_sizes() {
        let body = "(drop (memory.grow (i32.const 1))) (memory.fill (i32.const 0) (i32.const 1) (i32.const 2)) \
                    (memory.init $d (i32.const 0) (i32.const 0) (i32.const 1)) \
                    (drop (table.get $t (i32.const 0))) (drop (table.size $t))";
        assert_eq!(classify_wat(body), Ok(Resettable { min_pages: 3, table_elements: 5 }));
    }

    #[test]
    fn each_instruction_that_changes_hidden_state_is_named() {
        for (body, name) in [
            ("(table.set $t (i32.const 0) (ref.null func))", "table.set"),
            ("(drop (table.grow $t (ref.null func) (i32.const 1)))", "table.grow"),
            ("(table.fill $t (i32.const 0) (ref.null func) (i32.const 1))", "table.fill"),
            ("(table.copy $t $u (i32.const 0) (i32.const 0) (i32.const 1))", "table.copy"),
            ("(table.init $t $e (i32.const 0) (i32.const 0) (i32.const 1))", "table.init"),
            ("(data.drop $d)", "data.drop"),
            ("(elem.drop $e)", "elem.drop"),
        ] {
            assert_eq!(classify_wat(body), Err(NotResettable::Uses(name)), "{body}");
        }
    }

    #[test]
    fn a_file_without_a_memory_of_its_own_is_not_resettable() {
        let none = wat::parse_str(r#"(module (func (export "run")))"#).unwrap();
        assert_eq!(classify(&none), Err(NotResettable::Memory));
        let imported = wat::parse_str(r#"(module (import "m" "mem" (memory 1)) (func (export "run")))"#).unwrap();
        assert_eq!(classify(&imported), Err(NotResettable::Memory));
    }
}
