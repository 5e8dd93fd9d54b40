//! `fallback-host apply FILE`: checks the file, reads the project, prints the plan and (unless
//! `--dry-run`) makes each change through the API, in the plan's order.

use std::fmt::Write as _;
use std::path::Path;

use http::Method;
use serde_json::{Value, json};

use super::ProjectFileError;
use super::check::check;
use super::client::{ApiClient, Body};
use super::format::ProjectFile;
use super::plan::{Change, Plan, plan};
use super::remote;

/// What `apply` was asked to do.
pub struct ApplyArgs<'a> {
    pub file: &'a Path,
    /// Another project than the file's.
    pub project: Option<&'a str>,
    pub dry_run: bool,
}

/// Applies the file; answers the report (the plan, then what was done).
pub async fn apply(client: &ApiClient, args: ApplyArgs<'_>) -> Result<String, ProjectFileError> {
    let text = std::fs::read_to_string(args.file)
        .map_err(|source| ProjectFileError::Read { path: args.file.to_owned(), source })?;
    let file = ProjectFile::parse(&text)
        .map_err(|source| ProjectFileError::Format { path: args.file.to_owned(), source })?;
    let dir = args.file.parent().unwrap_or(Path::new("."));
    let checked = check(file, dir)
        .map_err(|problems| ProjectFileError::Invalid { path: args.file.to_owned(), problems })?;
    let project = args.project.unwrap_or(&checked.file.project).to_owned();
    let remote = remote::read(client, &project).await?;
    let Plan { changes, notes } = plan(&checked, &project, remote.as_ref());

    let mut report = String::new();
    for note in &notes {
        let _ = writeln!(report, "{note}");
    }
    if changes.is_empty() {
        report.push_str("no changes\n");
        return Ok(report);
    }
    for change in &changes {
        let _ = writeln!(report, "{change}");
    }
    if args.dry_run {
        let _ = writeln!(report, "dry run: {} change(s), none made", changes.len());
        return Ok(report);
    }
    let base = format!("/v1/projects/{project}");
    for (done, change) in changes.iter().enumerate() {
        match make(client, &base, change).await {
            Ok(Some(key)) => {
                let _ = writeln!(report, "  the project's key, shown once: {key}");
            }
            Ok(None) => {}
            Err(source) => {
                return Err(ProjectFileError::Partial { report, done, change: change.to_string(), source });
            }
        }
    }
    let _ = writeln!(report, "applied {} change(s)", changes.len());
    Ok(report)
}

/// Makes one change; a created project answers its new key.
async fn make(client: &ApiClient, base: &str, change: &Change) -> Result<Option<String>, super::ClientError> {
    let json = Body::Json;
    match change {
        Change::CreateProject { id, name, match_threshold } => {
            let body = json!({ "id": id, "name": name, "match_threshold": match_threshold });
            let answer = client.send(Method::POST, "/v1/projects", json(body)).await?;
            let answer: Value = serde_json::from_slice(&answer).unwrap_or_default();
            return Ok(answer.get("api_key").and_then(Value::as_str).map(str::to_owned));
        }
        Change::SetThreshold { to, .. } => {
            client.send(Method::PATCH, base, json(json!({ "match_threshold": to }))).await?;
        }
        Change::PutWebhook { id, spec, .. } => {
            client.send(Method::PUT, &format!("{base}/webhooks/{id}"), to_json(spec)).await?;
        }
        Change::UploadPlugin { webhook, wasm, .. } => {
            let path = format!("{base}/webhooks/{webhook}/plugin");
            client.send(Method::PUT, &path, Body::Wasm(wasm.clone())).await?;
        }
        Change::ActivatePlugin { webhook, version, .. } => {
            let path = format!("{base}/webhooks/{webhook}/plugin/rollback");
            client.send(Method::POST, &path, json(json!({ "version": version }))).await?;
        }
        Change::DetachPlugin { webhook } => {
            client.send(Method::DELETE, &format!("{base}/webhooks/{webhook}/plugin"), Body::Empty).await?;
        }
        Change::SetFallback { fallback, .. } => {
            client.send(Method::PUT, &format!("{base}/fallback"), to_json(fallback)).await?;
        }
        Change::PutIntent { id, body, .. } => {
            client.send(Method::PUT, &format!("{base}/intents/{id}"), to_json(body)).await?;
        }
        Change::DeleteIntent { id } => {
            client.send(Method::DELETE, &format!("{base}/intents/{id}"), Body::Empty).await?;
        }
        Change::DeleteWebhook { id } => {
            client.send(Method::DELETE, &format!("{base}/webhooks/{id}"), Body::Empty).await?;
        }
    }
    Ok(None)
}

/// The API's own types always serialise (string keys, no non-finite floats reach them).
fn to_json<T: serde::Serialize>(value: &T) -> Body {
    Body::Json(serde_json::to_value(value).unwrap_or_default())
}
