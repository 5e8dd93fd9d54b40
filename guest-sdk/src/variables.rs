//! `Variables`: the named values a plugin hands to the webhook's templates.

use std::collections::BTreeMap;

/// Longest variable name, in bytes.
pub const MAX_VARIABLE_NAME_LEN: usize = 64;

/// Whether the host accepts `name` as a variable name: `[A-Za-z_][A-Za-z0-9_]{0,63}`. A `.` is
/// never part of one, so a template's `{secret.NAME}` cannot be confused with a variable.
/// The host applies the very same rule (the repository's tests check both agree).
pub fn is_valid_variable_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    match bytes.first() {
        Some(first) if first.is_ascii_alphabetic() || *first == b'_' => {
            bytes.len() <= MAX_VARIABLE_NAME_LEN
                && bytes.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_')
        }
        _ => false,
    }
}

/// Variables by name, kept sorted by name (as the host keeps them) so output is stable.
///
/// Names must pass [`is_valid_variable_name`]. When the hook returns, the host checks every
/// name, the count (256 by default) and the size (64 KiB by default, each variable counting
/// name + value + 16 bytes); past any, the call fails with the webhook's failure text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Variables {
    entries: BTreeMap<String, String>,
}

impl Variables {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `name`, returning the value it replaced.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>) -> Option<String> {
        self.entries.insert(name.into(), value.into())
    }

    /// Builder form of [`Variables::insert`], for one-expression returns.
    pub fn with(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.insert(name, value);
        self
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.entries.get(name).map(String::as_str)
    }

    /// Entries sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(name, value)| (name.as_str(), value.as_str()))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Variables {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Self { entries: iter.into_iter().map(|(k, v)| (k.into(), v.into())).collect() }
    }
}

impl<K: Into<String>, V: Into<String>> Extend<(K, V)> for Variables {
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        self.entries.extend(iter.into_iter().map(|(k, v)| (k.into(), v.into())));
    }
}

impl IntoIterator for Variables {
    type Item = (String, String);
    type IntoIter = std::collections::btree_map::IntoIter<String, String>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_replaces_and_iter_is_sorted_by_name() {
        let mut vars = Variables::new().with("b", "2").with("a", "1");
        assert_eq!(vars.insert("b", "3").as_deref(), Some("2"));
        assert_eq!(vars.iter().collect::<Vec<_>>(), vec![("a", "1"), ("b", "3")]);
        assert_eq!(vars.get("a"), Some("1"));
        assert_eq!(vars.get("c"), None);
        assert_eq!(vars.len(), 2);
        assert!(!vars.is_empty());
        assert!(Variables::new().is_empty());
    }

    #[test]
    fn variable_names() {
        let longest = "a".repeat(MAX_VARIABLE_NAME_LEN);
        for good in ["reply", "_", "A_1", longest.as_str()] {
            assert!(is_valid_variable_name(good), "{good}");
        }
        let too_long = "a".repeat(MAX_VARIABLE_NAME_LEN + 1);
        for bad in ["", "1a", "a.b", "a-b", "é", too_long.as_str()] {
            assert!(!is_valid_variable_name(bad), "{bad}");
        }
    }

    #[test]
    fn collects_from_pairs() {
        let vars: Variables = [("x", "1"), ("y", "2")].into_iter().collect();
        assert_eq!(
            vars.into_iter().collect::<Vec<_>>(),
            vec![("x".to_string(), "1".to_string()), ("y".to_string(), "2".to_string())]
        );
    }
}
