//! Writing a new project: checks the name and the target directory, fills the templates, writes
//! the files. Nothing is written unless every check passes.

use std::path::{Path, PathBuf};

use super::templates::{self, JS_SDK_PACKAGE, UPLOAD};
use super::{Lang, NewArgs, NewError, default_sdk_path};
use crate::model::is_valid_id;

/// Creates `args.dir/args.name` and returns its path.
pub fn scaffold(args: &NewArgs) -> Result<PathBuf, NewError> {
    if !is_valid_id(&args.name) {
        return Err(NewError::InvalidName(args.name.clone()));
    }
    let project = args.dir.join(&args.name);
    check_target(&project)?;
    let sdk = match args.lang {
        Lang::Rust => Some(sdk_dir(args.sdk.clone())?),
        Lang::Js | Lang::Python => None,
    };
    let module = args.name.replace('-', "_");
    let wasm = templates::wasm_path(args.lang, &module);
    let sdk_text = sdk.as_deref().map(|p| toml_escape(&p.to_string_lossy())).unwrap_or_default();
    let fill = |text: &str| {
        text.replace("{{upload}}", UPLOAD.trim_end())
            .replace("{{name}}", &args.name)
            .replace("{{module}}", &module)
            .replace("{{wasm}}", &wasm)
            .replace("{{sdk}}", &sdk_text)
            .replace("{{componentize_js}}", &js_pin("@bytecodealliance/componentize-js"))
            .replace("{{preview2_shim}}", &js_pin("@bytecodealliance/preview2-shim"))
    };
    for (path, text) in templates::files(args.lang) {
        write(&project.join(path), &fill(text))?;
    }
    Ok(project)
}

/// A missing or empty directory is fine; anything else would mix our files with someone's.
fn check_target(project: &Path) -> Result<(), NewError> {
    match std::fs::read_dir(project) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(NewError::NotEmpty(project.to_owned()));
            }
            Ok(())
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(_) if project.exists() => Err(NewError::NotADirectory(project.to_owned())),
        Err(source) => Err(NewError::Write { path: project.to_owned(), source }),
    }
}

/// The SDK directory, absolute, so the project builds wherever it is created.
fn sdk_dir(given: Option<PathBuf>) -> Result<PathBuf, NewError> {
    let dir = given.unwrap_or_else(default_sdk_path);
    let dir = std::path::absolute(&dir).unwrap_or(dir);
    let dir = dir.canonicalize().unwrap_or(dir);
    if !dir.join("Cargo.toml").is_file() {
        return Err(NewError::SdkMissing(dir));
    }
    Ok(dir)
}

/// The version the helper package pins for `package`, read from its own manifest, so a project
/// builds with what the tests built with. componentize-js loads preview2-shim at run time
/// without depending on it, hence the second pin.
fn js_pin(package: &str) -> String {
    serde_json::from_str::<serde_json::Value>(JS_SDK_PACKAGE)
        .ok()
        .and_then(|manifest| manifest["dependencies"][package].as_str().map(str::to_owned))
        .unwrap_or_else(|| "*".to_owned())
}

/// Escapes a path for a TOML basic string.
fn toml_escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

fn write(path: &Path, text: &str) -> Result<(), NewError> {
    let failed = |source| NewError::Write { path: path.to_owned(), source };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(failed)?;
    }
    std::fs::write(path, text).map_err(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(name: &str, lang: Lang, dir: &Path) -> NewArgs {
        NewArgs { name: name.to_owned(), lang, dir: dir.to_owned(), sdk: None }
    }

    #[test]
    fn every_placeholder_is_filled() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        for (lang, name) in [(Lang::Rust, "r-1"), (Lang::Js, "j-1"), (Lang::Python, "p-1")] {
            let project = scaffold(&args(name, lang, dir.path()))?;
            for (path, _) in templates::files(lang) {
                let text = std::fs::read_to_string(project.join(path))?;
                let unfilled = [
                    "{{name}}",
                    "{{module}}",
                    "{{wasm}}",
                    "{{sdk}}",
                    "{{upload}}",
                    "{{componentize_js}}",
                    "{{preview2_shim}}",
                ]
                .into_iter()
                .find(|placeholder| text.contains(placeholder));
                assert_eq!(unfilled, None, "{name}/{path}");
            }
        }
        Ok(())
    }

    #[test]
    fn refuses_bad_names_and_non_empty_dirs() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        for bad in ["", "My Plugin", "-x", "a/b", "..", &"a".repeat(65)] {
            let err = scaffold(&args(bad, Lang::Js, dir.path())).err();
            assert!(matches!(err, Some(NewError::InvalidName(_))), "{bad:?}: {err:?}");
        }
        std::fs::create_dir(dir.path().join("taken"))?;
        std::fs::write(dir.path().join("taken/keep.txt"), "mine")?;
        let err = scaffold(&args("taken", Lang::Python, dir.path())).err();
        assert!(matches!(err, Some(NewError::NotEmpty(_))), "{err:?}");
        assert_eq!(std::fs::read_dir(dir.path().join("taken"))?.count(), 1, "nothing was written");
        std::fs::create_dir(dir.path().join("empty"))?;
        scaffold(&args("empty", Lang::Python, dir.path()))?;
        Ok(())
    }

    #[test]
    fn the_rust_manifest_names_the_sdk_by_absolute_path() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let project = scaffold(&args("r", Lang::Rust, dir.path()))?;
        let manifest = std::fs::read_to_string(project.join("Cargo.toml"))?;
        let sdk = default_sdk_path().canonicalize()?;
        assert!(manifest.contains(&format!("guest-sdk = {{ path = \"{}\" }}", sdk.display())), "{manifest}");
        let mut bad = args("s", Lang::Rust, dir.path());
        bad.sdk = Some(dir.path().join("nowhere"));
        assert!(matches!(scaffold(&bad), Err(NewError::SdkMissing(_))));
        Ok(())
    }
}
