//! The path parameters of the API, described once: the handlers read them with axum's `Path`,
//! and their annotations name these types in `params(..)`.
//!
//! Documentation only: nothing constructs them.
#![allow(dead_code)]

use utoipa::IntoParams;

/// `/v1/projects/{project}…`
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ProjectPath {
    /// The project's id.
    #[param(pattern = r"^[a-z0-9][a-z0-9_-]{0,63}$", example = "demo")]
    project: String,
}

/// `/v1/projects/{project}/intents/{intent}`
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct IntentPath {
    /// The project's id.
    #[param(pattern = r"^[a-z0-9][a-z0-9_-]{0,63}$", example = "demo")]
    project: String,
    /// The intent's id.
    #[param(pattern = r"^[a-z0-9][a-z0-9_-]{0,63}$", example = "greeting")]
    intent: String,
}

/// `/v1/projects/{project}/webhooks/{webhook}…`
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct WebhookPath {
    /// The project's id.
    #[param(pattern = r"^[a-z0-9][a-z0-9_-]{0,63}$", example = "demo")]
    project: String,
    /// The webhook's id.
    #[param(pattern = r"^[a-z0-9][a-z0-9_-]{0,63}$", example = "answer")]
    webhook: String,
}

/// `/v1/projects/{project}/webhooks/{webhook}/plugin/versions/{version}`
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct PluginVersionPath {
    /// The project's id.
    #[param(pattern = r"^[a-z0-9][a-z0-9_-]{0,63}$", example = "demo")]
    project: String,
    /// The webhook's id.
    #[param(pattern = r"^[a-z0-9][a-z0-9_-]{0,63}$", example = "answer")]
    webhook: String,
    /// A kept version's number, as `GET …/plugin` lists them.
    #[param(pattern = r"^[1-9][0-9]{0,9}$", example = "1")]
    version: String,
}

/// `/v1/projects/{project}/secrets/{name}`
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct SecretPath {
    /// The project's id.
    #[param(pattern = r"^[a-z0-9][a-z0-9_-]{0,63}$", example = "demo")]
    project: String,
    /// The secret's name, as templates write it in `{secret.NAME}`.
    #[param(pattern = r"^[a-z0-9][a-z0-9_-]{0,63}$", example = "upstream_key")]
    name: String,
}

/// `/v1/projects/{project}/conversations/{send_id}`
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ConversationPath {
    /// The project's id.
    #[param(pattern = r"^[a-z0-9][a-z0-9_-]{0,63}$", example = "demo")]
    project: String,
    /// The conversation's send id as the channel gave it (1 to 256 bytes of UTF-8, no control
    /// characters), percent-encoded in the path: `whatsapp%3A%2B14155238886`.
    #[param(min_length = 1, example = "whatsapp:+14155238886")]
    send_id: String,
}

/// `/console/{file}`
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ConsoleFile {
    /// A file of the console: `app.js` and the other modules, `style.css`, `favicon.svg`.
    #[param(example = "app.js")]
    file: String,
}
