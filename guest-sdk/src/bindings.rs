//! The SDK's one `wit_bindgen::generate!`: raw bindings of `wit/plugin.wit`, hidden from plugin authors.
//!
//! The export macro is public and every path it expands to goes through `guest_sdk`, so a plugin
//! crate depends on `guest-sdk` alone and never names `wit_bindgen`.

wit_bindgen::generate!({
    world: "plugin",
    path: "../wit",
    pub_export_macro: true,
    export_macro_name: "export",
    default_bindings_module: "::guest_sdk::__private::bindings",
    runtime_path: "::guest_sdk::__private::rt",
});
