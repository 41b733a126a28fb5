//! ABI v1: how a host calls a guest function and how bytes cross the boundary.
//!
//! # Calling convention
//!
//! A function file is a core wasm module that exports:
//!
//! | export | kind | signature | purpose |
//! |---|---|---|---|
//! | `memory` | memory | | the guest's linear memory, where all bytes are exchanged |
//! | [`ABI_MARKER_EXPORT`] (`__wasmod_abi_v1`) | func | `[] -> []` | marks the ABI version; never called |
//! | [`ALLOC_EXPORT`] (`wasmod_alloc`) | func | `[i32] -> [i32]` | allocates `len` bytes in the guest, returns the pointer (0 on failure) |
//! | the function's own name | func | `[i32, i32] -> [i64]` | the entry point |
//! | [`PANIC_MESSAGE_EXPORT`] (`__wasmod_panic_message`) | func | `[] -> [i64]` | *optional*: after a trap, the [`Region`] of the last panic message |
//!
//! A call goes like this:
//!
//! 1. The host instantiates the module afresh (every call gets a new instance).
//! 2. If the input is not empty, the host calls `wasmod_alloc(len)` and copies the input
//!    to the returned pointer. An empty input is passed as `(0, 0)`.
//! 3. The host calls the entry `(input_ptr, input_len)`. The guest owns the input.
//! 4. The entry returns an [`EntryResult`] packed in an `i64`: a [`Region`] of guest
//!    memory holding the output bytes, with the top bit set if it is an error, in which
//!    case the region holds a UTF-8 message.
//! 5. The host copies the output out and drops the instance; nothing is ever freed.
//!
//! # Host functions
//!
//! Host functions receive guest bytes as `(ptr, len)` pairs of `i32`. A host
//! function that returns bytes calls the guest's `wasmod_alloc` to obtain space,
//! writes them there, and returns the packed [`Region`] (always `>= 0`); a negative
//! return value is a [`status`] code instead.
//!
//! # Callbacks
//!
//! The host calls into the guest outside the entry point in two places: `wasmod_alloc`
//! (to place the input, and inside host functions that return bytes) and, after a trap,
//! the panic-message export. These *callbacks* run with the guest's host imports
//! disabled: a host function called from inside one stops the whole call. So callbacks
//! cannot nest, however the guest is written. They run under the call's fuel (what is
//! left of it; the panic-message export gets at most a fixed share) and deadline.

/// The ABI version this crate describes.
pub const ABI_VERSION: u32 = 1;
/// The exported memory through which bytes are exchanged.
pub const MEMORY_EXPORT: &str = "memory";
/// The export whose presence says "this file speaks ABI v1".
pub const ABI_MARKER_EXPORT: &str = "__wasmod_abi_v1";
/// The guest allocator the host calls to place bytes in guest memory.
pub const ALLOC_EXPORT: &str = "wasmod_alloc";
/// The optional export that returns the message of the last guest panic.
pub const PANIC_MESSAGE_EXPORT: &str = "__wasmod_panic_message";
/// The lifecycle hook run once per module on activation.
pub const INIT_HOOK: &str = "init";

use crate::types::{Signature, ValType};

/// Signature of a function entry point: `(input_ptr, input_len) -> packed result`.
pub const ENTRY_SIGNATURE: Signature = Signature::new(&[ValType::I32, ValType::I32], &[ValType::I64]);
/// Signature of the *bytes-call* shape used by every function of an embedder-defined
/// group bound with the sdk's `import_group!`: `(input_ptr, input_len) -> region or
/// negative status`.
pub const BYTES_CALL_SIGNATURE: Signature = Signature::new(&[ValType::I32, ValType::I32], &[ValType::I64]);
/// Signature of [`ALLOC_EXPORT`]: `(len) -> ptr`.
pub const ALLOC_SIGNATURE: Signature = Signature::new(&[ValType::I32], &[ValType::I32]);
/// Signature of [`ABI_MARKER_EXPORT`]: `[] -> []`. The host never calls the marker; the
/// validator checks only that it is exported with this type.
pub const MARKER_SIGNATURE: Signature = Signature::new(&[], &[]);
/// Signature of [`PANIC_MESSAGE_EXPORT`]: `[] -> [i64]`, the packed [`Region`] of the last
/// panic message.
pub const PANIC_MESSAGE_SIGNATURE: Signature = Signature::new(&[], &[ValType::I64]);

/// The kind of an ABI export, and for a function the exact signature the validator
/// requires of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportKind {
    /// A function with this signature.
    Func(&'static Signature),
    /// A linear memory: [`MEMORY_EXPORT`], the one memory through which bytes cross.
    Memory,
}

/// One export the ABI defines (besides the entry point).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AbiExport {
    /// The name a function file must export it under, e.g. [`ALLOC_EXPORT`].
    pub name: &'static str,
    /// Whether it is the memory or a function, and for a function its exact signature.
    pub kind: ExportKind,
    /// Whether every function file must have it.
    pub required: bool,
}

/// The exports ABI v1 defines, besides each file's entry point.
pub const ABI_EXPORTS: &[AbiExport] = &[
    AbiExport { name: MEMORY_EXPORT, kind: ExportKind::Memory, required: true },
    AbiExport { name: ABI_MARKER_EXPORT, kind: ExportKind::Func(&MARKER_SIGNATURE), required: true },
    AbiExport { name: ALLOC_EXPORT, kind: ExportKind::Func(&ALLOC_SIGNATURE), required: true },
    AbiExport { name: PANIC_MESSAGE_EXPORT, kind: ExportKind::Func(&PANIC_MESSAGE_SIGNATURE), required: false },
];

