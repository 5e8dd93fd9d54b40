//! The README's "plugin in ten lines", kept identical to it (`tests/tests/plugin_cli.rs` checks).

use guest_sdk::{Context, Plugin, PluginError, Reply, Variables, export_plugin};

struct Shout;

impl Plugin for Shout {
    fn format(vars: &Variables, _ctx: &Context) -> Result<Option<Vec<Reply>>, PluginError> {
        let reply = vars.get("reply").ok_or_else(|| PluginError::new("no reply"))?;
        Ok(Some(vec![Reply::text(reply.to_uppercase()).button("Thanks!", "thanks")]))
    }
}

export_plugin!(Shout);
