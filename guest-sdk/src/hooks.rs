//! The entry points `export_plugin!` wires to the world's exports: WIT values in, the plugin's
//! `Plugin` impl on SDK types, WIT values out.

use crate::bindings::fallback::plugin::types as wit;
use crate::{Context, Plugin, Reply, Response, Variables};

pub fn extract<P: Plugin>(
    response: wit::HttpResponse,
    context: wit::Context,
) -> Result<Vec<wit::Variable>, wit::PluginError> {
    install_panic_logger();
    let headers = response.headers.into_iter().map(|h| (h.name, h.value)).collect();
    let response = Response::from_parts(response.status, headers, response.body);
    let variables = P::extract(&response, &context_from_wit(context)).map_err(error_to_wit)?;
    Ok(variables.into_iter().map(|(name, value)| wit::Variable { name, value }).collect())
}

pub fn format<P: Plugin>(
    variables: Vec<wit::Variable>,
    context: wit::Context,
) -> Result<Option<Vec<wit::Reply>>, wit::PluginError> {
    install_panic_logger();
    let variables: Variables = variables.into_iter().map(|v| (v.name, v.value)).collect();
    let replies = P::format(&variables, &context_from_wit(context)).map_err(error_to_wit)?;
    Ok(replies.map(|replies| replies.into_iter().map(reply_to_wit).collect()))
}

fn context_from_wit(context: wit::Context) -> Context {
    Context::from_parts(
        context.project,
        context.webhook,
        context.send_id,
        context.latest_message,
        context.plugin_config,
    )
}

fn error_to_wit(err: crate::PluginError) -> wit::PluginError {
    wit::PluginError { message: err.message().to_string() }
}

fn reply_to_wit(reply: Reply) -> wit::Reply {
    wit::Reply {
        text: reply.text,
        buttons: reply
            .buttons
            .into_iter()
            .map(|b| wit::Button { label: b.label, payload: b.payload })
            .collect(),
    }
}

/// A panic traps the instance; routing its message to the call's log lets the bot builder see
/// why in the test console instead of a bare "unreachable" trap.
#[cfg(target_arch = "wasm32")]
fn install_panic_logger() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| crate::log::error(format!("plugin {info}"))));
    });
}

/// Natively the default hook already prints panics, and tests want it untouched.
#[cfg(not(target_arch = "wasm32"))]
fn install_panic_logger() {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PluginError;

    struct Echo;

    impl Plugin for Echo {
        fn extract(response: &Response, ctx: &Context) -> Result<Variables, PluginError> {
            if ctx.latest_message() == "refuse" {
                return Err(PluginError::new("refused"));
            }
            Ok(Variables::new()
                .with("status", response.status().to_string())
                .with("type", response.header("Content-Type").unwrap_or("none"))
                .with("body", response.text()?)
                .with("config", ctx.config_json()))
        }

        fn format(vars: &Variables, ctx: &Context) -> Result<Option<Vec<Reply>>, PluginError> {
            let text = format!("{}:{}", ctx.project(), vars.get("reply").unwrap_or_default());
            Ok(Some(vec![Reply::text(text).button("A", "a")]))
        }
    }

    struct Defaults;
    impl Plugin for Defaults {}

    fn context(message: &str) -> wit::Context {
        wit::Context {
            project: "p".into(),
            webhook: "w".into(),
            send_id: "s".into(),
            latest_message: message.into(),
            plugin_config: r#"{"k":1}"#.into(),
        }
    }

    fn response() -> wit::HttpResponse {
        wit::HttpResponse {
            status: 201,
            headers: vec![wit::Header { name: "content-type".into(), value: "text/plain".into() }],
            body: b"hello".to_vec(),
        }
    }

    fn pairs(vars: Vec<wit::Variable>) -> Vec<(String, String)> {
        vars.into_iter().map(|v| (v.name, v.value)).collect()
    }

    #[test]
    fn extract_converts_both_ways() {
        let vars = pairs(extract::<Echo>(response(), context("hi")).unwrap());
        let expected =
            [("body", "hello"), ("config", r#"{"k":1}"#), ("status", "201"), ("type", "text/plain")];
        assert_eq!(vars, expected.map(|(n, v)| (n.to_string(), v.to_string())));
    }

    #[test]
    fn errors_cross_as_their_message() {
        let err = extract::<Echo>(response(), context("refuse")).unwrap_err();
        assert_eq!(err.message, "refused");
    }

    #[test]
    fn format_converts_replies_and_buttons() {
        let vars = vec![wit::Variable { name: "reply".into(), value: "yo".into() }];
        let replies = format::<Echo>(vars, context("hi")).unwrap().unwrap();
        assert_eq!(replies.len(), 1);
        assert_eq!(replies[0].text, "p:yo");
        assert_eq!(
            (replies[0].buttons[0].label.as_str(), replies[0].buttons[0].payload.as_str()),
            ("A", "a")
        );
    }

    #[test]
    fn default_hooks_add_nothing_and_defer_to_the_template() {
        assert!(extract::<Defaults>(response(), context("hi")).unwrap().is_empty());
        assert!(format::<Defaults>(Vec::new(), context("hi")).unwrap().is_none());
    }
}
