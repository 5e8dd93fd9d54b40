//! `LogText`: text from outside the host (a plugin, an upstream) made safe for the host's own log.
//!
//! A plugin's log line, its `plugin-error` message, a trap message or an upstream error can hold a
//! newline (which would forge a log line), an ANSI escape (which would recolour or rewrite an
//! operator's terminal) or a bidi override (which would reorder what is read). Every such value
//! reaches `tracing` through this wrapper, whose `Display` writes one line of printable text.
//!
//! tracing-subscriber's fmt layer (0.3.20 and later) escapes ESC, BEL, BS, FF, DEL and C1 codes
//! in an event's message only; it leaves newlines, CR, other C0 codes, bidi overrides and every
//! other field as they are. Nothing this wrapper writes is a control character, so that layer
//! finds nothing more to escape and no value is escaped twice.

use std::fmt::{self, Write};

/// Displays the wrapped text with every control character escaped: `\n`, `\r`, `\t`, `\\`, and
/// `\u{..}` for the other C0 and C1 codes, DEL, bidi controls and line/paragraph separators.
#[derive(Clone, Copy)]
pub struct LogText<'a>(pub &'a str);

impl fmt::Display for LogText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut clean = 0;
        for (at, c) in self.0.char_indices() {
            let escaped = match c {
                '\n' => "\\n",
                '\r' => "\\r",
                '\t' => "\\t",
                // Escaped so an escape sequence in the output always came from this wrapper.
                '\\' => "\\\\",
                c if needs_escape(c) => "",
                _ => continue,
            };
            f.write_str(&self.0[clean..at])?;
            if escaped.is_empty() {
                write!(f, "\\u{{{:x}}}", u32::from(c))?;
            } else {
                f.write_str(escaped)?;
            }
            clean = at + c.len_utf8();
        }
        f.write_str(&self.0[clean..])
    }
}

impl fmt::Debug for LogText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_char('"')?;
        fmt::Display::fmt(self, f)?;
        f.write_char('"')
    }
}

/// C0 and C1 control codes, DEL, the bidi embedding, override and isolate controls, the
/// left-to-right and right-to-left marks, and the Unicode line and paragraph separators.
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_are_escaped_and_the_rest_kept() {
        let forged = "ok\n2026-01-01T00:00:00Z  INFO fake\x1b[31m red\r\t\\ \u{7f}\u{85}\u{202e}é😀";
        let shown = LogText(forged).to_string();
        assert_eq!(
            shown,
            "ok\\n2026-01-01T00:00:00Z  INFO fake\\u{1b}[31m red\\r\\t\\\\ \\u{7f}\\u{85}\\u{202e}é😀"
        );
        assert!(!shown.chars().any(needs_escape));
        assert_eq!(LogText("plain text").to_string(), "plain text");
        assert_eq!(format!("{:?}", LogText("a\nb")), "\"a\\nb\"");
    }
}
