//! Typed calls at the host edge: [`Activation::call_json`] and
//! [`Activation::call_postcard`] encode the input and decode the output the way the sdk
//! does on the guest's side (a `Json<T>` argument or result, or a plain serde type,
//! which crosses as postcard), so an embedder writes no encoding code.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Activation, Error};

/// The wire format of a typed call.
#[derive(Clone, Copy)]
enum Format {
    Json,
    Postcard,
}

impl Format {
    fn name(self) -> &'static str {
        match self {
            Format::Json => "JSON",
            Format::Postcard => "postcard",
        }
    }

    fn encode<T: Serialize + ?Sized>(self, value: &T) -> Result<Vec<u8>, String> {
        match self {
            Format::Json => serde_json::to_vec(value).map_err(|e| e.to_string()),
            Format::Postcard => wasmod_host_abi::wire::encode(value).map_err(|e| e.to_string()),
        }
    }

    fn decode<T: DeserializeOwned>(self, bytes: &[u8]) -> Result<T, String> {
        match self {
            Format::Json => serde_json::from_slice(bytes).map_err(|e| e.to_string()),
            Format::Postcard => wasmod_host_abi::wire::decode(bytes).map_err(|e| e.to_string()),
        }
    }
}

impl Activation {
    /// Calls a function whose input and output are JSON (in the sdk, a function taking
    /// and returning `Json<T>`): `input` is encoded with serde_json and the output
    /// decoded as `O`.
    ///
    /// # Errors
    /// As [`Activation::call`], and [`Error::Encoding`] when `input` cannot be encoded or
    /// the output does not decode as `O` (the guest's bytes are not an `O` in JSON).
    pub fn call_json<I: Serialize + ?Sized, O: DeserializeOwned>(
        &self,
        module: &str,
        function: &str,
        input: &I,
    ) -> Result<O, Error> {
        self.call_typed(Format::Json, module, function, input)
    }

    /// Calls a function whose input and output are serde types (in the sdk, a function
    /// taking and returning plain serde types, which cross the boundary as postcard).
    ///
    /// # Errors
    /// As [`Activation::call_json`].
    pub fn call_postcard<I: Serialize + ?Sized, O: DeserializeOwned>(
        &self,
        module: &str,
        function: &str,
        input: &I,
    ) -> Result<O, Error> {
        self.call_typed(Format::Postcard, module, function, input)
    }

    fn call_typed<I: Serialize + ?Sized, O: DeserializeOwned>(
        &self,
        format: Format,
        module: &str,
        function: &str,
        input: &I,
    ) -> Result<O, Error> {
        let encoding = |direction: &'static str, reason: String| Error::Encoding {
            module: module.to_owned(),
            function: function.to_owned(),
            format: format.name(),
            direction,
            reason,
        };
        let bytes = format.encode(input).map_err(|reason| encoding("input", reason))?;
        let outcome = self.call(module, function, &bytes)?;
        format.decode(&outcome.output).map_err(|reason| encoding("output", reason))
    }
}
