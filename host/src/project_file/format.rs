//! The project file's grammar: one versioned TOML document whose resources are the API's own
//! serde types (`IntentBody`, `WebhookSpec`, `Fallback`), so the file and the API cannot drift.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::api::IntentBody;
use crate::store::Fallback;
use crate::webhook::WebhookSpec;

/// The format this build reads and writes; a file of another version is refused, not guessed at.
pub const VERSION: u32 = 1;

/// Said at the top of every exported file.
const HEADER: &str = "# A Fallback Host project (format version 1): `fallback-host apply FILE` makes a project match it.\n\
                      # Secrets are listed by name only; set their values with PUT /v1/projects/{p}/secrets/{name}.\n\n";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectFile {
    pub version: u32,
    /// The project's id; `apply --project` may aim the file at another one.
    pub project: String,
    pub name: String,
    pub match_threshold: f64,
    /// The names of the secrets the webhooks use. Never values: the file is meant for git.
    #[serde(default)]
    pub secrets: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<Fallback>,
    #[serde(default)]
    pub intents: BTreeMap<String, IntentBody>,
    /// Each exactly as `PUT …/webhooks/{w}` takes it.
    #[serde(default)]
    pub webhooks: BTreeMap<String, WebhookSpec>,
    /// Webhook id -> the plugin it runs.
    #[serde(default)]
    pub plugins: BTreeMap<String, PluginFile>,
}

/// A webhook's active plugin: a component on disk and its digest, which `apply` compares with
/// the project's versions to upload only what is new.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginFile {
    /// Relative to the project file's directory (or absolute).
    pub file: String,
    /// Lowercase hex of the file's SHA-256.
    pub sha256: String,
}

#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("not a project file: {0}")]
    Parse(#[from] toml::de::Error),
    #[error("format version {found} is not supported (this fallback-host reads version {VERSION})")]
    Version { found: u32 },
    #[error("cannot write the project as TOML: {0}")]
    Write(#[from] toml::ser::Error),
}

impl ProjectFile {
    pub fn parse(text: &str) -> Result<Self, FormatError> {
        // The version first, so a future file says so rather than failing on a new field.
        #[derive(Deserialize)]
        struct Versioned {
            version: Option<u32>,
        }
        let versioned: Versioned = toml::from_str(text)?;
        match versioned.version {
            Some(VERSION) => Ok(toml::from_str(text)?),
            Some(found) => Err(FormatError::Version { found }),
            None => Err(FormatError::Parse(serde::de::Error::missing_field("version"))),
        }
    }

    pub fn render(&self) -> Result<String, FormatError> {
        Ok(format!("{HEADER}{}", toml::to_string(self)?))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
version = 1
project = "shop"
name = "Shop"
match_threshold = 0.3
secrets = ["upstream_key"]

[fallback]
webhook = "answers"

[intents.hours]
examples = ["when are you open"]
responses = ["9 to 5."]

[webhooks.answers]
url = "https://api.example.com/chat?q={latest_message}"
headers = { Authorization = "Bearer {secret.upstream_key}" }
response = { extract = { reply = "$.message" } }

[plugins.answers]
file = "plugins/answers.wasm"
sha256 = "00"
"#;

    #[test]
    fn a_file_round_trips_through_the_api_types() {
        let file = ProjectFile::parse(EXAMPLE).unwrap();
        assert_eq!(file.fallback, Some(Fallback::Webhook("answers".into())));
        assert_eq!(file.webhooks["answers"].method, "GET");
        assert_eq!(file.webhooks["answers"].response.success, "{reply}");
        let again = ProjectFile::parse(&file.render().unwrap()).unwrap();
        assert_eq!(again, file);
    }

    #[test]
    fn another_version_or_an_unknown_field_is_refused() {
        let future = EXAMPLE.replace("version = 1", "version = 2");
        assert!(matches!(ProjectFile::parse(&future), Err(FormatError::Version { found: 2 })));
        let unversioned = EXAMPLE.replace("version = 1", "");
        assert!(ProjectFile::parse(&unversioned).unwrap_err().to_string().contains("version"));
        let typo = EXAMPLE.replace("[intents.hours]\nexamples", "[intents.hours]\nexample");
        assert!(ProjectFile::parse(&typo).unwrap_err().to_string().contains("unknown field"));
        let secret_value =
            EXAMPLE.replace(r#"secrets = ["upstream_key"]"#, r#"secrets = { upstream_key = "v" }"#);
        assert!(ProjectFile::parse(&secret_value).is_err());
    }
}
