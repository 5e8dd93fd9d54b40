//! `Response`: the upstream's HTTP answer as the host received it, with typed readers.

use serde::de::DeserializeOwned;

use crate::PluginError;

/// The upstream response. The body may have been cut at the host's read cap (1 MiB by default)
/// and is never decoded for you: [`Response::text`] and [`Response::json`] do that on demand.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    /// Builds a response, chiefly for unit tests of a plugin's logic.
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Self { status, headers: Vec::new(), body: body.into() }
    }

    /// Adds a header; the name is lower-cased as the host does.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into().to_ascii_lowercase(), value.into()));
        self
    }

    pub fn status(&self) -> u16 {
        self.status
    }

    /// The first value of header `name`, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
    }

    /// Every header in the order received; a repeated header appears once per occurrence.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers.iter().map(|(name, value)| (name.as_str(), value.as_str()))
    }

    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The body as UTF-8 text.
    pub fn text(&self) -> Result<&str, PluginError> {
        std::str::from_utf8(&self.body)
            .map_err(|err| PluginError::new(format!("response body is not UTF-8 text: {err}")))
    }

    /// The body parsed as JSON into `T`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, PluginError> {
        serde_json::from_slice(&self.body).map_err(|err| {
            if err.is_data() {
                PluginError::new(format!("response JSON does not have the expected shape: {err}"))
            } else {
                PluginError::new(format!("response body is not JSON: {err}"))
            }
        })
    }

    /// The body parsed as untyped JSON.
    pub fn json_value(&self) -> Result<serde_json::Value, PluginError> {
        self.json()
    }

    pub(crate) fn from_parts(status: u16, headers: Vec<(String, String)>, body: Vec<u8>) -> Self {
        Self { status, headers, body }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_case_insensitive_and_keep_repeats() {
        let response = Response::new(200, "{}")
            .with_header("Content-Type", "application/json")
            .with_header("set-cookie", "a=1")
            .with_header("set-cookie", "b=2");
        assert_eq!(response.status(), 200);
        assert_eq!(response.header("CONTENT-TYPE"), Some("application/json"));
        assert_eq!(response.header("set-cookie"), Some("a=1"));
        assert_eq!(response.header("missing"), None);
        assert_eq!(response.headers().filter(|(name, _)| *name == "set-cookie").count(), 2);
    }

    #[test]
    fn json_reads_typed_and_untyped() {
        #[derive(serde::Deserialize)]
        struct Answer {
            message: String,
        }
        let response = Response::new(200, r#"{"message":"hi"}"#);
        assert_eq!(response.json::<Answer>().unwrap().message, "hi");
        assert_eq!(response.json_value().unwrap()["message"], "hi");
        assert_eq!(response.text().unwrap(), r#"{"message":"hi"}"#);
    }

    #[test]
    fn bad_bodies_say_what_is_wrong() {
        let err = Response::new(200, "<html>").json_value().unwrap_err();
        assert!(err.message().starts_with("response body is not JSON"), "{err}");
        let err = Response::new(200, r#"{"message":1}"#).json::<Vec<u8>>().unwrap_err();
        assert!(err.message().contains("expected shape"), "{err}");
        let err = Response::new(200, vec![0xff, 0xfe]).text().unwrap_err();
        assert!(err.message().contains("not UTF-8"), "{err}");
    }
}
