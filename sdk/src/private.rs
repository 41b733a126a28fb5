//! Glue used by the code `#[wasmod_sdk::function]` generates, and the ABI exports every
//! function file carries. Not a public API.

use std::sync::Mutex;

use serde::Serialize;
use serde::de::DeserializeOwned;
use wasmod_host_abi::abi::{EntryResult, MAX_REGION_LEN, Region};

use crate::Error;

/// The message of the last panic, for the host to read after the trap.
static PANIC_MESSAGE: Mutex<Vec<u8>> = Mutex::new(Vec::new());

fn install_panic_hook() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let payload = info.payload();
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panic with a non-string payload".to_string());
            let text = match info.location() {
                Some(at) => format!("{message} (at {}:{}:{})", at.file(), at.line(), at.column()),
                None => message,
            };
            if let Ok(mut slot) = PANIC_MESSAGE.lock() {
                *slot = text.into_bytes();
            }
        }));
    });
}

/// Hands a byte buffer to the host: leaks it and returns its region.
pub(crate) fn leak(bytes: Vec<u8>) -> Region {
    let bytes = bytes.into_boxed_slice();
    let len = bytes.len() as u32;
    let ptr = Box::leak(bytes).as_ptr() as usize as u32;
    Region { ptr, len }
}

/// Takes ownership of bytes the host placed in guest memory with `wasmod_alloc`.
///
/// # Safety
/// `(ptr, len)` must come from the host per ABI v1: either `(0, 0)` or a block of
/// exactly `len` bytes allocated by `wasmod_alloc` and not owned by anyone else.
pub(crate) unsafe fn take(ptr: u32, len: u32) -> Vec<u8> {
    if len == 0 {
        return Vec::new();
    }
    // SAFETY: per the contract, `wasmod_alloc(len)` allocated this block with the global
    // allocator as `[u8; len]`, so it is a valid Vec buffer of capacity `len`.
    unsafe { Vec::from_raw_parts(ptr as usize as *mut u8, len as usize, len as usize) }
}

/// Runs an entry point: installs the panic hook, takes the input, runs `f`, packs the
/// output or the error.
pub fn run_entry(ptr: i32, len: i32, f: impl FnOnce(Vec<u8>) -> Result<Vec<u8>, Error>) -> i64 {
    install_panic_hook();
    // SAFETY: the host passes the input per ABI v1.
    let input = unsafe { take(ptr as u32, len as u32) };
    let result = match f(input) {
        Ok(out) if out.len() > MAX_REGION_LEN as usize => {
            Err(Error::msg(format!("output of {} bytes is larger than the ABI allows", out.len())))
        }
        other => other,
    };
    match result {
        Ok(out) => EntryResult::Ok(leak(out)).pack(),
        Err(e) => EntryResult::Err(leak(e.into_message().into_bytes())).pack(),
    }
}

/// Decodes the postcard input of entry point `function` as `T`; the error names the
/// function and the type.
pub fn decode_input<T: DeserializeOwned>(function: &str, bytes: &[u8]) -> Result<T, Error> {
    wasmod_host_abi::wire::decode(bytes).map_err(|e| {
        Error::msg(format!("`{function}`: the input is not a postcard-encoded `{}`: {e}", std::any::type_name::<T>()))
    })
}

/// Encodes the output of entry point `function` with postcard; the error names the
/// function.
pub fn encode_output<T: Serialize + ?Sized>(function: &str, value: &T) -> Result<Vec<u8>, Error> {
    wasmod_host_abi::wire::encode(value).map_err(|e| Error::msg(format!("`{function}`: cannot encode the output: {e}")))
}

/// The guest allocator the host calls (ABI v1). Returns 0 when `len` is not positive or
/// the allocation fails.
#[cfg(target_arch = "wasm32")]
#[unsafe(no_mangle)]
pub extern "C" fn wasmod_alloc(len: i32) -> i32 {
    if len <= 0 {
        return 0;
    }
    let Ok(layout) = std::alloc::Layout::array::<u8>(len as usize) else { return 0 };
    // SAFETY: the layout has a non-zero size.
    unsafe { std::alloc::alloc(layout) as usize as i32 }
}

