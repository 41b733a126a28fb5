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

#[derive(serde::Deserialize, serde::Serialize, Debug, PartialEq)]
struct Pair {
    a: i64,
    b: i64,
}

#[function]
fn sum(wasmod_sdk::Json(p): wasmod_sdk::Json<Pair>) -> Result<wasmod_sdk::Json<i64>> {
    Ok(wasmod_sdk::Json(p.a + p.b))
}

#[test]
fn json_wrapper_decodes_and_encodes() {
    let wasmod_sdk::Json(p) = wasmod_sdk::Json::<Pair>::__decode("sum", br#"{"a":1,"b":2}"#).unwrap();
    assert_eq!(sum(wasmod_sdk::Json(p)).unwrap(), wasmod_sdk::Json(3));
    assert_eq!(wasmod_sdk::Json(3).__encode("sum").unwrap(), b"3");
    let err = wasmod_sdk::Json::<Pair>::__decode("sum", b"{").unwrap_err();
    assert!(err.message().contains("`sum`") && err.message().contains("JSON"), "{err}");
}

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
