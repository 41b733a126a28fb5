//! `kv@1`: a persistent key-value store. Each module has its own namespace: keys
//! written by one module are invisible to every other.
//!
//! ```no_run
//! use wasmod_sdk::kv;
//! kv::set("greeting", "hello")?;
//! assert_eq!(kv::get("greeting")?.as_deref(), Some(&b"hello"[..]));
//! kv::set_value("count", &3u32)?;
//! let count: Option<u32> = kv::get_value("count")?;
//! # Ok::<(), wasmod_sdk::Error>(())
//! ```

use serde::Serialize;
use serde::de::DeserializeOwned;
use wasmod_host_abi::abi::status;

use crate::__private::{raw, status_error, take_region};
use crate::{Error, Result, sys};

/// Reads a value; `None` if the key is absent.
pub fn get(key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>> {
    let (kp, kl) = raw(key.as_ref());
    // SAFETY: the pointers describe live slices in guest memory.
    match take_region(unsafe { sys::kv::get(kp, kl) }) {
        Ok(v) => Ok(Some(v)),
        Err(s) if s == i64::from(status::NOT_FOUND) => Ok(None),
        Err(s) => Err(status_error("kv", "get", s)),
    }
}

/// Writes `value` under `key`, replacing any previous value. The host bounds keys,
/// values and the module's total data; a write past a bound is refused whole (an error
/// for the status `LIMIT`).
pub fn set(key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<()> {
    let (kp, kl) = raw(key.as_ref());
    let (vp, vl) = raw(value.as_ref());
    // SAFETY: the pointers describe live slices in guest memory.
    match unsafe { sys::kv::set(kp, kl, vp, vl) } {
        0 => Ok(()),
        s => Err(status_error("kv", "set", i64::from(s))),
    }
}

/// Deletes a key; returns whether it existed.
pub fn delete(key: impl AsRef<[u8]>) -> Result<bool> {
    let (kp, kl) = raw(key.as_ref());
    // SAFETY: the pointers describe live slices in guest memory.
    match unsafe { sys::kv::delete(kp, kl) } {
        0 => Ok(false),
        1 => Ok(true),
        s => Err(status_error("kv", "delete", i64::from(s))),
    }
}

/// The keys that start with `prefix`, in byte order.
pub fn list(prefix: impl AsRef<[u8]>) -> Result<Vec<Vec<u8>>> {
    let (pp, pl) = raw(prefix.as_ref());
    // SAFETY: the pointers describe live slices in guest memory.
    let bytes = take_region(unsafe { sys::kv::list(pp, pl) }).map_err(|s| status_error("kv", "list", s))?;
    wasmod_host_abi::wire::decode(&bytes).map_err(|e| Error::msg(format!("kv.list: undecodable key list: {e}")))
}

/// Reads a value written by [`set_value`], decoded from postcard as `T`; `None` if the
/// key is absent, an error if its bytes are not a `T`.
pub fn get_value<T: DeserializeOwned>(key: impl AsRef<[u8]>) -> Result<Option<T>> {
    get(key)?
        .map(|bytes| wasmod_host_abi::wire::decode(&bytes).map_err(|e| Error::msg(format!("kv value: {e}"))))
        .transpose()
}

/// Writes `value` under `key`, encoded with postcard, for [`get_value`] to read back;
/// bounded like [`set`].
pub fn set_value<T: Serialize + ?Sized>(key: impl AsRef<[u8]>, value: &T) -> Result<()> {
    set(key, wasmod_host_abi::wire::encode(value).map_err(Error::msg)?)
}
