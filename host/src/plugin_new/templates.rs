//! The files of a new project per language, embedded at build time. The JavaScript and Python
//! helpers and the WIT world are this repository's own files, copied in so a project is
//! self-contained; `{{…}}` placeholders are filled by `scaffold`.

use super::Lang;

/// (path in the project, contents with placeholders).
pub type Template = (&'static str, &'static str);

const SAMPLE_RESPONSE: Template =
    ("sample-response.json", include_str!("templates/common/sample-response.json"));
const WEBHOOK: Template = ("webhook.json", include_str!("templates/common/webhook.json"));
const WIT: Template = ("wit/plugin.wit", include_str!("../../../wit/plugin.wit"));

/// The README's shared upload section, spliced in for `{{upload}}`.
pub const UPLOAD: &str = include_str!("templates/common/upload.md");

/// The helper package's manifest: its exact componentize-js pin is the one a project gets.
pub const JS_SDK_PACKAGE: &str = include_str!("../../../guest-sdk/js/package.json");

const RUST: &[Template] = &[
    ("Cargo.toml", include_str!("templates/rust/Cargo.toml")),
    ("rust-toolchain.toml", include_str!("templates/rust/rust-toolchain.toml")),
    (".gitignore", include_str!("templates/rust/gitignore")),
    ("src/lib.rs", include_str!("templates/rust/src/lib.rs")),
    ("README.md", include_str!("templates/rust/README.md")),
    SAMPLE_RESPONSE,
    WEBHOOK,
];

const JS: &[Template] = &[
    ("package.json", include_str!("templates/js/package.json")),
    (".gitignore", include_str!("templates/js/gitignore")),
    ("plugin.js", include_str!("templates/js/plugin.js")),
    ("test/plugin.test.js", include_str!("templates/js/test/plugin.test.js")),
    ("fallback-plugin.js", include_str!("../../../guest-sdk/js/fallback-plugin.js")),
    ("build.js", include_str!("../../../guest-sdk/js/build.js")),
    ("README.md", include_str!("templates/js/README.md")),
    WIT,
    SAMPLE_RESPONSE,
    WEBHOOK,
];

const PYTHON: &[Template] = &[
    ("requirements.txt", include_str!("../../../guest-sdk/python/requirements.txt")),
    (".gitignore", include_str!("templates/python/gitignore")),
    ("app.py", include_str!("templates/python/app.py")),
    ("test_app.py", include_str!("templates/python/test_app.py")),
    ("fallback_plugin.py", include_str!("../../../guest-sdk/python/fallback_plugin.py")),
    ("README.md", include_str!("templates/python/README.md")),
    WIT,
    SAMPLE_RESPONSE,
    WEBHOOK,
];

pub fn files(lang: Lang) -> &'static [Template] {
    match lang {
        Lang::Rust => RUST,
        Lang::Js => JS,
        Lang::Python => PYTHON,
    }
}

/// Where the built component lands, relative to the project (`module`: the name with `-` → `_`).
pub fn wasm_path(lang: Lang, module: &str) -> String {
    match lang {
        Lang::Rust => format!("target/wasm32-wasip2/release/{module}.wasm"),
        Lang::Js | Lang::Python => format!("{module}.wasm"),
    }
}
