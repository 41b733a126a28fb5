//! See `wasmod_tests::fuzz::validate`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    wasmod_tests::fuzz::validate(data);
});
