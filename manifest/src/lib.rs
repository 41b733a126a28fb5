//! wasmod module manifests and package archives.
//!
//! A wasmod module is a zip archive (see [`archive`]) holding `module.ron`, the
//! manifest described here, and one wasm file per function.
//!
//! # The manifest
//!
//! `module.ron` is [RON](https://github.com/ron-rs/ron). Optional values are written
//! bare (`description: "..."`, not `Some("...")`); unknown fields are errors. A complete
//! example, with every field:
//!
//! ```
//! # use wasmod_manifest::Manifest;
//! let source = r#"
//! (
//!     // `namespace/name`: lowercase ASCII letters, digits, `-`, `_`, `.`.
//!     name: "acme/orders",
//!     // A semver version.
//!     version: "1.4.0",
//!     // Optional: one paragraph for people.
//!     description: "Takes orders and records them.",
//!     // Optional: module name -> semver requirement.
//!     dependencies: {
//!         "acme/audit": "^1.0",
//!         "acme/pricing": ">=2.1, <4",
//!     },
//!     // Optional: the config keys this module contributes to the application's config.
//!     config: {
//!         // `type`: Bool, Int, Float or String.
//!         // `default`: optional, a literal of that type.
//!         // `required`: optional, default false; the application must set the key.
//!         // `doc`: optional.
//!         "max-items": (type: Int, default: 100, doc: "Largest order accepted."),
//!         "currency": (type: String, required: true),
//!         "strict": (type: Bool, default: false),
//!     },
//!     // Function name (also its wasm export) -> function.
//!     functions: {
//!         "place_order": (
//!             // Optional: the wasm file in the archive; default `<name>.wasm`.
//!             file: "place_order.wasm",
//!             // The host subsystem function it implements, or the hook `init`.
//!             implements: "orders.place",
//!             // Optional: the host-function groups it imports from.
//!             groups: ["log", "kv", "modules"],
//!         ),
//!         "init": (implements: "init", groups: ["config"]),
//!     },
//! )
//! "#;
//! let manifest = Manifest::from_ron(source).unwrap();
//! assert_eq!(manifest.name.as_str(), "acme/orders");
//! assert_eq!(manifest.functions["init"].file, "init.wasm");
//! // Writing and reading back gives the same manifest.
//! assert_eq!(Manifest::from_ron(&manifest.to_ron()).unwrap(), manifest);
//! ```
//!
//! | field | required | meaning |
//! |---|---|---|
//! | `name` | yes | the module's name, `namespace/name` |
//! | `version` | yes | semver version of this release |
//! | `description` | no | free text |
//! | `dependencies` | no | map of module name to semver requirement (`^1.2`, `~1.2.3`, `>=1, <3`, `*`); a module may not depend on itself |
//! | `config` | no | map of config key to `(type, default, required, doc)`; a default must be of the declared type (an integer is accepted for a `Float`) |
//! | `functions` | no | map of function name to `(file, implements, groups)` |
//! | `functions.*.file` | no | relative, normalised path ending in `.wasm`; each function has its own file |
//! | `functions.*.implements` | yes | dotted lowercase subsystem name, or `init` (at most one function) |
//! | `functions.*.groups` | no | dotted lowercase group names, each once |
//!
//! Parsing stops at the first syntax error ([`ManifestError::Syntax`], with line and
//! column); after that every semantic rule is checked and every problem is reported at
//! once ([`ManifestError::Invalid`]), each a [`ProblemKind`] with the field path, its
//! position and a hint.
#![deny(missing_docs)]

pub mod archive;
mod check;
mod error;
mod locate;
mod model;
mod parse;

pub use archive::{ArchiveError, ArchiveLimits, Package, read_package, write_package};
pub use error::{ManifestError, Problem, ProblemKind, TextPosition};
pub use locate::locate_function_field;
pub use model::{ConfigKey, Function, InvalidModuleName, Manifest, ModuleName};
pub use semver::{Version, VersionReq};
pub use wasmod_host_abi::names::NameError;
pub use wasmod_host_abi::{ConfigType, ConfigValue};
