//! The wasmparser feature set, built from `wasmod_host_abi::features`, and the diagnosis
//! of which proposal a rejected module needs.

use wasmparser::{Validator, WasmFeatures};

/// The wasmparser flag of a proposal named in `wasmod_host_abi::features::PROPOSALS`.
pub(crate) fn flag(name: &str) -> Option<WasmFeatures> {
    Some(match name {
        "mutable-global" => WasmFeatures::MUTABLE_GLOBAL,
        "saturating-float-to-int" => WasmFeatures::SATURATING_FLOAT_TO_INT,
        "sign-extension" => WasmFeatures::SIGN_EXTENSION,
        "multi-value" => WasmFeatures::MULTI_VALUE,
        "bulk-memory" => WasmFeatures::BULK_MEMORY,
        "reference-types" => WasmFeatures::REFERENCE_TYPES,
        "extended-const" => WasmFeatures::EXTENDED_CONST,
        "simd" => WasmFeatures::SIMD,
        "threads" => WasmFeatures::THREADS,
        "multi-memory" => WasmFeatures::MULTI_MEMORY,
        "memory64" => WasmFeatures::MEMORY64,
        "exceptions" => WasmFeatures::EXCEPTIONS,
        "legacy-exceptions" => WasmFeatures::LEGACY_EXCEPTIONS,
        "relaxed-simd" => WasmFeatures::RELAXED_SIMD,
        "tail-call" => WasmFeatures::TAIL_CALL,
        "wide-arithmetic" => WasmFeatures::WIDE_ARITHMETIC,
        "function-references" => WasmFeatures::FUNCTION_REFERENCES,
        "gc" => WasmFeatures::GC,
        "component-model" => WasmFeatures::COMPONENT_MODEL,
        "custom-page-sizes" => WasmFeatures::CUSTOM_PAGE_SIZES,
        "memory-control" => WasmFeatures::MEMORY_CONTROL,
        "stack-switching" => WasmFeatures::STACK_SWITCHING,
        "shared-everything-threads" => WasmFeatures::SHARED_EVERYTHING_THREADS,
        _ => return None,
    })
}

/// The features wasmod accepts: floats and the enabled proposals (as wasmer's Cranelift
/// configuration validates them; `GC_TYPES` only makes funcref/externref types
/// expressible, as in wasmer).
pub(crate) fn accepted() -> WasmFeatures {
    let mut f = WasmFeatures::FLOATS | WasmFeatures::GC_TYPES;
    for p in wasmod_host_abi::features::PROPOSALS.iter().filter(|p| p.enabled) {
        f |= flag(p.name).expect("every proposal maps to a wasmparser flag (tested)");
    }
    f
}

/// The verdict on bytes that fail validation under [`accepted`].
pub(crate) enum Rejection {
    /// Valid once this disabled proposal is enabled.
    Needs(&'static wasmod_host_abi::features::Proposal),
    /// Valid only with several disabled proposals.
    NeedsSeveral,
    /// Not valid wasm at all.
    Invalid,
}

/// Works out why `bytes` failed: which disabled proposal (if any) would make it valid.
pub(crate) fn diagnose(bytes: &[u8]) -> Rejection {
    let base = accepted();
    let valid = |features: WasmFeatures| Validator::new_with_features(features).validate_all(bytes).is_ok();
    let disabled = wasmod_host_abi::features::PROPOSALS.iter().filter(|p| !p.enabled);
    for p in disabled.clone() {
        if valid(base | flag(p.name).expect("mapped")) {
            return Rejection::Needs(p);
        }
    }
    let all = disabled.fold(base, |acc, p| acc | flag(p.name).expect("mapped"));
    if valid(all) { Rejection::NeedsSeveral } else { Rejection::Invalid }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_proposal_maps_to_a_flag() {
        for p in wasmod_host_abi::features::PROPOSALS {
            assert!(flag(p.name).is_some(), "{}", p.name);
        }
    }

    #[test]
    fn accepted_set_matches_the_table() {
        let f = accepted();
        assert!(f.contains(WasmFeatures::BULK_MEMORY) && f.contains(WasmFeatures::SIMD));
        assert!(!f.contains(WasmFeatures::THREADS) && !f.contains(WasmFeatures::MULTI_MEMORY));
        assert!(!f.contains(WasmFeatures::RELAXED_SIMD) && !f.contains(WasmFeatures::MEMORY64));
    }
}
