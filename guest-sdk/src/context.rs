//! `Context`: where a hook call comes from, including the webhook's `plugin_config`.

use serde::de::DeserializeOwned;

use crate::PluginError;

/// Where the call comes from. One plugin binary serves many webhooks, so per-webhook settings
/// live in `plugin_config`. Project secrets are never here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    project: String,
    webhook: String,
    send_id: String,
    latest_message: String,
    config_json: String,
}

/// `{}` config, empty ids: what the host sends when nothing is set. Handy in unit tests.
impl Default for Context {
    fn default() -> Self {
        Self {
            project: String::new(),
            webhook: String::new(),
            send_id: String::new(),
            latest_message: String::new(),
            config_json: "{}".to_string(),
        }
    }
}

impl Context {
    pub fn project(&self) -> &str {
        &self.project
    }

    pub fn webhook(&self) -> &str {
        &self.webhook
    }

    /// The conversation (session) id.
    pub fn send_id(&self) -> &str {
        &self.send_id
    }

    /// The user input that triggered the fallback.
    pub fn latest_message(&self) -> &str {
        &self.latest_message
    }

    /// The webhook's `plugin_config` as JSON text (`{}` when unset).
    pub fn config_json(&self) -> &str {
        &self.config_json
    }

    /// The webhook's `plugin_config` deserialized into `T`.
    ///
    /// An empty or `null` config gives `T::default()`; give `T` `#[serde(default)]` so that `{}`
    /// and partial configs fill in the rest. A config that does not fit `T` is an error naming
    /// the problem, which the bot builder sees in the test console.
    pub fn config<T: DeserializeOwned + Default>(&self) -> Result<T, PluginError> {
        let text = self.config_json.trim();
        if text.is_empty() || text == "null" {
            return Ok(T::default());
        }
        serde_json::from_str(text).map_err(|err| PluginError::new(format!("invalid plugin_config: {err}")))
    }

    pub fn with_project(mut self, project: impl Into<String>) -> Self {
        self.project = project.into();
        self
    }

    pub fn with_webhook(mut self, webhook: impl Into<String>) -> Self {
        self.webhook = webhook.into();
        self
    }

    pub fn with_send_id(mut self, send_id: impl Into<String>) -> Self {
        self.send_id = send_id.into();
        self
    }

    pub fn with_latest_message(mut self, latest_message: impl Into<String>) -> Self {
        self.latest_message = latest_message.into();
        self
    }

    /// Sets `plugin_config` from JSON text, as the host passes it.
    pub fn with_config(mut self, config_json: impl Into<String>) -> Self {
        self.config_json = config_json.into();
        self
    }

    pub(crate) fn from_parts(
        project: String,
        webhook: String,
        send_id: String,
        latest_message: String,
        config_json: String,
    ) -> Self {
        Self { project, webhook, send_id, latest_message, config_json }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, PartialEq, serde::Deserialize)]
    #[serde(default)]
    struct Config {
        field: Option<String>,
        depth: u32,
    }

    #[test]
    fn unset_configs_give_the_default() {
        for text in ["", "  ", "null", "{}"] {
            let config: Config = Context::default().with_config(text).config().unwrap();
            assert_eq!(config, Config::default(), "config {text:?}");
        }
    }

    #[test]
    fn config_fills_given_fields() {
        let ctx = Context::default().with_config(r#"{"field":"data.answer"}"#);
        let config: Config = ctx.config().unwrap();
        assert_eq!(config.field.as_deref(), Some("data.answer"));
        assert_eq!(config.depth, 0);
    }

    #[test]
    fn bad_config_says_so() {
        let ctx = Context::default().with_config(r#"{"depth":"deep"}"#);
        let err = ctx.config::<Config>().unwrap_err();
        assert!(err.message().starts_with("invalid plugin_config: "), "{err}");
    }

    #[test]
    fn builders_set_every_field() {
        let ctx =
            Context::default().with_project("p").with_webhook("w").with_send_id("s").with_latest_message("m");
        assert_eq!((ctx.project(), ctx.webhook(), ctx.send_id(), ctx.latest_message()), ("p", "w", "s", "m"));
        assert_eq!(ctx.config_json(), "{}");
    }
}
