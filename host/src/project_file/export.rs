//! `fallback-host export PROJECT`: the project as one file, each active plugin downloaded beside
//! it (`GET …/plugin/versions/{n}`) and named by a path relative to the file, with its sha256.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use http::Method;

use super::ProjectFileError;
use super::client::{ApiClient, Body};
use super::format::{PluginFile, ProjectFile, VERSION};
use super::remote;

pub struct ExportArgs<'a> {
    pub project: &'a str,
    /// Where the file goes; `None`: standard output, paths relative to the current directory.
    pub out: Option<&'a Path>,
    /// Where plugins go [default: `plugins/` beside the file].
    pub plugins_dir: Option<&'a Path>,
}

/// The file's text and what the user should know (a plugin the host would not hand over).
pub struct Exported {
    pub text: String,
    pub notes: Vec<String>,
}

pub async fn export(client: &ApiClient, args: ExportArgs<'_>) -> Result<Exported, ProjectFileError> {
    let remote = remote::read(client, args.project)
        .await?
        .ok_or_else(|| ProjectFileError::NoProject(args.project.to_owned()))?;
    let base = args.out.and_then(Path::parent).unwrap_or(Path::new(""));
    let plugins_dir = args.plugins_dir.map(Path::to_path_buf).unwrap_or_else(|| base.join("plugins"));
    let mut plugins = BTreeMap::new();
    let mut notes = Vec::new();
    for (webhook, versions) in &remote.plugins {
        let (Some(active), Some(sha256)) = (versions.active, remote.active_sha256(webhook)) else {
            continue;
        };
        let target = plugins_dir.join(format!("{webhook}.wasm"));
        let path = format!("/v1/projects/{}/webhooks/{webhook}/plugin/versions/{active}", args.project);
        match client.send(Method::GET, &path, Body::Empty).await {
            Ok(wasm) => {
                if let Some(dir) = target.parent() {
                    std::fs::create_dir_all(dir)
                        .map_err(|source| ProjectFileError::Write { path: dir.to_owned(), source })?;
                }
                std::fs::write(&target, &wasm)
                    .map_err(|source| ProjectFileError::Write { path: target.clone(), source })?;
            }
            // A host without the download route: the digest still pins which build belongs there.
            Err(error) if error.is_not_found() => notes.push(format!(
                "plugin {webhook}: this host does not hand out plugin bytes; put version {active} (sha256 {sha256}) at {}",
                target.display()
            )),
            Err(error) => return Err(error.into()),
        }
        let file = relative(&target, base).to_string_lossy().into_owned();
        plugins.insert(webhook.clone(), PluginFile { file, sha256: sha256.to_owned() });
    }
    let file = ProjectFile {
        version: VERSION,
        project: remote.project.id,
        name: remote.project.name,
        match_threshold: remote.project.match_threshold,
        secrets: remote.secrets,
        fallback: remote.fallback,
        intents: remote.intents,
        webhooks: remote.webhooks,
        plugins,
    };
    let text = file.render()?;
    if let Some(out) = args.out {
        // `--out shop/project.toml` in a fresh checkout: the folder is the user's to name.
        if let Some(dir) = out.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|source| ProjectFileError::Write { path: dir.to_owned(), source })?;
        }
        std::fs::write(out, &text)
            .map_err(|source| ProjectFileError::Write { path: out.to_owned(), source })?;
    }
    Ok(Exported { text, notes })
}

/// `path` as the file will name it: relative to the file's directory when inside it.
fn relative(path: &Path, base: &Path) -> PathBuf {
    path.strip_prefix(base).map(Path::to_path_buf).unwrap_or_else(|_| path.to_path_buf())
}
