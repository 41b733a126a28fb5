//! `modules@1`: call a function of a module this module depends on. The callee runs in
//! its own fresh instance with its own grants; calling a module that is not a declared
//! dependency is denied.
//!
//! ```no_run
//! use wasmod_sdk::modules;
//! let receipt: String = modules::call_typed("acme/audit", "record", &("order", 42u64))?;
//! # Ok::<(), wasmod_sdk::Error>(())
//! ```

use serde::Serialize;
use serde::de::DeserializeOwned;
use wasmod_host_abi::abi::{CALL_ERR, CALL_OK};

use crate::__private::{raw, status_error, take_region};
use crate::{Error, Result, sys};

/// Calls `function` of `module` with raw input bytes; returns its output bytes, or its
/// error.
pub fn call(module: &str, function: &str, input: &[u8]) -> Result<Vec<u8>> {
    let (mp, ml) = raw(module.as_bytes());
    let (fp, fl) = raw(function.as_bytes());
    let (ip, il) = raw(input);
    // SAFETY: the pointers describe live slices in guest memory.
    let word = unsafe { sys::modules::call(mp, ml, fp, fl, ip, il) };
    let mut envelope = take_region(word)
        .map_err(|s| status_error("modules", "call", s).context(format_args!("calling {module}.{function}")))?;
    match envelope.first().copied() {
        Some(CALL_OK) => {
            envelope.remove(0);
            Ok(envelope)
        }
        Some(CALL_ERR) => {
            Err(Error::msg(format!("{module}.{function} failed: {}", String::from_utf8_lossy(&envelope[1..]))))
        }
        _ => Err(Error::msg(format!("{module}.{function}: malformed reply from the host"))),
    }
}

/// Calls a function whose input and output are postcard-encoded values.
pub fn call_typed<I: Serialize + ?Sized, O: DeserializeOwned>(module: &str, function: &str, input: &I) -> Result<O> {
    let bytes = wasmod_host_abi::wire::encode(input).map_err(Error::msg)?;
    let out = call(module, function, &bytes)?;
    wasmod_host_abi::wire::decode(&out).map_err(|e| Error::msg(format!("{module}.{function}: undecodable output: {e}")))
}
