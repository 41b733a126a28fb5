//! `#[function]` leaves an ordinary, callable Rust function on native targets, so module
//! authors can unit-test their logic without a host.

use wasmod_sdk::{Error, Result, function};

#[function]
fn double(x: i64) -> Result<i64> {
    x.checked_mul(2).ok_or_else(|| Error::msg("overflow"))
}

#[function]
fn upper(input: &[u8]) -> Vec<u8> {
    input.to_ascii_uppercase()
}

#[function]
fn nothing() {}

#[test]
fn functions_stay_callable() {
    assert_eq!(double(21).unwrap(), 42);
    assert_eq!(double(i64::MAX).unwrap_err().message(), "overflow");
    assert_eq!(upper(b"abc"), b"ABC");
    nothing();
}

#[test]
#[should_panic(expected = "only exists inside a wasm guest")]
fn host_calls_outside_a_guest_say_why_they_fail() {
    wasmod_sdk::log::info!("hello");
}
