//! From RON text to a checked [`Manifest`], and back. This is the syntax phase: the text
//! must be RON of the manifest's shape (`RawManifest`); the semantic rules are
//! `check.rs`'s.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use ron::extensions::Extensions;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use wasmod_host_abi::{ConfigType, ConfigValue};

use crate::check::Checker;
use crate::error::{ManifestError, TextPosition};
use crate::model::Manifest;

/// How deeply RON values may nest. A manifest needs four levels; anything deeper is
/// hostile input and is refused before it can exhaust the stack.
const RECURSION_LIMIT: usize = 16;

fn ron_options() -> ron::Options {
    ron::Options::default().with_default_extension(Extensions::IMPLICIT_SOME).with_recursion_limit(RECURSION_LIMIT)
}

/// `module.ron` as written: the manifest's shape, with names, versions and paths still
/// unchecked strings.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename = "Manifest")]
pub(crate) struct RawManifest {
    pub(crate) name: String,
    pub(crate) version: String,
    #[serde(default)]
    pub(crate) description: Option<String>,
    #[serde(default, deserialize_with = "unique_map")]
    pub(crate) dependencies: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "unique_map")]
    pub(crate) config: BTreeMap<String, RawConfigKey>,
    #[serde(default, deserialize_with = "unique_map")]
    pub(crate) functions: BTreeMap<String, RawFunction>,
}

/// A config key as written; its default not yet checked against its type.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename = "ConfigKey")]
pub(crate) struct RawConfigKey {
    #[serde(rename = "type")]
    pub(crate) ty: ConfigType,
    #[serde(default)]
    pub(crate) default: Option<ConfigValue>,
    #[serde(default)]
    pub(crate) required: bool,
    #[serde(default)]
    pub(crate) doc: Option<String>,
}

/// A function as written; `file` may be left out (it defaults to `<name>.wasm`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename = "Function")]
pub(crate) struct RawFunction {
    #[serde(default)]
    pub(crate) file: Option<String>,
    pub(crate) implements: String,
    #[serde(default)]
    pub(crate) groups: Vec<String>,
}

/// Deserializes a map, refusing a key that appears twice (serde's `BTreeMap` keeps
/// the last silently, which would hide a mistake).
fn unique_map<'de, D, V>(deserializer: D) -> Result<BTreeMap<String, V>, D::Error>
where
    D: Deserializer<'de>,
    V: Deserialize<'de>,
{
    struct UniqueMap<V>(PhantomData<V>);
    impl<'de, V: Deserialize<'de>> Visitor<'de> for UniqueMap<V> {
        type Value = BTreeMap<String, V>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a map with string keys")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
            let mut map = BTreeMap::new();
            while let Some(key) = access.next_key::<String>()? {
                if map.contains_key(&key) {
                    return Err(de::Error::custom(format!("key `{key}` is given twice")));
                }
                let value = access.next_value()?;
                map.insert(key, value);
            }
            Ok(map)
        }
    }
    deserializer.deserialize_map(UniqueMap(PhantomData))
}

impl Manifest {
    /// Parses and checks `module.ron`. A syntax error stops at the first one; semantic
    /// problems are all collected.
    pub fn from_ron(source: &str) -> Result<Manifest, ManifestError> {
        let raw: RawManifest = ron_options().from_str(source).map_err(|e| ManifestError::Syntax {
            at: TextPosition { line: e.span.start.line, column: e.span.start.col },
            message: e.code.to_string(),
        })?;
        Checker::new(source).check(raw)
    }

    /// Writes the manifest as pretty RON that [`Manifest::from_ron`] reads back to an
    /// equal value.
    pub fn to_ron(&self) -> String {
        let pretty = ron::ser::PrettyConfig::new().struct_names(false).indentor("    ").new_line("\n");
        ron_options()
            .to_string_pretty(self, pretty)
            .expect("a manifest always serialises: all keys are strings and floats are finite")
    }
}
