//! The JSON columns both backends keep (intent examples and responses, turn replies), with
//! errors that name the column.

use super::StoreError;

pub(super) fn to_json<T: serde::Serialize>(value: &T, what: &'static str) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|source| StoreError::Json { what, source })
}

pub(super) fn from_json<T: serde::de::DeserializeOwned>(
    text: &str,
    what: &'static str,
) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|source| StoreError::Json { what, source })
}
