//! `Reply` and `Button`: the messages a plugin's `format` answers with.

/// A quick-reply button: `label` is shown, `payload` comes back as the user's next message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Button {
    pub label: String,
    pub payload: String,
}

impl Button {
    pub fn new(label: impl Into<String>, payload: impl Into<String>) -> Self {
        Self { label: label.into(), payload: payload.into() }
    }
}

/// One message of the bot's answer: `Reply::text("Pick one").button("Yes", "yes")`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub text: String,
    pub buttons: Vec<Button>,
}

impl Reply {
    pub fn text(text: impl Into<String>) -> Self {
        Self { text: text.into(), buttons: Vec::new() }
    }

    /// Adds a button after those already there.
    pub fn button(mut self, label: impl Into<String>, payload: impl Into<String>) -> Self {
        self.buttons.push(Button::new(label, payload));
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buttons_keep_their_order() {
        let reply = Reply::text("pick").button("A", "a").button("B", "b");
        assert_eq!(reply.text, "pick");
        assert_eq!(reply.buttons, vec![Button::new("A", "a"), Button::new("B", "b")]);
    }
}
