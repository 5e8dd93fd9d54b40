//! `PluginError`: a plugin's refusal, shown in the test console and the host's logs.

/// Why a hook refused. The host answers the webhook's failure text to the end user and shows
/// this message only to the bot builder (test console, logs), so make it say what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PluginError {
    message: String,
}

impl PluginError {
    pub fn new(message: impl Into<String>) -> Self {
        Self { message: message.into() }
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

/// Lets `?` work on `serde_json` calls; the message keeps serde's line and column.
impl From<serde_json::Error> for PluginError {
    fn from(err: serde_json::Error) -> Self {
        Self::new(format!("JSON error: {err}"))
    }
}

impl From<String> for PluginError {
    fn from(message: String) -> Self {
        Self::new(message)
    }
}

impl From<&str> for PluginError {
    fn from(message: &str) -> Self {
        Self::new(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_errors_say_what_and_where() {
        let err: PluginError = serde_json::from_str::<serde_json::Value>("{nope").unwrap_err().into();
        assert!(err.message().starts_with("JSON error: "), "{err}");
        assert!(err.message().contains("line 1 column 2"), "{err}");
    }

    #[test]
    fn display_is_the_message() {
        assert_eq!(PluginError::new("hostile refuses").to_string(), "hostile refuses");
    }
}
