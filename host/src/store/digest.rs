//! The check both backends make before storing plugin bytes: the caller's sha256 is the
//! digest of the bytes, since every upload with that digest shares the stored blob.

use sha2::{Digest, Sha256};

use super::StoreError;

/// Hashes `wasm` on the blocking pool (a 32 MiB upload takes a while) and hands the bytes back
/// if `claimed` is their lower-case hex sha256; `DigestMismatch` otherwise.
pub(super) async fn verified(claimed: String, wasm: Vec<u8>) -> Result<Vec<u8>, StoreError> {
    tokio::task::spawn_blocking(move || {
        let actual = hex::encode(Sha256::digest(&wasm));
        if actual == claimed { Ok(wasm) } else { Err(StoreError::DigestMismatch { claimed, actual }) }
    })
    .await?
}
