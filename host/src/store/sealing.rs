//! Project secrets sealed at rest: XChaCha20-Poly1305 under the operator's key, a random 192-bit
//! nonce per value, and the project and secret name as associated data, so a row copied to
//! another project or name does not open. Also the pass at open that seals legacy plaintext
//! rows and re-seals rows under the previous key (key rotation).
//!
//! A sealed value is `[format byte = 1][24-byte nonce][ciphertext + 16-byte tag]`.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::TryRngCore;
use rand::rngs::OsRng;
use rusqlite::{Connection, TransactionBehavior, params};

use super::StoreError;
use crate::secret_key::SecretKey;

const FORMAT_V1: u8 = 1;
const NONCE_BYTES: usize = 24;
/// Binds a ciphertext to this use, beside the project and name.
const AAD_CONTEXT: &[u8] = b"fallback-host/secret/v1";

/// Why a stored secret could not be opened. Never carries the value or the key.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// Authentication failed: a different key sealed it, or the row was tampered with or moved.
    #[error(
        "secret {project}/{name} cannot be decrypted with the secret key in force \
         (a different key sealed it, or the row was altered)"
    )]
    Unreadable { project: String, name: String },
    #[error("secret {project}/{name} is not in a known sealed format")]
    Malformed { project: String, name: String },
    #[error("secret {project}/{name} decrypts to text that is not UTF-8")]
    NotUtf8 { project: String, name: String },
    #[error("the operating system's random number generator failed: {0}")]
    Rng(#[from] rand::rand_core::OsError),
    #[error("sealing secret {project}/{name} failed")]
    Seal { project: String, name: String },
}

/// The cipher in force, and the one it replaces while a key rotation is under way.
pub struct Sealer {
    current: XChaCha20Poly1305,
    previous: Option<XChaCha20Poly1305>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer").field("previous", &self.previous.is_some()).finish_non_exhaustive()
    }
}

/// What the open-time pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ResealReport {
    /// Legacy plaintext rows now sealed.
    pub sealed: usize,
    /// Rows sealed under the previous key, now under the current one.
    pub rotated: usize,
}

fn aad(project: &str, name: &str) -> Vec<u8> {
    // Ids cannot contain NUL, so the encoding is unambiguous.
    [AAD_CONTEXT, b"\0", project.as_bytes(), b"\0", name.as_bytes()].concat()
}

impl Sealer {
    pub fn new(current: &SecretKey, previous: Option<&SecretKey>) -> Self {
        let cipher = |key: &SecretKey| XChaCha20Poly1305::new(key.bytes().into());
        Self { current: cipher(current), previous: previous.map(cipher) }
    }

