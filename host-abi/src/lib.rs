//! The contract between a wasmod host and its guest modules.
//!
//! This crate is the single source of truth for everything both sides must agree on:
//!
//! - [`abi`]: ABI v1, the calling convention (bytes in, bytes out, who allocates, how
//!   errors come back), the exports every function file has, and their signatures;
//! - [`groups`]: the standard host-function groups (`log`, `config`, `clock`, `random`,
//!   `kv`, `modules`) with the exact wasm signature of every function, and the types an
//!   embedder uses to declare its own groups;
//! - [`names`]: the syntax of module, function, group, subsystem and config-key names;
//! - [`config`]: config values and types;
//! - [`features`]: the wasm proposals wasmod accepts (validator and runtime use the same set);
//! - [`wire`]: the byte encoding (postcard) of values that cross the boundary.
//!
//! The validator checks function files against these tables, the runtime links host
//! functions from them, and the guest sdk is tested against them. Nobody else writes a
//! signature down. The crate is small and builds for `wasm32-unknown-unknown`.
#![deny(missing_docs)]

pub mod abi;
pub mod config;
pub mod features;
pub mod groups;
pub mod names;
pub mod types;
pub mod wire;

pub use config::{ConfigType, ConfigValue};
pub use groups::{GroupDef, HostFunctionDef};
pub use types::{Signature, ValType};
