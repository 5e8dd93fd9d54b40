//! The operator's table of settings (`docs/operations.md`, "Configuration") against the code:
//! every config key and every environment variable `config` reads has its row, and no row names
//! a key that does not exist.

use std::collections::BTreeSet;

use serde::de::{Error as _, Visitor};

use super::FileConfig;

const OPERATIONS: &str = include_str!("../../docs/operations.md");
const CONFIG_SOURCE: &str = include_str!("config.rs");

/// A deserializer that only records the field names a struct asks for: the config file's keys,
/// as serde (and so the file parser) knows them.
#[derive(Default)]
struct FieldNames(Option<&'static [&'static str]>);

impl<'de> serde::Deserializer<'de> for &mut FieldNames {
    type Error = serde::de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Self::Error> {
        Err(Self::Error::custom("only a struct is probed"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0 = Some(fields);
        Err(Self::Error::custom("probed"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option
        unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
    }
}

fn config_keys() -> BTreeSet<&'static str> {
    let mut probe = FieldNames::default();
    let _ = <FileConfig as serde::Deserialize>::deserialize(&mut probe);
    probe.0.expect("FileConfig is a struct").iter().copied().collect()
}

/// The "Configuration" table's rows: (key, environment variable), backticks removed; `None` for
/// a row without a key (an environment-only variable).
fn table_rows() -> Vec<(Option<String>, String)> {
    let section = OPERATIONS.split("\n## Configuration\n").nth(1).expect("a Configuration section");
    let section = section.split("\n## ").next().unwrap_or(section);
    let cell = |text: &str| text.trim().trim_matches('`').to_string();
    section
        .lines()
        .skip_while(|line| !line.starts_with('|'))
        .take_while(|line| line.starts_with('|'))
        .skip(2) // the header and its separator
        .map(|line| {
            let cells: Vec<&str> = line.split('|').collect();
            assert!(cells.len() >= 5, "a row of four columns: {line}");
            let key = cell(cells[1]);
            let key = (key != "—").then_some(key);
            (key, cell(cells[2]))
        })
        .collect()
}

#[test]
fn every_config_key_has_its_row_with_its_environment_variable() {
    let rows = table_rows();
    let documented: BTreeSet<&str> = rows.iter().filter_map(|(key, _)| key.as_deref()).collect();
    assert_eq!(documented.len(), rows.iter().filter(|(key, _)| key.is_some()).count(), "a key twice");
    let keys = config_keys();
    let missing: Vec<_> = keys.difference(&documented).collect();
    assert!(missing.is_empty(), "config keys missing from docs/operations.md's table: {missing:?}");
    let stale: Vec<_> = documented.difference(&keys).collect();
    assert!(stale.is_empty(), "rows of docs/operations.md's table naming no config key: {stale:?}");
    for (key, env) in &rows {
        if let Some(key) = key {
            assert_eq!(*env, format!("FALLBACK_{}", key.to_uppercase()), "the row of {key}");
        }
    }
}

#[test]
fn every_environment_variable_config_reads_is_in_the_table() {
    let documented: BTreeSet<String> = table_rows().into_iter().map(|(_, env)| env).collect();
    // Every string literal that opens with `FALLBACK_` and is a whole variable name.
    let read: BTreeSet<String> = CONFIG_SOURCE
        .split("\"FALLBACK_")
        .skip(1)
        .filter_map(|rest| rest.split_once('"').map(|(name, _)| name))
        .filter(|name| {
            !name.is_empty() && name.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        })
        .map(|name| format!("FALLBACK_{name}"))
        .collect();
    assert!(read.len() > 40, "the probe found the variables: {read:?}");
    let missing: Vec<_> = read.difference(&documented).collect();
    assert!(missing.is_empty(), "environment variables missing from docs/operations.md: {missing:?}");
}
