//! Write Fallback Host plugins in Rust: implement [`Plugin`], call [`export_plugin!`], build for
//! `wasm32-wasip2`.
//!
//! A plugin turns the upstream webhook response into variables ([`Plugin::extract`]) and,
//! optionally, the variables into replies ([`Plugin::format`]). Both hooks have defaults (no extra
//! variables; the webhook's success template), so a plugin implements only what it changes. The
//! host runs each webhook execution in a fresh, sandboxed instance: no network, files or
//! environment (WASI's clocks and random numbers are there), bounded time, memory and output.
//!
//! ```no_run
//! use guest_sdk::serde::Deserialize;
//! use guest_sdk::{export_plugin, log, Context, Plugin, PluginError, Reply, Response, Variables};
//!
//! /// The webhook's `plugin_config`, e.g. `{"field": "answer"}`.
//! #[derive(Deserialize)]
//! #[serde(crate = "guest_sdk::serde", default)]
//! struct Config {
//!     field: String,
//! }
//!
//! impl Default for Config {
//!     fn default() -> Self {
//!         Self { field: "message".into() }
//!     }
//! }
//!
//! struct Answer;
//!
//! impl Plugin for Answer {
//!     fn extract(response: &Response, ctx: &Context) -> Result<Variables, PluginError> {
//!         let config: Config = ctx.config()?;
//!         let body = response.json_value()?;
//!         let text = body[config.field.as_str()]
//!             .as_str()
//!             .ok_or_else(|| PluginError::new(format!("no string field `{}`", config.field)))?;
//!         log::info(format!("answering {} for {}", text.len(), ctx.send_id()));
//!         Ok(Variables::new().with("reply", text))
//!     }
//!
//!     fn format(vars: &Variables, _ctx: &Context) -> Result<Option<Vec<Reply>>, PluginError> {
//!         let text = vars.get("reply").unwrap_or_default();
//!         Ok(Some(vec![Reply::text(text).button("Thanks!", "thanks")]))
//!     }
//! }
//!
//! export_plugin!(Answer);
//! # fn main() {}
//! ```
//!
//! Build it as a `cdylib` (add `"rlib"` too to unit-test it natively):
//!
//! ```text
//! cargo build --target wasm32-wasip2 --release
//! ```
//!
//! The output `target/wasm32-wasip2/release/<name>.wasm` is a component ready to upload.
//!
//! # Notes for plugin authors
//!
//! - Depend on `guest-sdk` alone. `serde` and `serde_json` are re-exported as
//!   [`guest_sdk::serde`](serde) and [`guest_sdk::serde_json`](serde_json); a derive then needs
//!   `#[serde(crate = "guest_sdk::serde")]` because the plugin crate has no `serde` of its own.
//! - Unit-test the logic natively with `cargo test`: [`Response::new`] and [`Context`]'s `with_*`
//!   builders make inputs; [`log`] prints to stderr there.
//! - Outputs are bounded by structure as well as bytes (operator defaults, which a webhook may
//!   lower): at most 256 [`Variables`], 10 replies of 10 buttons each, 1,000 [`log`] lines
//!   (stdout and stderr lines included), and 64 KiB each for variables, replies and logs, every
//!   item counting 16 bytes beside its text. Past any of them the call fails with the webhook's
//!   failure text, and the test console names the limit.
//! - An upstream body over the host's read cap (1 MiB by default) is never cut and handed to
//!   you: the webhook fails before the plugin runs.
//! - A panic traps the instance: the call fails with the webhook's failure text, and the panic
//!   message reaches the call's log. Prefer returning a [`PluginError`] that says what to fix.

#![cfg_attr(test, allow(clippy::unwrap_used))]

extern crate self as guest_sdk;

#[doc(hidden)]
#[allow(clippy::too_many_arguments, reason = "generated lowering of WIT records")]
pub mod bindings;
mod context;
mod error;
#[doc(hidden)]
pub mod hooks;
pub mod log;
mod reply;
mod response;
mod variables;

pub use context::Context;
pub use error::PluginError;
pub use reply::{Button, Reply};
pub use response::Response;
pub use variables::{MAX_VARIABLE_NAME_LEN, Variables, is_valid_variable_name};

pub use serde;
pub use serde_json;

/// A fallback plugin. Implement either hook, or both; the hooks take no `self` because each
/// webhook execution gets a fresh instance and nothing should be carried between calls.
pub trait Plugin {
    /// From the upstream response to variables, merged over those of the webhook's declarative
    /// `extract` mapping (a plugin's value wins). By default: none.
    fn extract(response: &Response, ctx: &Context) -> Result<Variables, PluginError> {
        let _ = (response, ctx);
        Ok(Variables::new())
    }

    /// From the merged variables to the replies. `None` (the default) means "use the webhook's
    /// success template".
    fn format(variables: &Variables, ctx: &Context) -> Result<Option<Vec<Reply>>, PluginError> {
        let _ = (variables, ctx);
        Ok(None)
    }
}

/// Exports a [`Plugin`] implementation as the component's `extract` and `format`. Use it once,
/// at the crate root or in any module, with the type implementing [`Plugin`].
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        const _: () = {
            struct GuestSdkExport;

            impl $crate::__private::Guest for GuestSdkExport {
                fn extract(
                    response: $crate::__private::wit::HttpResponse,
                    context: $crate::__private::wit::Context,
                ) -> ::core::result::Result<
                    $crate::__private::Vec<$crate::__private::wit::Variable>,
                    $crate::__private::wit::PluginError,
                > {
                    $crate::__private::hooks::extract::<$plugin>(response, context)
                }

                fn format(
                    variables: $crate::__private::Vec<$crate::__private::wit::Variable>,
                    context: $crate::__private::wit::Context,
                ) -> ::core::result::Result<
                    ::core::option::Option<$crate::__private::Vec<$crate::__private::wit::Reply>>,
                    $crate::__private::wit::PluginError,
                > {
                    $crate::__private::hooks::format::<$plugin>(variables, context)
                }
            }

    $crate::__private::bindings::export!(GuestSdkExport with_types_in $crate::__private::bindings);
        };
    };
}

/// What `export_plugin!` expands to needs; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use crate::bindings;
    pub use crate::bindings::Guest;
    pub use crate::bindings::fallback::plugin::types as wit;
    pub use crate::hooks;
    pub use std::vec::Vec;
    pub use wit_bindgen::rt;
}
