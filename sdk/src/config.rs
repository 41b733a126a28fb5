//! `config@1`: read the module's config and its dependencies' config; write the
//! module's own keys during `init`.
//!
//! ```no_run
//! use wasmod_sdk::config;
//! let currency: String = config::get("currency")?.unwrap_or_else(|| "EUR".into());
//! let audit_level: Option<i64> = config::get_from("acme/audit", "level")?;
//! # Ok::<(), wasmod_sdk::Error>(())
//! ```

pub use wasmod_host_abi::ConfigValue;
use wasmod_host_abi::abi::status;

use crate::__private::{raw, status_error, take_region};
use crate::{Error, Result, sys};

/// A Rust type a config value can be read as.
pub trait FromConfig: Sized {
    /// Converts, or says what was found instead.
    fn from_config(value: ConfigValue) -> std::result::Result<Self, ConfigValue>;
}

impl FromConfig for ConfigValue {
    fn from_config(value: ConfigValue) -> std::result::Result<Self, ConfigValue> {
        Ok(value)
    }
}

macro_rules! from_config {
    ($ty:ty, $variant:ident) => {
        impl FromConfig for $ty {
            fn from_config(value: ConfigValue) -> std::result::Result<Self, ConfigValue> {
                match value {
                    ConfigValue::$variant(v) => Ok(v),
                    other => Err(other),
                }
            }
        }
    };
}
from_config!(bool, Bool);
from_config!(i64, Int);
from_config!(f64, Float);
from_config!(String, String);

fn decode<T: FromConfig>(key: &str, word: i64, function: &str) -> Result<Option<T>> {
    let bytes = match take_region(word) {
        Ok(bytes) => bytes,
        Err(s) if s == i64::from(status::NOT_FOUND) => return Ok(None),
        Err(s) => return Err(status_error("config", function, s)),
    };
    let value: ConfigValue = wasmod_host_abi::wire::decode(&bytes)
        .map_err(|e| Error::msg(format!("config key `{key}`: undecodable value: {e}")))?;
    T::from_config(value)
        .map(Some)
        .map_err(|found| Error::msg(format!("config key `{key}` is {found:?}, not a {}", std::any::type_name::<T>())))
}

/// Reads one of this module's config keys; `None` if it has no value.
pub fn get<T: FromConfig>(key: &str) -> Result<Option<T>> {
    let (kp, kl) = raw(key.as_bytes());
    // SAFETY: the pointers describe live slices in guest memory.
    let word = unsafe { sys::config::get(kp, kl) };
    decode(key, word, "get")
}

/// Reads a config key of a module this module depends on; `None` if it has no value.
/// Reading any other module's config is denied.
pub fn get_from<T: FromConfig>(module: &str, key: &str) -> Result<Option<T>> {
    let (mp, ml) = raw(module.as_bytes());
    let (kp, kl) = raw(key.as_bytes());
    // SAFETY: the pointers describe live slices in guest memory.
    let word = unsafe { sys::config::get_from(mp, ml, kp, kl) };
    decode(key, word, "get_from")
}

/// Writes one of this module's declared config keys. Only allowed while the module's
/// `init` hook runs; the host remembers which module wrote it.
pub fn set(key: &str, value: impl Into<ConfigValue>) -> Result<()> {
    let bytes = wasmod_host_abi::wire::encode(&value.into()).map_err(Error::msg)?;
    let (kp, kl) = raw(key.as_bytes());
    let (vp, vl) = raw(&bytes);
    // SAFETY: the pointers describe live slices in guest memory.
    match i64::from(unsafe { sys::config::set(kp, kl, vp, vl) }) {
        0 => Ok(()),
        s => Err(status_error("config", "set", s).context(format_args!("config key `{key}`"))),
    }
}
