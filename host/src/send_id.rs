//! `SendId`: a conversation's id as the channel gives it (DESIGN.md "send ids").
//!
//! Channels choose their own ids: a Slack user (`U024BE7LH`), a WhatsApp number
//! (`whatsapp:+14155238886`), an e-mail address, an upper-case UUID. So a send id is any UTF-8
//! text of 1 to 256 bytes without control characters; it is encoded wherever it lands (templates
//! percent-encode it in URLs and escape it in JSON), never restricted to the resource-id grammar.

use std::fmt;

/// The longest send id, in bytes.
pub const MAX_SEND_ID_BYTES: usize = 256;

/// Why a text is not a send id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendIdError {
    #[error("send_id must not be empty")]
    Empty,
    #[error("send_id is {0} bytes long; at most {MAX_SEND_ID_BYTES} are allowed")]
    TooLong(usize),
    /// Controls are refused because a send id reaches logs, headers and consoles, where a newline
    /// or an escape sequence could forge lines or hide text.
    #[error("send_id contains the control character {0:?} at byte {1}")]
    Control(char, usize),
}

/// A validated send id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SendId(String);

impl SendId {
    pub fn parse(text: impl Into<String>) -> Result<Self, SendIdError> {
        let text = text.into();
        if text.is_empty() {
            return Err(SendIdError::Empty);
        }
        if text.len() > MAX_SEND_ID_BYTES {
            return Err(SendIdError::TooLong(text.len()));
        }
        if let Some((at, c)) = text.char_indices().find(|(_, c)| c.is_control()) {
            return Err(SendIdError::Control(c, at));
        }
        Ok(Self(text))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl AsRef<str> for SendId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SendId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_ids_are_send_ids() {
        for id in [
            "U024BE7LH",
            "whatsapp:+14155238886",
            "user@example.com",
            "6F9619FF-8B86-D011-B42D-00CF4FC964FF",
            "a/b c%2F é 会話",
            "x",
            &"y".repeat(MAX_SEND_ID_BYTES),
        ] {
            assert_eq!(SendId::parse(id).map(|s| s.into_string()), Ok(id.to_string()));
        }
    }

    #[test]
    fn empty_long_and_control_ids_are_refused() {
        assert_eq!(SendId::parse(""), Err(SendIdError::Empty));
        assert_eq!(SendId::parse("y".repeat(257)), Err(SendIdError::TooLong(257)));
        // 86 three-byte characters: 258 bytes although only 86 characters.
        assert_eq!(SendId::parse("会".repeat(86)), Err(SendIdError::TooLong(258)));
        assert_eq!(SendId::parse("a\nb"), Err(SendIdError::Control('\n', 1)));
        assert_eq!(SendId::parse("a\u{1b}[31m"), Err(SendIdError::Control('\u{1b}', 1)));
        assert_eq!(SendId::parse("\u{7f}"), Err(SendIdError::Control('\u{7f}', 0)));
        assert_eq!(SendId::parse("a\u{85}"), Err(SendIdError::Control('\u{85}', 1)));
        assert_eq!(SendId::parse("\0"), Err(SendIdError::Control('\0', 0)));
    }
}