/// Marks the file as speaking ABI v1.
#[cfg(target_arch = "wasm32")]
#[unsafe(no_mangle)]
pub extern "C" fn __wasmod_abi_v1() {}

/// The region of the last panic message (empty if none); the host calls it after a trap.
#[cfg(target_arch = "wasm32")]
#[unsafe(no_mangle)]
pub extern "C" fn __wasmod_panic_message() -> i64 {
    let Ok(slot) = PANIC_MESSAGE.lock() else { return 0 };
    Region { ptr: slot.as_ptr() as usize as u32, len: slot.len() as u32 }.pack()
}

/// Interprets the `i64` a bytes-returning host function returned: a region the host
/// filled through `wasmod_alloc`, or a negative status.
pub fn take_region(word: i64) -> Result<Vec<u8>, i64> {
    match Region::unpack(word) {
        // SAFETY: the host allocated the region with `wasmod_alloc` per ABI v1.
        Some(r) => Ok(unsafe { take(r.ptr, r.len) }),
        None => Err(word),
    }
}

/// Splits a byte slice into the `(ptr, len)` pair host functions take.
pub fn raw(bytes: &[u8]) -> (i32, i32) {
    (bytes.as_ptr() as usize as i32, bytes.len() as i32)
}

/// An error for a negative status returned by `group.function`.
pub fn status_error(group: &str, function: &str, status: i64) -> Error {
    Error::msg(format!(
        "host call `{group}.{function}` failed: {} ({status})",
        wasmod_host_abi::abi::status::describe(status)
    ))
}

/// Calls a host function of the bytes-call shape (`[i32, i32] -> [i64]`: input bytes in,
/// region or status out), used by [`import_group!`](crate::import_group).
pub fn bytes_call(
    group: &str,
    function: &str,
    input: &[u8],
    f: impl FnOnce(i32, i32) -> i64,
) -> Result<Vec<u8>, Error> {
    let (ptr, len) = raw(input);
    take_region(f(ptr, len)).map_err(|status| status_error(group, function, status))
}

pub use serde;

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    struct Order {
        sku: String,
        quantity: u32,
    }

    #[test]
    fn typed_input_and_output_round_trip() {
        let order = Order { sku: "a-1".into(), quantity: 3 };
        let bytes = encode_output("f", &order).unwrap();
        assert_eq!(decode_input::<Order>("f", &bytes).unwrap(), order);
    }

    #[test]
    fn undecodable_input_names_the_function_and_type() {
        let err = decode_input::<Order>("place", &[0xff, 0xff]).unwrap_err();
        assert!(err.message().contains("`place`") && err.message().contains("Order"), "{err}");
        let err = decode_input::<u8>("f", &[1, 2]).unwrap_err();
        assert!(err.message().contains("postcard"), "{err}");
    }

    #[test]
    fn negative_words_are_statuses() {
        assert_eq!(take_region(-1), Err(-1));
        assert_eq!(take_region(Region { ptr: 0, len: 0 }.pack()), Ok(Vec::new()));
        let e = status_error("kv", "get", -2);
        assert_eq!(e.message(), "host call `kv.get` failed: denied (-2)");
    }

    #[test]
    fn entry_packs_output_and_errors() {
        let ok = run_entry(0, 0, |input| {
            assert!(input.is_empty());
            Ok(b"out".to_vec())
        });
        let EntryResult::Ok(r) = EntryResult::unpack(ok) else { panic!("expected ok") };
        assert_eq!(r.len, 3);
        let err = run_entry(0, 0, |_| Err(Error::msg("boom")));
        assert!(matches!(EntryResult::unpack(err), EntryResult::Err(Region { len: 4, .. })));
    }
}
