//! See `wasmod_tests::fuzz::warm_reset`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    wasmod_tests::fuzz::warm_reset(data);
});
