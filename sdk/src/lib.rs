//! Write wasmod module functions in ordinary Rust.
//!
//! A wasmod module is a package of functions, each compiled to its own wasm file and
//! called by the host in a fresh instance per call. With this crate you write one
//! ordinary Rust crate (a `cdylib`), mark functions with [`#[function]`](function), and
//! `wasmod pack` splits the build into one file per function, each with only the code and
//! host imports that function uses.
//!
//! # A complete module
//!
//! `Cargo.toml`:
//!
//! ```toml
//! [package]
//! name = "greeter"
//! version = "0.1.0"
//! edition = "2024"
//!
//! [lib]
//! crate-type = ["cdylib"]
//!
//! [dependencies]
//! wasmod-sdk = "0.1"
//! serde = { version = "1", features = ["derive"] }
//! ```
//!
//! `module.ron`:
//!
//! ```ron
//! (
//!     name: "acme/greeter",
//!     version: "0.1.0",
//!     config: { "greeting": (type: String, default: "Hello") },
//!     functions: {
//!         "greet": (implements: "greeter.greet", groups: ["config", "log"]),
//!         "count": (implements: "greeter.count", groups: ["kv"]),
//!         "shout": (implements: "greeter.shout"),
//!     },
//! )
//! ```
//!
//! `src/lib.rs`:
//!
//! ```no_run
//! use serde::{Deserialize, Serialize};
//! use wasmod_sdk::{Result, bail, config, function, kv, log};
//!
//! #[derive(Deserialize)]
//! pub struct Person { name: String }
//!
//! #[derive(Serialize)]
//! pub struct Greeting { text: String }
//!
//! /// Typed input and output (postcard-encoded), config and log.
//! #[function]
//! pub fn greet(person: Person) -> Result<Greeting> {
//!     if person.name.is_empty() {
//!         bail!("a person needs a name");
//!     }
//!     let greeting: String = config::get("greeting")?.unwrap_or_else(|| "Hello".into());
//!     log::info!("greeting {}", person.name);
//!     Ok(Greeting { text: format!("{greeting}, {}!", person.name) })
//! }
//!
//! /// No input; the output is a `u64`. Uses the module's private key-value store.
//! #[function]
//! pub fn count() -> Result<u64> {
//!     let n = kv::get_value::<u64>("count")?.unwrap_or(0) + 1;
//!     kv::set_value("count", &n)?;
//!     Ok(n)
//! }
//!
//! /// Raw bytes in and out; no host calls at all, so its file imports nothing.
//! #[function]
//! pub fn shout(input: Vec<u8>) -> Vec<u8> {
//!     input.to_ascii_uppercase()
//! }
//! ```
//!
//! Build and pack:
//!
//! ```sh
//! cargo build --release --target wasm32-unknown-unknown
//! wasmod pack --manifest module.ron --wasm target/wasm32-unknown-unknown/release/greeter.wasm -o greeter.zip
//! ```
//!
//! # Inputs and outputs
//!
//! A function takes zero or one parameter and returns a value or a `Result`:
//!
//! | Rust type | bytes on the wire |
//! |---|---|
//! | no parameter / `()` | input ignored / empty output |
//! | `Vec<u8>`, or `&[u8]` as input | the bytes themselves |
//! | [`Json<T>`](Json) (feature `json`, default) | the JSON text of `T` |
//! | any other `serde` type | [postcard](https://docs.rs/postcard) encoding |
//!
//! postcard is compact, deterministic and well kept; hosts and other languages read it
//! with any postcard implementation (it is also how [`modules::call_typed`] and
//! [`kv::get_value`] encode). The error type can be anything that converts into
//! [`Error`] (every `std::error::Error` does); it reaches the caller as a message.
//!
//! # Panics
//!
//! A panic aborts the call: the host receives an error carrying the panic message and
//! its location, and the instance is discarded. Nothing leaks into the next call, which
//! runs in a fresh instance anyway.
//!
//! # Host groups
//!
//! The standard groups have typed bindings: [`log`], [`config`], [`clock`], [`random`],
//! [`kv`], [`modules`]. A function may only use the groups its manifest entry lists
//! (and the host allows); `wasmod validate` tells you if one is missing. Groups an
//! embedder defines are bound with [`import_group!`], without `extern` blocks.
//!
//! # Memory
//!
//! Every call starts from the module's initial state, so whatever a call allocates is
//! gone at the next. On wasm32 the crate installs a global allocator (feature
//! `allocator`, on by default): dlmalloc, first over the part of the initial memory the
//! linker left free above `__heap_base`, and only then over memory it grows. A function
//! that allocates little never grows its memory. Turn the feature off to install your own
//! `#[global_allocator]`.
#![deny(missing_docs)]

