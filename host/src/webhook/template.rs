//! The template language: `{name}` holes, `{{`/`}}` literal braces, parsed once, rendered with an encoding.
//!
//! A name is a `VarName` (`[A-Za-z_][A-Za-z0-9_]{0,63}`, never holding a `.`) or `secret.` followed by a
//! secret id (`[a-z0-9][a-z0-9_-]{0,63}`), so the two can never be confused.
//! Which names a template may use is decided by `validate`, not here: this module only knows the
//! syntax. A missing value is an error, never an empty string, so a reply or a request never has a hole.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::model::is_valid_id;
use crate::varname::VarName;

/// The prefix that marks a project secret: `{secret.NAME}`.
pub const SECRET_PREFIX: &str = "secret.";

/// Everything except RFC 3986 "unreserved" (`A-Z a-z 0-9 - . _ ~`) is percent-encoded, so a value
/// lands byte-exact in a path segment or a query value whatever it contains (`&`, `#`, `?`, `/`, `+`…).
const URL_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// How a variable's value is written where it lands. Literal text is never encoded: the bot builder
/// wrote it for that place, and validation checks it fits there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Percent-encode everything that is not unreserved (URL path segments and query values).
    UrlComponent,
    /// Refuse characters an HTTP header value cannot carry (CR, LF, NUL and other controls except TAB),
    /// so a user's message can never inject a header.
    Header,
    /// As-is: replies, and text that is escaped afterwards as a whole (JSON bodies, form bodies).
    Plain,
}

/// A template's syntax error. `position` counts characters (not bytes) from 0.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("unclosed `{{` at position {position} (write `{{{{` for a literal brace)")]
    Unclosed { position: usize },
    #[error("stray `}}` at position {position} (write `}}}}` for a literal brace)")]
    StrayClose { position: usize },
    #[error(
        "invalid variable name `{name}` at position {position}: expected a name like `reply` or `secret.NAME`"
    )]
    InvalidName { position: usize, name: String },
}

/// Why a parsed template could not be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("variable `{0}` has no value")]
    Missing(String),
    #[error("variable `{name}` contains a character not allowed in a header value ({character:?})")]
    ForbiddenInHeader { name: String, character: char },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Variable(String),
}

/// What a lookup supplies for a hole when rendering for display rather than for sending.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Fill<'v> {
    /// The value, encoded for where it lands.
    Value(&'v str),
    /// Do not reveal the value: write the hole back as `{name}`, verbatim.
    Redacted,
}

/// A parsed template: literal text and variable holes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    segments: Vec<Segment>,
}

impl Template {
    pub fn parse(source: &str) -> Result<Self, TemplateError> {
        let mut segments = Vec::new();
        let mut literal = String::new();
        let mut chars = source.chars().enumerate().peekable();
        while let Some((position, c)) = chars.next() {
            match c {
                '{' if chars.peek().map(|&(_, n)| n) == Some('{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek().map(|&(_, n)| n) == Some('}') => {
                    chars.next();
                    literal.push('}');
                }
                '}' => return Err(TemplateError::StrayClose { position }),
                '{' => {
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some((_, '}')) => break,
                            Some((_, '{')) | None => return Err(TemplateError::Unclosed { position }),
                            Some((_, n)) => name.push(n),
                        }
                    }
                    if !is_valid_variable_name(&name) {
                        return Err(TemplateError::InvalidName { position, name });
                    }
                    if !literal.is_empty() {
                        segments.push(Segment::Literal(std::mem::take(&mut literal)));
                    }
                    segments.push(Segment::Variable(name));
                }
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            segments.push(Segment::Literal(literal));
        }
        Ok(Self { segments })
    }

    /// The variable names used, in order of appearance (repeats included).
    pub fn variables(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Variable(name) => Some(name.as_str()),
            Segment::Literal(_) => None,
        })
    }

    /// The literal pieces, for checks that only concern what the bot builder typed.
    pub fn literals(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Literal(text) => Some(text.as_str()),
            Segment::Variable(_) => None,
        })
    }

    /// The text before the first variable (all of it when there is none).
    pub fn literal_prefix(&self) -> &str {
        match self.segments.first() {
            Some(Segment::Literal(text)) => text,
            _ => "",
        }
    }

    pub fn uses_secret(&self) -> bool {
        self.variables().any(|v| secret_name(v).is_some())
    }

    pub fn render<'v>(
        &self,
        encoding: Encoding,
        lookup: impl Fn(&str) -> Option<&'v str>,
    ) -> Result<String, RenderError> {
        self.render_fill(encoding, |name| lookup(name).map(Fill::Value))
    }

    pub(crate) fn render_fill<'v>(
        &self,
        encoding: Encoding,
        lookup: impl Fn(&str) -> Option<Fill<'v>>,
    ) -> Result<String, RenderError> {
        let mut out = String::new();
        for segment in &self.segments {
            match segment {
                Segment::Literal(text) => out.push_str(text),
                Segment::Variable(name) => match lookup(name) {
                    None => return Err(RenderError::Missing(name.clone())),
                    Some(Fill::Redacted) => {
                        out.push('{');
                        out.push_str(name);
                        out.push('}');
                    }
                    Some(Fill::Value(value)) => encode_into(&mut out, name, value, encoding)?,
                },
            }
        }
        Ok(out)
    }
}

