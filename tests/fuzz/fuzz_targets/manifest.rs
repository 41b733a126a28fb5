//! See `wasmod_tests::fuzz::manifest`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    wasmod_tests::fuzz::manifest(data);
});
