//! Application config: the values an application gives to its active modules, checked
//! against the schemas the modules declare, and the record of who set each value.
//!
//! The config file is RON, a map of module name to a map of key to value:
//!
//! ```ron
//! {
//!     "acme/pricing": { "currency": "EUR", "vat_percent": 19.0 },
//!     "acme/audit": { "retention_days": 90 },
//! }
//! ```

use std::collections::BTreeMap;
use std::fmt;

use wasmod_host_abi::{ConfigType, ConfigValue};
use wasmod_manifest::{ConfigKey, Manifest, ModuleName};

/// Config values the application sets, by module and key.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AppConfig {
    values: BTreeMap<String, BTreeMap<String, ConfigValue>>,
}

/// A config file that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("config file:{line}:{column}: {message}")]
pub struct ConfigFileError {
    /// The line where the error starts, counting from 1.
    pub line: usize,
    /// The column where the error starts, in characters, counting from 1.
    pub column: usize,
    /// What the parser expected.
    pub message: String,
}

impl AppConfig {
    /// An empty config, to fill with [`AppConfig::set`].
    pub fn new() -> AppConfig {
        AppConfig::default()
    }

    /// Parses a config file (see the module docs).
    pub fn from_ron(text: &str) -> Result<AppConfig, ConfigFileError> {
        let values = ron::Options::default().with_recursion_limit(8).from_str(text).map_err(|e| ConfigFileError {
            line: e.span.start.line,
            column: e.span.start.col,
            message: e.code.to_string(),
        })?;
        Ok(AppConfig { values })
    }

    /// Sets `key` of module `module` (a name, no version) to `value`, replacing an earlier one.
    pub fn set(&mut self, module: &str, key: &str, value: impl Into<ConfigValue>) -> &mut Self {
        self.values.entry(module.to_owned()).or_default().insert(key.to_owned(), value.into());
        self
    }
}

/// Who set a config value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Provenance {
    /// The module's declared default.
    Default,
    /// The application's config.
    Application,
    /// A module's `init` hook.
    Init {
        /// The module whose hook wrote it.
        module: ModuleName,
    },
}

impl fmt::Display for Provenance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Provenance::Default => f.write_str("default"),
            Provenance::Application => f.write_str("application config"),
            Provenance::Init { module } => write!(f, "init of {module}"),
        }
    }
}

/// What is wrong with one application config value.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigProblem {
    /// Values for a module that is not installed at all (a typo, most likely). Values
    /// for installed modules that are not part of this activation are simply unused.
    #[error("config for `{module}`, which is not installed (active: {active})")]
    UnknownModule {
        /// The module named in the config.
        module: String,
        /// The names of the activation's modules, comma-separated.
        active: String,
    },
    /// A key the module does not declare.
    #[error("`{module}` has no config key `{key}` (declared: {declared})")]
    UnknownKey {
        /// The module name, as the config gives it.
        module: String,
        /// The key the config sets.
        key: String,
        /// The keys its manifest declares, comma-separated, or `none`.
        declared: String,
    },
    /// A value of the wrong type.
    #[error("`{module}`.`{key}` must be a {expected}, got {found}")]
    WrongType {
        /// The module name, as the config gives it.
        module: String,
        /// The key whose value is wrong.
        key: String,
        /// The type the module's manifest declares for the key.
        expected: ConfigType,
        /// The value the config gives, which does not convert to `expected`.
        found: ConfigValue,
    },
    /// A required key without value.
    #[error("`{module}`.`{key}` is required and has no value{}", doc.as_ref().map(|d| format!(" ({d})")).unwrap_or_default())]
    MissingRequired {
        /// The name of the active module that declares the key.
        module: String,
        /// The required key, which has no default and no value in the config.
        key: String,
        /// The key's documentation.
        doc: Option<String>,
    },
}

/// The merged config of an activation: every active module's keys with their values
/// and provenance.
#[derive(Clone, Debug, Default)]
pub(crate) struct ConfigState {
    schema: BTreeMap<(ModuleName, String), ConfigKey>,
    values: BTreeMap<(ModuleName, String), (ConfigValue, Provenance)>,
}