pub mod clock;
pub mod config;
mod error;
#[cfg(all(target_arch = "wasm32", feature = "allocator"))]
mod heap;
pub mod kv;
pub mod log;
pub mod modules;
pub mod random;
mod sys;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

pub use error::{Error, Result};

/// A JSON-encoded input or output (feature `json`, on by default): a parameter or result
/// of type `Json<T>` crosses the boundary as the JSON text of `T`, which makes a
/// function easy to call from a shell (`wasmod call m f --data '{"a":1}'`).
///
/// ```no_run
/// use wasmod_sdk::{Json, Result, function};
/// #[derive(serde::Deserialize)]
/// pub struct Order { sku: String, quantity: u32 }
/// #[derive(serde::Serialize)]
/// pub struct Receipt { total_cents: u64 }
///
/// #[function]
/// pub fn place(Json(order): Json<Order>) -> Result<Json<Receipt>> {
///     Ok(Json(Receipt { total_cents: u64::from(order.quantity) * 250 }))
/// }
/// ```
#[cfg(feature = "json")]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Json<T>(pub T);

#[cfg(feature = "json")]
impl<T: serde::de::DeserializeOwned> Json<T> {
    #[doc(hidden)]
    pub fn __decode(function: &str, bytes: &[u8]) -> Result<Self> {
        serde_json::from_slice(bytes).map(Json).map_err(|e| {
            Error::msg(format!("`{function}`: the input is not JSON of `{}`: {e}", std::any::type_name::<T>()))
        })
    }
}

#[cfg(feature = "json")]
impl<T: serde::Serialize> Json<T> {
    #[doc(hidden)]
    pub fn __encode(&self, function: &str) -> Result<Vec<u8>> {
        serde_json::to_vec(&self.0)
            .map_err(|e| Error::msg(format!("`{function}`: cannot encode the output as JSON: {e}")))
    }
}
pub use wasmod_host_abi::ConfigValue;

/// Exports a function as a wasmod module function.
///
/// The function takes at most one parameter and returns a value or a `Result<T, E>`
/// with `E: Into<Error>`; see [the crate docs](crate#inputs-and-outputs) for how the
/// types map to bytes. The export has the function's name, which must be the name used
/// in `module.ron`.
///
/// ```no_run
/// #[wasmod_sdk::function]
/// fn add(pair: (i64, i64)) -> wasmod_sdk::Result<i64> {
///     pair.0.checked_add(pair.1).ok_or_else(|| wasmod_sdk::Error::msg("overflow"))
/// }
/// ```
pub use wasmod_sdk_macros::function;

/// Binds the functions of a host-function group an embedder defines.
///
/// Embedder groups use the *bytes-call* shape for every function: input bytes in,
/// output bytes out (wasm signature `[i32, i32] -> [i64]`, see
/// `wasmod_host_abi::abi::BYTES_CALL_SIGNATURE`). For each listed function the macro
/// generates `name(&[u8]) -> Result<Vec<u8>>` and a postcard-typed
/// `name_typed(&I) -> Result<O>`, imported from `wasmod:<group>@<version>`:
///
/// ```no_run
/// wasmod_sdk::import_group! {
///     pub mod inventory = "acme.inventory" @ 1 { stock, reserve }
/// }
///
/// # fn main() -> wasmod_sdk::Result<()> {
/// let level: u32 = inventory::stock_typed(&"sku-42")?;
/// let raw: Vec<u8> = inventory::reserve(b"sku-42:1")?;
/// # Ok(()) }
/// ```
pub use wasmod_sdk_macros::import_group;
