//! Fallback Host: the fallback pipeline of a conversational platform, as a library.
//!
//! `main.rs` only parses the command line; everything it runs lives here so tests
//! drive the same code over real sockets.

pub mod api;
pub mod auth;
pub mod bindings;
pub mod catalog;
pub mod classifier;
pub mod cli;
pub mod config;
pub mod db_cmd;
pub mod demo;
pub mod intent;
mod intents_cmd;
pub mod log_text;
pub mod metrics;
pub mod model;
pub mod outbound;
pub mod pipeline;
pub mod plugin;
pub mod plugin_cmd;
pub mod plugin_new;
mod plugin_run;
mod private_file;
pub mod project_file;
pub mod quota;
pub mod secret_key;
pub mod send_id;
pub mod server;
pub mod store;
pub mod varname;
pub mod webhook;
