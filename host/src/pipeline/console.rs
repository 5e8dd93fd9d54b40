//! Fitting a trace into the test console's answer: each part gets a byte budget, counted as the
//! JSON it becomes (a control character costs six bytes there) plus each item's overhead, so the
//! answer stays under `CONSOLE_ANSWER_BYTES` whatever a plugin or an upstream returns.
//!
//! The chat never goes through this: its replies are whole, bounded by the plugin's own limits.

use super::trace::WebhookTrace;

/// What the console's answer stays under, its keys and timings included.
pub const CONSOLE_ANSWER_BYTES: usize = 200 * 1024;

const KIB: usize = 1024;
/// Per part. Their sum (156 KiB) leaves room for keys, timings and the error's other fields.
const REQUEST_BYTES: usize = 24 * KIB;
const UPSTREAM_HEADER_BYTES: usize = 16 * KIB;
const UPSTREAM_BODY_BYTES: usize = 16 * KIB;
const VARIABLE_BYTES: usize = 24 * KIB;
const MISSING_BYTES: usize = 8 * KIB;
const REPLY_BYTES: usize = 24 * KIB;
const LOG_BYTES: usize = 40 * KIB;
const ERROR_BYTES: usize = 4 * KIB;
/// What one item costs around its text in the JSON: quotes, keys, braces, commas.
const ITEM_JSON_BYTES: usize = 32;

/// One part's allowance.
struct Budget {
    left: usize,
    clipped: bool,
}

impl Budget {
    fn new(bytes: usize) -> Self {
        Self { left: bytes, clipped: false }
    }

    /// Charges one item's overhead; false (and clipped) once nothing is left for it.
    fn item(&mut self) -> bool {
        if self.left < ITEM_JSON_BYTES {
            self.clipped = true;
            return false;
        }
        self.left -= ITEM_JSON_BYTES;
        true
    }

    /// Charges `text`, cutting it (at a character, marked with `…`) where the allowance ends.
    fn text(&mut self, text: &mut String) {
        let mut used = 0;
        for (at, c) in text.char_indices() {
            let cost = json_cost(c);
            if used + cost > self.left.saturating_sub(ELLIPSIS.len()) {
                text.truncate(at);
                text.push_str(ELLIPSIS);
                self.left = self.left.saturating_sub(used + ELLIPSIS.len());
                self.clipped = true;
                return;
            }
            used += cost;
        }
        self.left -= used;
    }
}

const ELLIPSIS: &str = "…";

/// Bytes `c` takes inside a JSON string.
fn json_cost(c: char) -> usize {
    match c {
        '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
        c if (c as u32) < 0x20 => 6,
        c => c.len_utf8(),
    }
}

impl WebhookTrace {
    /// Cuts every part to its budget and lists the parts that were cut in `clipped`.
    pub fn fit_for_console(&mut self) {
        let mut clipped = Vec::new();
        let mut mark = |part: &'static str, budget: Budget| {
            if budget.clipped {
                clipped.push(part);
            }
        };

        if let Some(request) = &mut self.request {
            let mut budget = Budget::new(REQUEST_BYTES);
            budget.text(&mut request.url);
            request.headers.retain(|name, value| {
                let keep = budget.item() && name.len() < budget.left;
                if keep {
                    budget.left -= name.len();
                    budget.text(value);
                }
                keep
            });
            if let Some(body) = &mut request.body {
                budget.text(body);
            }
            mark("request", budget);
        }

        if let Some(upstream) = &mut self.upstream {
            let mut budget = Budget::new(UPSTREAM_HEADER_BYTES);
            keep_while(&mut upstream.headers, |(name, value)| {
                budget.item() && {
                    budget.text(name);
                    budget.text(value);
                    true
                }
            });
            mark("upstream.headers", budget);
            let mut budget = Budget::new(UPSTREAM_BODY_BYTES);
            budget.text(&mut upstream.body);
            upstream.body_truncated |= budget.clipped;
        }

        let mut budget = Budget::new(VARIABLE_BYTES);
        self.variables.retain(|name, value| {
            let keep = budget.item() && name.len() < budget.left;
            if keep {
                budget.left -= name.len();
                budget.text(value);
            }
            keep
        });
        mark("variables", budget);

        let mut budget = Budget::new(MISSING_BYTES);
        keep_while(&mut self.missing_variables, |name| {
            budget.item() && {
                budget.text(name);
                true
            }
        });
        mark("missing_variables", budget);

        let mut budget = Budget::new(REPLY_BYTES);
        keep_while(&mut self.replies, |reply| {
            if !budget.item() {
                return false;
            }
            budget.text(&mut reply.text);
            keep_while(&mut reply.buttons, |button| {
                budget.item() && {
                    budget.text(&mut button.label);
                    budget.text(&mut button.payload);
                    true
                }
            });
            true
        });
        mark("replies", budget);

        if let Some(plugin) = &mut self.plugin {
            let mut budget = Budget::new(LOG_BYTES);
            keep_while(&mut plugin.logs, |line| {
                budget.item() && {
                    budget.text(&mut line.message);
                    true
                }
            });
            mark("plugin.logs", budget);
        }

        if let Some(error) = &mut self.error {
            let mut budget = Budget::new(ERROR_BYTES);
            budget.text(&mut error.message);
            budget.text(&mut error.code);
            mark("error", budget);
        }
        self.clipped = clipped;
    }
}

/// Keeps the items before the first one `fit` refuses.
fn keep_while<T>(items: &mut Vec<T>, mut fit: impl FnMut(&mut T) -> bool) {
    let kept = items.iter_mut().position(|item| !fit(item)).unwrap_or(items.len());
    items.truncate(kept);
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn text_is_cut_by_its_json_size_at_a_character() {
        let mut budget = Budget::new(20);
        let mut text = "\u{1}".repeat(100);
        budget.text(&mut text);
        assert!(budget.clipped);
        assert!(serde_json::to_string(&text).unwrap().len() <= 22, "{text:?}");
        let mut budget = Budget::new(100);
        let mut short = "é ok".to_string();
        budget.text(&mut short);
        assert_eq!((short.as_str(), budget.clipped, budget.left), ("é ok", false, 95));
        let mut budget = Budget::new(10);
        let mut multibyte = "😀".repeat(10);
        budget.text(&mut multibyte);
        assert!(multibyte.ends_with(ELLIPSIS) && multibyte.len() <= 10, "{multibyte}");
    }
}