impl ConfigState {
    /// Merges the schemas of `modules` and checks `app` against them, reporting every
    /// problem. `installed` names every installed module: config for one of those that
    /// is not active is ignored.
    pub(crate) fn merge<'a>(
        modules: impl IntoIterator<Item = &'a Manifest>,
        app: &AppConfig,
        installed: &std::collections::BTreeSet<String>,
    ) -> Result<ConfigState, Vec<ConfigProblem>> {
        let mut state = ConfigState::default();
        let mut active: BTreeMap<&str, &Manifest> = BTreeMap::new();
        for m in modules {
            active.insert(m.name.as_str(), m);
            for (key, def) in &m.config {
                state.schema.insert((m.name.clone(), key.clone()), def.clone());
                if let Some(default) = &def.default {
                    state.values.insert((m.name.clone(), key.clone()), (default.clone(), Provenance::Default));
                }
            }
        }
        let mut problems = Vec::new();
        for (module, values) in &app.values {
            let Some(manifest) = active.get(module.as_str()) else {
                if !installed.contains(module) {
                    problems.push(ConfigProblem::UnknownModule {
                        module: module.clone(),
                        active: active.keys().copied().collect::<Vec<_>>().join(", "),
                    });
                }
                continue;
            };
            for (key, value) in values {
                let Some(def) = manifest.config.get(key) else {
                    problems.push(ConfigProblem::UnknownKey {
                        module: module.clone(),
                        key: key.clone(),
                        declared: if manifest.config.is_empty() {
                            "none".into()
                        } else {
                            manifest.config.keys().cloned().collect::<Vec<_>>().join(", ")
                        },
                    });
                    continue;
                };
                match value.clone().coerce(def.ty) {
                    Some(v) => {
                        state.values.insert((manifest.name.clone(), key.clone()), (v, Provenance::Application));
                    }
                    None => problems.push(ConfigProblem::WrongType {
                        module: module.clone(),
                        key: key.clone(),
                        expected: def.ty,
                        found: value.clone(),
                    }),
                }
            }
        }
        for ((module, key), def) in &state.schema {
            if def.required && !state.values.contains_key(&(module.clone(), key.clone())) {
                problems.push(ConfigProblem::MissingRequired {
                    module: module.to_string(),
                    key: key.clone(),
                    doc: def.doc.clone(),
                });
            }
        }
        if problems.is_empty() { Ok(state) } else { Err(problems) }
    }

    pub(crate) fn get(&self, module: &str, key: &str) -> Option<&(ConfigValue, Provenance)> {
        self.values.iter().find(|((m, k), _)| m.as_str() == module && k == key).map(|(_, v)| v)
    }

    /// Writes a key of `module` (from its init hook). The key must be declared by that
    /// module and the value must fit its type.
    pub(crate) fn set_from_init(&mut self, module: &ModuleName, key: &str, value: ConfigValue) -> Result<(), String> {
        let def = self
            .schema
            .get(&(module.clone(), key.to_owned()))
            .ok_or_else(|| format!("`{module}` does not declare config key `{key}`"))?;
        let value = value.clone().coerce(def.ty).ok_or_else(|| format!("`{key}` is a {}, got {value}", def.ty))?;
        self.values.insert((module.clone(), key.to_owned()), (value, Provenance::Init { module: module.clone() }));
        Ok(())
    }

    /// Every value with its provenance.
    pub(crate) fn entries(&self) -> impl Iterator<Item = (&ModuleName, &str, &ConfigValue, &Provenance)> {
        self.values.iter().map(|((m, k), (v, p))| (m, k.as_str(), v, p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(text: &str) -> Manifest {
        Manifest::from_ron(text).unwrap()
    }

    #[test]
    fn every_problem_at_once() {
        let pricing = manifest(
            r#"(name: "acme/pricing", version: "1.0.0", config: {
                "currency": (type: String, required: true, doc: "ISO 4217"),
                "vat": (type: Float, default: 20.0),
            })"#,
        );
        let app = AppConfig::from_ron(
            r#"{ "acme/pricing": { "vat": "high", "colour": 1 }, "acme/ghost": { "x": 1 }, "acme/idle": { "y": 2 } }"#,
        )
        .unwrap();
        let installed = ["acme/pricing", "acme/idle"].iter().map(|s| s.to_string()).collect();
        let problems = ConfigState::merge([&pricing], &app, &installed).unwrap_err();
        assert_eq!(problems.len(), 4, "{problems:#?}");
        assert!(matches!(problems[0], ConfigProblem::UnknownModule { ref module, .. } if module == "acme/ghost"));
        assert!(matches!(problems[1], ConfigProblem::UnknownKey { ref key, .. } if key == "colour"));
        assert!(matches!(problems[2], ConfigProblem::WrongType { ref key, .. } if key == "vat"));
        assert!(matches!(problems[3], ConfigProblem::MissingRequired { ref key, .. } if key == "currency"));
    }

    #[test]
    fn provenance_of_defaults_application_and_init() {
        let m = manifest(
            r#"(name: "a/b", version: "1.0.0", config: {
                "x": (type: Int, default: 1), "y": (type: Int), "z": (type: Float),
            })"#,
        );
        let mut app = AppConfig::new();
        app.set("a/b", "y", 5);
        let mut state = ConfigState::merge([&m], &app, &Default::default()).unwrap();
        assert_eq!(state.get("a/b", "x"), Some(&(ConfigValue::Int(1), Provenance::Default)));
        assert_eq!(state.get("a/b", "y"), Some(&(ConfigValue::Int(5), Provenance::Application)));
        state.set_from_init(&m.name, "z", ConfigValue::Int(2)).unwrap();
        assert_eq!(
            state.get("a/b", "z"),
            Some(&(ConfigValue::Float(2.0), Provenance::Init { module: m.name.clone() }))
        );
        assert!(state.set_from_init(&m.name, "nope", ConfigValue::Int(2)).is_err());
        assert!(state.set_from_init(&m.name, "x", ConfigValue::String("s".into())).is_err());
    }
}