    pub fn seal(&self, project: &str, name: &str, value: &str) -> Result<Vec<u8>, SealError> {
        let mut nonce = [0u8; NONCE_BYTES];
        OsRng.try_fill_bytes(&mut nonce)?;
        let aad = aad(project, name);
        let ciphertext = self
            .current
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: value.as_bytes(), aad: &aad })
            .map_err(|_| SealError::Seal { project: project.to_owned(), name: name.to_owned() })?;
        let mut sealed = Vec::with_capacity(1 + NONCE_BYTES + ciphertext.len());
        sealed.push(FORMAT_V1);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        Ok(sealed)
    }

    /// Opens a value sealed under the current key.
    pub fn open(&self, project: &str, name: &str, sealed: &[u8]) -> Result<String, SealError> {
        open_with(&self.current, project, name, sealed)
    }

    /// Opens under the current key, else the previous one; `true` when the previous one did it.
    pub(super) fn open_any(
        &self,
        project: &str,
        name: &str,
        sealed: &[u8],
    ) -> Result<(String, bool), SealError> {
        match open_with(&self.current, project, name, sealed) {
            Err(SealError::Unreadable { .. }) if self.previous.is_some() => {
                let previous = self.previous.as_ref().ok_or_else(|| SealError::Unreadable {
                    project: project.to_owned(),
                    name: name.to_owned(),
                })?;
                open_with(previous, project, name, sealed).map(|value| (value, true))
            }
            other => other.map(|value| (value, false)),
        }
    }

    /// Seals every plaintext row and re-seals every row the previous key sealed, in one
    /// transaction; fails (changing nothing) on a row neither key opens, so a host with the wrong
    /// key refuses to start rather than run with secrets it cannot read.
    ///
    /// When rows changed, the WAL is checkpointed and truncated so no copy of the plaintext (or
    /// of the old ciphertext) stays in it; `secure_delete` zeroes the freed cells in the database.
    pub fn reseal_all(&self, conn: &mut Connection) -> Result<ResealReport, StoreError> {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let rows: Vec<(String, String, String, Option<Vec<u8>>)> = {
            let mut stmt = tx.prepare("SELECT project, name, value, sealed FROM secrets")?;
            let rows = stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)))?;
            rows.collect::<Result<_, _>>()?
        };
        let mut report = ResealReport::default();
        for (project, name, value, sealed) in rows {
            let plaintext = match sealed {
                None => {
                    report.sealed += 1;
                    value
                }
                Some(sealed) => match self.open_any(&project, &name, &sealed)? {
                    (_, false) => continue,
                    (plaintext, true) => {
                        report.rotated += 1;
                        plaintext
                    }
                },
            };
            let sealed = self.seal(&project, &name, &plaintext)?;
            tx.execute(
                "UPDATE secrets SET value = '', sealed = ?3 WHERE project = ?1 AND name = ?2",
                params![project, name, sealed],
            )?;
        }
        tx.commit()?;
        if report != ResealReport::default() {
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        }
        Ok(report)
    }
}

fn open_with(
    cipher: &XChaCha20Poly1305,
    project: &str,
    name: &str,
    sealed: &[u8],
) -> Result<String, SealError> {
    let malformed = || SealError::Malformed { project: project.to_owned(), name: name.to_owned() };
    let (&format, rest) = sealed.split_first().ok_or_else(malformed)?;
    if format != FORMAT_V1 || rest.len() < NONCE_BYTES {
        return Err(malformed());
    }
    let (nonce, ciphertext) = rest.split_at(NONCE_BYTES);
    let aad = aad(project, name);
    let plaintext = cipher
        .decrypt(XNonce::from_slice(nonce), Payload { msg: ciphertext, aad: &aad })
        .map_err(|_| SealError::Unreadable { project: project.to_owned(), name: name.to_owned() })?;
    String::from_utf8(plaintext)
        .map_err(|_| SealError::NotUtf8 { project: project.to_owned(), name: name.to_owned() })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn key() -> SecretKey {
        SecretKey::generate().unwrap()
    }

    #[test]
    fn sealed_values_open_only_with_their_key_project_and_name() {
        let (a, b) = (key(), key());
        let sealer = Sealer::new(&a, None);
        let sealed = sealer.seal("p", "token", "s3cr3t-value").unwrap();
        assert!(!sealed.windows(12).any(|w| w == b"s3cr3t-value"));
        assert_eq!(sealer.open("p", "token", &sealed).unwrap(), "s3cr3t-value");
        assert_ne!(sealed, sealer.seal("p", "token", "s3cr3t-value").unwrap(), "a fresh nonce each time");

        assert!(matches!(sealer.open("q", "token", &sealed), Err(SealError::Unreadable { .. })));
        assert!(matches!(sealer.open("p", "other", &sealed), Err(SealError::Unreadable { .. })));
        assert!(matches!(
            Sealer::new(&b, None).open("p", "token", &sealed),
            Err(SealError::Unreadable { .. })
        ));
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(matches!(sealer.open("p", "token", &tampered), Err(SealError::Unreadable { .. })));
        assert!(matches!(sealer.open("p", "token", &[]), Err(SealError::Malformed { .. })));
        assert!(matches!(sealer.open("p", "token", &[2; 64]), Err(SealError::Malformed { .. })));

        let rotating = Sealer::new(&b, Some(&a));
        assert_eq!(rotating.open_any("p", "token", &sealed).unwrap(), ("s3cr3t-value".to_owned(), true));
    }
}
