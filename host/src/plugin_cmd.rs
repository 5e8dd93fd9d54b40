//! (placeholder: plugin_cmd)
