//! See `wasmod_tests::fuzz::host_survives`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    wasmod_tests::fuzz::host_survives(data);
});
