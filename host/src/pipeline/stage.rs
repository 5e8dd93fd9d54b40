//! The stages of one webhook execution, in order: where a failure happened, as the test console,
//! the logs and the metrics name it.

use std::fmt;

use serde::Serialize;

/// Serialised as the lowercase names the API has always answered (`"upstream"`, `"plugin"`…).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// The stored webhook or its plugin could not be made ready (e.g. over a lowered limit).
    Webhook,
    /// A bound on executions in flight refused this one before it started.
    Admission,
    /// Rendering the request from the templates.
    Request,
    /// Sending it and reading the answer.
    Upstream,
    /// The declarative mapping of the response.
    Mapping,
    /// The webhook's plugin: instantiate, `extract`, `format`.
    Plugin,
    /// Turning variables into the replies (the success template).
    Reply,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Webhook => "webhook",
            Self::Admission => "admission",
            Self::Request => "request",
            Self::Upstream => "upstream",
            Self::Mapping => "mapping",
            Self::Plugin => "plugin",
            Self::Reply => "reply",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::Stage;

    #[test]
    fn serialised_as_the_names_the_api_answered_before() {
        for stage in [
            Stage::Webhook,
            Stage::Admission,
            Stage::Request,
            Stage::Upstream,
            Stage::Mapping,
            Stage::Plugin,
            Stage::Reply,
        ] {
            let json = serde_json::to_value(stage).expect("serialises");
            assert_eq!(json, serde_json::Value::String(stage.as_str().to_owned()));
        }
        assert_eq!(Stage::Upstream.as_str(), "upstream");
    }
}