fn encode_into(out: &mut String, name: &str, value: &str, encoding: Encoding) -> Result<(), RenderError> {
    match encoding {
        Encoding::Plain => out.push_str(value),
        Encoding::UrlComponent => out.extend(utf8_percent_encode(value, URL_COMPONENT)),
        Encoding::Header => {
            if let Some(character) = value.chars().find(|&c| is_forbidden_in_header(c)) {
                return Err(RenderError::ForbiddenInHeader { name: name.to_owned(), character });
            }
            out.push_str(value);
        }
    }
    Ok(())
}

/// What `http::HeaderValue` refuses: controls other than TAB, and DEL.
pub fn is_forbidden_in_header(c: char) -> bool {
    (c.is_ascii_control() && c != '\t') || c == '\x7f'
}

/// `NAME` of a `secret.NAME` variable.
pub fn secret_name(variable: &str) -> Option<&str> {
    variable.strip_prefix(SECRET_PREFIX)
}

fn is_valid_variable_name(name: &str) -> bool {
    match secret_name(name) {
        Some(secret) => is_valid_id(secret),
        None => VarName::is_valid(name),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn vars<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<&'a str> {
        move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
    }

    #[test]
    fn parses_literals_variables_and_escaped_braces() {
        let t = Template::parse("a {{b}} {x} c{secret.api-key_1}}}").unwrap();
        assert_eq!(t.variables().collect::<Vec<_>>(), ["x", "secret.api-key_1"]);
        assert_eq!(t.literals().collect::<Vec<_>>(), ["a {b} ", " c", "}"]);
        let out = t.render(Encoding::Plain, vars(&[("x", "X"), ("secret.api-key_1", "S")])).unwrap();
        assert_eq!(out, "a {b} X cS}");
        assert!(t.uses_secret());
        assert_eq!(t.literal_prefix(), "a {b} ");
    }

    #[test]
    fn a_template_without_holes_renders_as_itself() {
        let t = Template::parse("Sorry, no answer {{today}}.").unwrap();
        assert_eq!(t.variables().count(), 0);
        assert_eq!(t.render(Encoding::Plain, |_| None).unwrap(), "Sorry, no answer {today}.");
        assert_eq!(Template::parse("").unwrap().render(Encoding::Plain, |_| None).unwrap(), "");
    }

    #[test]
    fn syntax_errors_name_the_character_position() {
        assert_eq!(Template::parse("ab {x"), Err(TemplateError::Unclosed { position: 3 }));
        assert_eq!(Template::parse("ab {x {y}"), Err(TemplateError::Unclosed { position: 3 }));
        assert_eq!(Template::parse("é}"), Err(TemplateError::StrayClose { position: 1 }));
        assert_eq!(Template::parse("{x}}"), Err(TemplateError::StrayClose { position: 3 }));
        assert_eq!(
            Template::parse("héllo { reply }"),
            Err(TemplateError::InvalidName { position: 6, name: " reply ".into() })
        );
        assert_eq!(
            Template::parse("{}"),
            Err(TemplateError::InvalidName { position: 0, name: String::new() })
        );
        for bad in ["{1a}", "{a.b}", "{secret.}", "{secret.Upper}", "{secret.-a}", "{a-b}"] {
            assert!(matches!(Template::parse(bad), Err(TemplateError::InvalidName { .. })), "{bad}");
        }
        assert!(Template::parse("ab {x").unwrap_err().to_string().contains("position 3"));
    }

    #[test]
    fn a_missing_value_is_an_error_not_a_hole() {
        let t = Template::parse("Hi {name}!").unwrap();
        assert_eq!(t.render(Encoding::Plain, |_| None), Err(RenderError::Missing("name".into())));
        assert_eq!(t.render(Encoding::Plain, vars(&[("name", "")])).unwrap(), "Hi !");
    }

    const HOSTILE: &str = "a b&c#d?e%f+g\"h'i\\j\nk\rl\tm😀 ünï/=;,:@[]{}<>~-._*";

    #[test]
    fn url_component_encoding_keeps_every_byte_and_only_unreserved_characters() {
        let t = Template::parse("http://h/p/{x}?q={x}").unwrap();
        let out = t.render(Encoding::UrlComponent, vars(&[("x", HOSTILE)])).unwrap();
        let encoded = &out["http://h/p/".len()..out.find("?q=").unwrap()];
        assert!(encoded.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)), "{encoded}");
        assert_eq!(percent_encoding::percent_decode_str(encoded).decode_utf8().unwrap(), HOSTILE);
        assert!(out.parse::<http::Uri>().is_ok());
        assert_eq!(
            Template::parse("{x}")
                .unwrap()
                .render(Encoding::UrlComponent, vars(&[("x", "a b+c&d")]))
                .unwrap(),
            "a%20b%2Bc%26d"
        );
    }

    #[test]
    fn header_encoding_refuses_line_breaks_and_nul_but_keeps_tabs_and_unicode() {
        let t = Template::parse("Bearer {x}").unwrap();
        for (bad, c) in [("a\r\nX-Evil: 1", '\r'), ("a\nb", '\n'), ("a\0b", '\0'), ("a\x7fb", '\x7f')] {
            assert_eq!(
                t.render(Encoding::Header, vars(&[("x", bad)])),
                Err(RenderError::ForbiddenInHeader { name: "x".into(), character: c })
            );
        }
        let ok = "tab\there, quotes \" ' \\ & # ? % + 😀 ü";
        let out = t.render(Encoding::Header, vars(&[("x", ok)])).unwrap();
        assert_eq!(out, format!("Bearer {ok}"));
        assert!(http::HeaderValue::from_bytes(out.as_bytes()).is_ok());
    }

    #[test]
    fn plain_encoding_is_verbatim() {
        let t = Template::parse("{x}").unwrap();
        assert_eq!(t.render(Encoding::Plain, vars(&[("x", HOSTILE)])).unwrap(), HOSTILE);
    }

    #[test]
    fn redacted_fill_writes_the_hole_back_unencoded() {
        let t = Template::parse("/p?k={secret.key}&m={m}").unwrap();
        let out = t
            .render_fill(Encoding::UrlComponent, |name| {
                Some(if secret_name(name).is_some() { Fill::Redacted } else { Fill::Value("a b") })
            })
            .unwrap();
        assert_eq!(out, "/p?k={secret.key}&m=a%20b");
    }

    #[test]
    fn names_are_var_names_or_secrets() {
        let longest = format!("{{{}}}", "a".repeat(VarName::MAX_LEN));
        for good in ["{a}", "{_}", "{reply}", "{A_1}", "{secret.k-1}", longest.as_str()] {
            assert!(Template::parse(good).is_ok(), "{good}");
        }
        let too_long = format!("{{{}}}", "a".repeat(VarName::MAX_LEN + 1));
        for bad in ["{a.b}", "{secret}x{secret.}", too_long.as_str()] {
            assert!(Template::parse(bad).is_err(), "{bad}");
        }
    }
}