/// Whether `name` is an export name the ABI reserves (a function may not be called so).
pub fn is_reserved_export(name: &str) -> bool {
    ABI_EXPORTS.iter().any(|e| e.name == name) || name.starts_with("__wasmod") || name.starts_with("wasmod_")
}

/// The largest length a [`Region`] can describe (2³¹ − 1 bytes).
pub const MAX_REGION_LEN: u32 = i32::MAX as u32;

/// A span of guest memory, packed into a non-negative `i64` as `len << 32 | ptr`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Region {
    /// Offset in guest memory.
    pub ptr: u32,
    /// Length in bytes, at most [`MAX_REGION_LEN`].
    pub len: u32,
}

impl Region {
    /// Packs the region. Lengths above [`MAX_REGION_LEN`] are truncated to it; callers
    /// check the length first.
    pub const fn pack(self) -> i64 {
        let len = if self.len > MAX_REGION_LEN { MAX_REGION_LEN } else { self.len };
        ((len as u64) << 32 | self.ptr as u64) as i64
    }

    /// Unpacks a non-negative value; `None` for a negative one (a status code).
    pub const fn unpack(word: i64) -> Option<Region> {
        if word < 0 {
            None
        } else {
            let w = word as u64;
            Some(Region { ptr: w as u32, len: (w >> 32) as u32 })
        }
    }

    /// The end offset, or `None` if it overflows 32 bits.
    pub const fn end(self) -> Option<u32> {
        self.ptr.checked_add(self.len)
    }
}

/// An entry point's result, unpacked from the `i64` it returns: every word is one (see
/// [`unpack`](EntryResult::unpack)), the sign bit telling an error from output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryResult {
    /// The output bytes.
    Ok(Region),
    /// A UTF-8 error message.
    Err(Region),
}

impl EntryResult {
    /// Packs the result: the region, with the sign bit set for an error.
    pub const fn pack(self) -> i64 {
        match self {
            EntryResult::Ok(r) => r.pack(),
            EntryResult::Err(r) => r.pack() | i64::MIN,
        }
    }

    /// Unpacks a word returned by an entry point. Every `i64` is a valid result.
    pub const fn unpack(word: i64) -> EntryResult {
        let region = match Region::unpack(word & i64::MAX) {
            Some(r) => r,
            None => Region { ptr: 0, len: 0 },
        };
        if word < 0 { EntryResult::Err(region) } else { EntryResult::Ok(region) }
    }
}

/// Status codes returned (as negative numbers) by host functions.
pub mod status {
    /// Success, for functions that return only a status.
    pub const OK: i32 = 0;
    /// The key, module or function does not exist.
    pub const NOT_FOUND: i32 = -1;
    /// The caller is not allowed to do this (e.g. a config write outside `init`,
    /// a call to a module that is not a declared dependency).
    pub const DENIED: i32 = -2;
    /// The arguments are malformed (bad UTF-8, undecodable value, wrong type).
    pub const INVALID: i32 = -3;
    /// A limit was hit (value too large, call depth, quota).
    pub const LIMIT: i32 = -4;
    /// The host failed to do it (storage error and the like).
    pub const FAILED: i32 = -5;

    /// A short name for a status code, for messages.
    pub fn describe(code: i64) -> &'static str {
        match code {
            0 => "ok",
            -1 => "not found",
            -2 => "denied",
            -3 => "invalid argument",
            -4 => "limit exceeded",
            -5 => "host failure",
            _ => "unknown status",
        }
    }
}

/// The first byte of the envelope `modules.call` returns: the callee succeeded and
/// the rest is its output.
pub const CALL_OK: u8 = 0;
/// The first byte of the envelope `modules.call` returns: the callee failed and the
/// rest is a UTF-8 message.
pub const CALL_ERR: u8 = 1;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_round_trip() {
        for r in
            [Region { ptr: 0, len: 0 }, Region { ptr: u32::MAX, len: MAX_REGION_LEN }, Region { ptr: 1024, len: 7 }]
        {
            let w = r.pack();
            assert!(w >= 0);
            assert_eq!(Region::unpack(w), Some(r));
        }
        assert_eq!(Region::unpack(-1), None);
        assert_eq!(Region { ptr: u32::MAX, len: 1 }.end(), None);
    }

    #[test]
    fn entry_result_round_trip() {
        let r = Region { ptr: 64, len: 3 };
        assert_eq!(EntryResult::unpack(EntryResult::Ok(r).pack()), EntryResult::Ok(r));
        assert_eq!(EntryResult::unpack(EntryResult::Err(r).pack()), EntryResult::Err(r));
        assert!(EntryResult::Err(r).pack() < 0);
        // Any word is a result: -1 is an error region with the maximum length.
        assert_eq!(EntryResult::unpack(-1), EntryResult::Err(Region { ptr: u32::MAX, len: MAX_REGION_LEN }));
    }

    #[test]
    fn reserved_names() {
        for name in ["memory", "wasmod_alloc", "__wasmod_abi_v1", "__wasmod_x", "wasmod_free"] {
            assert!(is_reserved_export(name), "{name}");
        }
        assert!(!is_reserved_export("run"));
    }
}
