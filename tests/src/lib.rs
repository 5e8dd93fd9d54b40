//! Support for the end-to-end tests: the plugins built from source, and shared helpers.

pub mod bombs;
pub mod browser;
pub mod database;
pub mod host;
pub mod langs;
pub mod served;
pub mod tools;
pub mod upstream;
pub mod wasm;
