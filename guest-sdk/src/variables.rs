//! `Variables`: the named values a plugin hands to the webhook's templates.

use std::collections::BTreeMap;

/// Variables by name, kept sorted by name (as the host keeps them) so output is stable.
///
/// Names should match `[A-Za-z_][A-Za-z0-9_.-]*`; the host checks them, and the total size,
/// when the hook returns.
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
    fn collects_from_pairs() {
        let vars: Variables = [("x", "1"), ("y", "2")].into_iter().collect();
        assert_eq!(
            vars.into_iter().collect::<Vec<_>>(),
            vec![("x".to_string(), "1".to_string()), ("y".to_string(), "2".to_string())]
        );
    }
}
