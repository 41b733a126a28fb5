//! The wasm feature set wasmod accepts, as data: the validator checks modules against it
//! and the runtime configures its compiler from it, so what passes install always
//! compiles and nothing more does.

/// A wasm proposal and whether wasmod accepts modules that use it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Proposal {
    /// The proposal's usual name (as in the WebAssembly proposals repository).
    pub name: &'static str,
    /// Whether modules may use it. The validator turns the enabled proposals into
    /// wasmparser flags, and the runtime into its compiler's features.
    pub enabled: bool,
    /// Why wasmod accepts or refuses it, in one sentence; the validator's
    /// `unsupported-feature` diagnostic quotes it.
    pub why: &'static str,
}

const fn on(name: &'static str, why: &'static str) -> Proposal {
    Proposal { name, enabled: true, why }
}

const fn off(name: &'static str, why: &'static str) -> Proposal {
    Proposal { name, enabled: false, why }
}

/// Every proposal wasmod has an opinion on. Anything not listed is off.
pub const PROPOSALS: &[Proposal] = &[
    on("mutable-global", "part of wasm 1.0 as compilers emit it"),
    on("saturating-float-to-int", "emitted by Rust and LLVM by default"),
    on("sign-extension", "emitted by Rust and LLVM by default"),
    on("multi-value", "emitted by Rust and LLVM by default"),
    on("bulk-memory", "emitted by Rust (1.87+) by default"),
    on("reference-types", "emitted by Rust (1.82+) by default"),
    on("extended-const", "supported by Cranelift, harmless"),
    on("simd", "fixed-width 128-bit SIMD is deterministic and supported by Cranelift"),
    off("threads", "shared memories and atomics would let instances share state, breaking per-call isolation"),
    off("multi-memory", "ABI v1 exchanges bytes through exactly one memory"),
    off("memory64", "ABI v1 uses 32-bit pointers"),
    off("exceptions", "not enabled in wasmod's compiler configuration"),
    off("legacy-exceptions", "not enabled in wasmod's compiler configuration"),
    off("relaxed-simd", "its results may differ between machines"),
    off("tail-call", "not enabled in wasmod's compiler configuration"),
    off("wide-arithmetic", "not enabled in wasmod's compiler configuration"),
    off("function-references", "not supported by wasmod's compiler"),
    off("gc", "not supported by wasmod's compiler"),
    off("component-model", "wasmod runs core modules, not components"),
    off("custom-page-sizes", "not supported by wasmod's compiler"),
    off("memory-control", "not supported by wasmod's compiler"),
    off("stack-switching", "not supported by wasmod's compiler"),
    off("shared-everything-threads", "not supported by wasmod's compiler"),
];

/// Whether modules may use the named proposal.
pub fn enabled(name: &str) -> bool {
    PROPOSALS.iter().any(|p| p.name == name && p.enabled)
}

/// Looks up a proposal by name.
pub fn proposal(name: &str) -> Option<&'static Proposal> {
    PROPOSALS.iter().find(|p| p.name == name)
}
