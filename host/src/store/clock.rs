//! The store's times: RFC 3339 text for what the API shows, Unix milliseconds for what expiry
//! compares; one definition for both backends.

use std::time::{SystemTime, UNIX_EPOCH};

use time::OffsetDateTime;
use time::macros::format_description;

use super::StoreError;

/// Now, as RFC 3339 UTC with milliseconds: fixed width, so stored timestamps sort as text.
pub(super) fn now() -> Result<String, StoreError> {
    let format = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    Ok(OffsetDateTime::now_utc().format(format)?)
}

/// Milliseconds since the Unix epoch (negative before it, saturating far out).
pub(super) fn unix_ms(at: SystemTime) -> i64 {
    match at.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_millis()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_millis()).map(|ms| -ms).unwrap_or(i64::MIN),
    }
}
