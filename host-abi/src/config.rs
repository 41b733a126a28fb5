//! Config values as they travel between the application, the host and guests.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

/// The type of a config key, as a module declares it in its manifest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ConfigType {
    /// `true` or `false`.
    Bool,
    /// A signed 64-bit integer.
    Int,
    /// A 64-bit float. An integer literal is accepted where a float is expected.
    Float,
    /// A UTF-8 string.
    String,
}

impl fmt::Display for ConfigType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConfigType::Bool => "Bool",
            ConfigType::Int => "Int",
            ConfigType::Float => "Float",
            ConfigType::String => "String",
        })
    }
}

/// The value of a config key, one variant per [`ConfigType`].
///
/// In human-readable formats (the RON of manifests and application config) a value is
/// written as a bare literal: `true`, `42`, `1.5`, `"EUR"`. In binary formats (the
/// postcard wire encoding between host and guest) it is a tagged enum.
#[derive(Clone, Debug, PartialEq)]
pub enum ConfigValue {
    /// The value of a `Bool` key.
    Bool(bool),
    /// The value of an `Int` key. A `Float` key accepts it too ([`coerce`](ConfigValue::coerce)
    /// turns it into a `Float`).
    Int(i64),
    /// The value of a `Float` key.
    Float(f64),
    /// The value of a `String` key.
    String(String),
}

impl ConfigValue {
    /// The type of this value.
    pub fn type_of(&self) -> ConfigType {
        match self {
            ConfigValue::Bool(_) => ConfigType::Bool,
            ConfigValue::Int(_) => ConfigType::Int,
            ConfigValue::Float(_) => ConfigType::Float,
            ConfigValue::String(_) => ConfigType::String,
        }
    }

    /// Whether this value may be stored under a key of type `ty`. An `Int` fits a
    /// `Float` key (written `10` where `10.0` was meant); nothing else converts.
    pub fn fits(&self, ty: ConfigType) -> bool {
        self.type_of() == ty || (ty == ConfigType::Float && matches!(self, ConfigValue::Int(_)))
    }

    /// Converts the value to the key's type, if it [`fits`](Self::fits).
    pub fn coerce(self, ty: ConfigType) -> Option<ConfigValue> {
        match (self, ty) {
            (ConfigValue::Int(i), ConfigType::Float) => Some(ConfigValue::Float(i as f64)),
            (v, ty) if v.type_of() == ty => Some(v),
            _ => None,
        }
    }
}

impl fmt::Display for ConfigValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigValue::Bool(b) => write!(f, "{b}"),
            ConfigValue::Int(i) => write!(f, "{i}"),
            ConfigValue::Float(x) => write!(f, "{x:?}"),
            ConfigValue::String(s) => write!(f, "{s:?}"),
        }
    }
}

macro_rules! value_from {
    ($($ty:ty => $variant:ident),*) => {
        $(impl From<$ty> for ConfigValue {
            fn from(v: $ty) -> Self {
                ConfigValue::$variant(v.into())
            }
        })*
    };
}
value_from!(bool => Bool, i64 => Int, i32 => Int, u32 => Int, f64 => Float, String => String, &str => String);

/// The tagged form used by binary encodings.
#[derive(Serialize, Deserialize)]
enum Tagged {
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
}

impl Serialize for ConfigValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            match self {
                ConfigValue::Bool(b) => serializer.serialize_bool(*b),
                ConfigValue::Int(i) => serializer.serialize_i64(*i),
                ConfigValue::Float(x) => serializer.serialize_f64(*x),
                ConfigValue::String(s) => serializer.serialize_str(s),
            }
        } else {
            match self.clone() {
                ConfigValue::Bool(b) => Tagged::Bool(b),
                ConfigValue::Int(i) => Tagged::Int(i),
                ConfigValue::Float(x) => Tagged::Float(x),
                ConfigValue::String(s) => Tagged::String(s),
            }
            .serialize(serializer)
        }
    }
}

impl<'de> Deserialize<'de> for ConfigValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            deserializer.deserialize_any(LiteralVisitor)
        } else {
            Ok(match Tagged::deserialize(deserializer)? {
                Tagged::Bool(b) => ConfigValue::Bool(b),
                Tagged::Int(i) => ConfigValue::Int(i),
                Tagged::Float(x) => ConfigValue::Float(x),
                Tagged::String(s) => ConfigValue::String(s),
            })
        }
    }
}

struct LiteralVisitor;

impl Visitor<'_> for LiteralVisitor {
    type Value = ConfigValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a boolean, an integer, a float or a string")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<ConfigValue, E> {
        Ok(ConfigValue::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<ConfigValue, E> {
        Ok(ConfigValue::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<ConfigValue, E> {
        i64::try_from(v)
            .map(ConfigValue::Int)
            .map_err(|_| E::custom(format!("integer {v} does not fit in a signed 64-bit Int")))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<ConfigValue, E> {
        i64::try_from(v)
            .map(ConfigValue::Int)
            .map_err(|_| E::custom(format!("integer {v} does not fit in a signed 64-bit Int")))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<ConfigValue, E> {
        i64::try_from(v)
            .map(ConfigValue::Int)
            .map_err(|_| E::custom(format!("integer {v} does not fit in a signed 64-bit Int")))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<ConfigValue, E> {
        Ok(ConfigValue::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<ConfigValue, E> {
        Ok(ConfigValue::String(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<ConfigValue, E> {
        Ok(ConfigValue::String(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ron_uses_bare_literals() {
        let values = vec![
            ConfigValue::Bool(true),
            ConfigValue::Int(-3),
            ConfigValue::Float(1.5),
            ConfigValue::String("EUR".into()),
        ];
        let text = ron::to_string(&values).unwrap();
        assert_eq!(text, r#"[true,-3,1.5,"EUR"]"#);
        let back: Vec<ConfigValue> = ron::from_str(&text).unwrap();
        assert_eq!(back, values);
    }

    #[test]
    fn postcard_is_tagged_and_round_trips() {
        for v in [
            ConfigValue::Bool(false),
            ConfigValue::Int(i64::MIN),
            ConfigValue::Float(-0.25),
            ConfigValue::String("é".into()),
        ] {
            let bytes = postcard::to_allocvec(&v).unwrap();
            let back: ConfigValue = postcard::from_bytes(&bytes).unwrap();
            assert_eq!(back, v);
        }
    }

    #[test]
    fn int_fits_float_but_not_the_reverse() {
        assert!(ConfigValue::Int(3).fits(ConfigType::Float));
        assert_eq!(ConfigValue::Int(3).coerce(ConfigType::Float), Some(ConfigValue::Float(3.0)));
        assert!(!ConfigValue::Float(3.0).fits(ConfigType::Int));
        assert!(!ConfigValue::String("1".into()).fits(ConfigType::Int));
        assert_eq!(ConfigValue::Bool(true).coerce(ConfigType::String), None);
    }

    #[test]
    fn huge_unsigned_is_rejected() {
        let r: Result<ConfigValue, _> = ron::from_str("18446744073709551615");
        assert!(r.is_err());
    }
}
