//! `VarName`: the one grammar of variable names, shared by templates, webhook validation and the
//! names a plugin returns.
//!
//! A name is `[A-Za-z_][A-Za-z0-9_]{0,63}`. It never contains a `.`, so a template's
//! `{secret.NAME}` can never be mistaken for a variable: the secret namespace is unambiguous by
//! construction, whatever a plugin or a mapping defines. The guest SDK states the same rule
//! (`guest_sdk::is_valid_variable_name`); the tests crate checks that both agree.

use std::borrow::Borrow;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A valid variable name. Built only through `parse`, so holding one proves the grammar holds.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VarName(String);

/// Why a text is not a variable name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VarNameError {
    #[error("a variable name cannot be empty")]
    Empty,
    #[error("a variable name is at most {} bytes", VarName::MAX_LEN)]
    TooLong,
    #[error("a variable name starts with a letter or `_`")]
    BadStart,
    #[error("a variable name holds only letters, digits and `_`")]
    BadCharacter,
}

impl VarName {
    /// Longest name, in bytes (every valid name is ASCII).
    pub const MAX_LEN: usize = 64;

    pub fn parse(name: &str) -> Result<Self, VarNameError> {
        Self::check(name).map(|()| Self(name.to_owned()))
    }

    /// True when `name` follows the grammar; no allocation.
    pub fn is_valid(name: &str) -> bool {
        Self::check(name).is_ok()
    }

    fn check(name: &str) -> Result<(), VarNameError> {
        let bytes = name.as_bytes();
        let Some(first) = bytes.first() else { return Err(VarNameError::Empty) };
        if bytes.len() > Self::MAX_LEN {
            return Err(VarNameError::TooLong);
        }
        if !(first.is_ascii_alphabetic() || *first == b'_') {
            return Err(VarNameError::BadStart);
        }
        if !bytes.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_') {
            return Err(VarNameError::BadCharacter);
        }
        Ok(())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for VarName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for VarName {
    type Err = VarNameError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::parse(name)
    }
}

impl AsRef<str> for VarName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for VarName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl Serialize for VarName {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for VarName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Self::check(&name).map_err(serde::de::Error::custom)?;
        Ok(Self(name))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_grammar() {
        let longest = "a".repeat(VarName::MAX_LEN);
        for good in ["a", "_", "reply", "A_1", "_x9", longest.as_str()] {
            assert!(VarName::is_valid(good), "{good}");
            assert_eq!(VarName::parse(good).unwrap().as_str(), good);
        }
        let too_long = "a".repeat(VarName::MAX_LEN + 1);
        for (bad, why) in [
            ("", VarNameError::Empty),
            (too_long.as_str(), VarNameError::TooLong),
            ("1a", VarNameError::BadStart),
            ("-a", VarNameError::BadStart),
            ("a.b", VarNameError::BadCharacter),
            ("secret.key", VarNameError::BadCharacter),
            ("a-b", VarNameError::BadCharacter),
            ("a b", VarNameError::BadCharacter),
            ("é", VarNameError::BadStart),
            ("aé", VarNameError::BadCharacter),
            ("a\n", VarNameError::BadCharacter),
        ] {
            assert_eq!(VarName::parse(bad), Err(why), "{bad:?}");
        }
    }

    #[test]
    fn serde_checks_the_grammar() {
        let name: VarName = serde_json::from_str("\"card_2\"").unwrap();
        assert_eq!(serde_json::to_string(&name).unwrap(), "\"card_2\"");
        assert!(serde_json::from_str::<VarName>("\"a.b\"").is_err());
    }
}
