//! The wire encoding of typed values: [postcard](https://docs.rs/postcard).
//!
//! postcard is compact (varints, no field names), deterministic, `no_std`-friendly and
//! well kept, which suits a boundary crossed on every call. Both the sdk (for typed
//! function inputs and outputs, config values, kv key lists) and the host use these two
//! functions, so the encoding is defined once.

use serde::{Serialize, de::DeserializeOwned};

/// An encoding or decoding failure.
pub type WireError = postcard::Error;

/// Encodes `value` as postcard bytes; the inverse of [`decode`]. It fails only where
/// postcard cannot represent the value (a sequence of unknown length) or its `Serialize`
/// implementation fails.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, WireError> {
    postcard::to_allocvec(value)
}

/// Decodes a value; trailing bytes are an error.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, WireError> {
    let (value, rest) = postcard::take_from_bytes(bytes)?;
    if rest.is_empty() { Ok(value) } else { Err(postcard::Error::DeserializeBadEncoding) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_trailing_bytes() {
        let keys: Vec<Vec<u8>> = vec![b"a".to_vec(), b"bc".to_vec()];
        let mut bytes = encode(&keys).unwrap();
        assert_eq!(decode::<Vec<Vec<u8>>>(&bytes).unwrap(), keys);
        bytes.push(0);
        assert!(decode::<Vec<Vec<u8>>>(&bytes).is_err());
    }
}
