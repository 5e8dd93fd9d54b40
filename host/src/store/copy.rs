//! `db copy`: every project, with everything it owns, from one store into another (either
//! backend to either), then the two stores' row counts compared.

use super::{Store, StoreCounts, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("the target already holds data ({0}); pass --replace to delete it first")]
    TargetNotEmpty(StoreCounts),
    /// The source changed during the copy, or a row did not make it: the target is not a copy.
    #[error("the copy is incomplete: the source holds {source_counts}, the target {target_counts}")]
    CountsDiffer { source_counts: StoreCounts, target_counts: StoreCounts },
    #[error("reading project {project} from the source")]
    Export {
        project: String,
        #[source]
        cause: StoreError,
    },
    #[error("writing project {project} to the target")]
    Import {
        project: String,
        #[source]
        cause: StoreError,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Copies everything from `source` into `target`, one project per transaction. A target that
/// holds anything is refused unless `replace`, which deletes its projects first. Answers the
/// counts both ends agree on; a source written to meanwhile makes them differ, which fails.
pub async fn copy(source: &dyn Store, target: &dyn Store, replace: bool) -> Result<StoreCounts, CopyError> {
    let existing = target.counts().await?;
    if !existing.is_empty() {
        if !replace {
            return Err(CopyError::TargetNotEmpty(existing));
        }
        for project in target.list_projects().await? {
            target.delete_project(&project.id).await?;
        }
    }
    for project in source.list_projects().await? {
        let id = project.id;
        let dump = source
            .export_project(&id)
            .await
            .map_err(|cause| CopyError::Export { project: id.clone(), cause })?;
        // Deleted since it was listed: the count check below tells whether that mattered.
        let Some(dump) = dump else { continue };
        target.import_project(dump).await.map_err(|cause| CopyError::Import { project: id, cause })?;
    }
    let (source_counts, target_counts) = (source.counts().await?, target.counts().await?);
    if source_counts != target_counts {
        return Err(CopyError::CountsDiffer { source_counts, target_counts });
    }
    Ok(target_counts)
}
