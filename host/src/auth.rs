//! Auth primitives: token generation, hashing and checking, the admin token's lifecycle, and
//! `Authorization: Bearer` parsing. The HTTP layer decides who may do what; this only says who.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use rand::TryRngCore;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use thiserror::Error;

use crate::private_file::write_private;

/// Prefix of project keys, so a leaked key is recognisable (and greppable by secret scanners).
pub const PROJECT_KEY_PREFIX: &str = "fbk_";
/// Prefix of the operator's admin token.
pub const ADMIN_TOKEN_PREFIX: &str = "fba_";
/// The admin token's file inside the data dir.
pub const ADMIN_TOKEN_FILE: &str = "admin_token";

#[derive(Debug, Error)]
pub enum AuthError {
    #[error("the operating system's random number generator failed: {0}")]
    Rng(#[from] rand::rand_core::OsError),
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read admin token file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write admin token file {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// An empty token would let anyone in with an empty bearer: refuse to start instead.
    #[error("the admin token from {0} is empty")]
    Empty(String),
}

/// A fresh `prefix` + 64 hex digits (256 bits from the OS RNG).
pub fn try_generate_token(prefix: &str) -> Result<String, AuthError> {
    let mut bytes = [0u8; 32];
    OsRng.try_fill_bytes(&mut bytes)?;
    Ok(format!("{prefix}{}", hex::encode(bytes)))
}

/// [`try_generate_token`] for request paths (creating a project).
///
/// # Panics
/// If the OS RNG fails. On Linux `getrandom` only fails before the kernel's pool is seeded at
/// boot or on a broken kernel; issuing a key without real randomness would be worse than
/// failing the request, and there is nothing a caller could do with the error.
pub fn generate_token(prefix: &str) -> String {
    match try_generate_token(prefix) {
        Ok(token) => token,
        Err(err) => panic!("{err}"),
    }
}

/// SHA-256 of the token, as lower-case hex: what is stored instead of the token.
///
/// A single fast hash is right here, unlike for passwords: tokens are 256 bits of OS randomness,
/// so there is no dictionary to try and brute force is out of reach however fast the hash is,
/// while a slow KDF would cost every API request real CPU.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Whether `token` hashes to `hash_hex`, compared in constant time so response timing reveals
/// nothing about how much of a guessed hash matched.
pub fn verify_token(token: &str, hash_hex: &str) -> bool {
    hash_token(token).as_bytes().ct_eq(hash_hex.as_bytes()).into()
}

/// The operator's token, held only as its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminToken {
    pub hash: String,
}

impl AdminToken {
    pub fn verify(&self, token: &str) -> bool {
        verify_token(token, &self.hash)
    }
}

/// The admin token, from (in order) `from_env` (`FALLBACK_ADMIN_TOKEN`, never written to disk),
/// `data_dir/admin_token`, or a new one written there with mode 0600.
///
/// Returns the plaintext as well only when it was just generated, so the caller prints it once.
/// The file holds the plaintext rather than a hash so the operator can read it again later; its
/// mode is what protects it, which is why it is created with that mode rather than chmod-ed after.
pub fn load_or_create_admin_token(
    data_dir: &Path,
    from_env: Option<&str>,
) -> Result<(AdminToken, Option<String>), AuthError> {
    if let Some(token) = from_env {
        let token = token.trim();
        if token.is_empty() {
            return Err(AuthError::Empty("FALLBACK_ADMIN_TOKEN".to_owned()));
        }
        return Ok((AdminToken { hash: hash_token(token) }, None));
    }
    std::fs::create_dir_all(data_dir)
        .map_err(|source| AuthError::DataDir { path: data_dir.to_owned(), source })?;
    let path = data_dir.join(ADMIN_TOKEN_FILE);
    match std::fs::read_to_string(&path) {
        Ok(contents) => {
            // Operators may edit the file; a trailing newline is not part of the token.
            let token = contents.trim();
            if token.is_empty() {
                return Err(AuthError::Empty(path.display().to_string()));
            }
            Ok((AdminToken { hash: hash_token(token) }, None))
        }
        Err(err) if err.kind() == ErrorKind::NotFound => {
            let token = try_generate_token(ADMIN_TOKEN_PREFIX)?;
            write_private(&path, &format!("{token}\n"))
                .map_err(|source| AuthError::Write { path: path.clone(), source })?;
            Ok((AdminToken { hash: hash_token(&token) }, Some(token)))
        }
        Err(source) => Err(AuthError::Read { path, source }),
    }
}

/// The token of an `Authorization: Bearer <token>` header value (scheme case-insensitive);
/// `None` for any other scheme, or an empty or space-containing token.
pub fn bearer_token(header_value: &str) -> Option<&str> {
    let (scheme, token) = header_value.trim().split_once(' ')?;
    let token = token.trim_start_matches(' ');
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && !token.contains(char::is_whitespace))
        .then_some(token)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_are_prefixed_random_and_256_bit() {
        let a = generate_token(PROJECT_KEY_PREFIX);
        let b = generate_token(PROJECT_KEY_PREFIX);
        assert!(a.starts_with("fbk_"));
        assert_eq!(a.len(), 4 + 64);
        assert!(a[4..].chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
        assert!(generate_token(ADMIN_TOKEN_PREFIX).starts_with("fba_"));
    }

    #[test]
    fn hash_is_sha256_hex_and_verify_checks_it() {
        // SHA-256("abc"), FIPS 180-2 test vector.
        assert_eq!(hash_token("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        let token = generate_token(PROJECT_KEY_PREFIX);
        let hash = hash_token(&token);
        assert!(verify_token(&token, &hash));
        assert!(!verify_token(&format!("{token}x"), &hash));
        assert!(!verify_token(&token, &hash[..63]));
        assert!(!verify_token(&token, ""));
        assert!(!verify_token(&hash, &hash), "the hash itself is not a credential");
    }

    #[test]
    fn bearer_parsing() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer abc"), Some("abc"));
        assert_eq!(bearer_token("BEARER  abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("Bearer a b"), None);
        assert_eq!(bearer_token("Bearerabc"), None);
        assert_eq!(bearer_token(""), None);
    }

    #[test]
    fn admin_token_is_generated_once_with_mode_0600_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("nested/data");
        let (first, plaintext) = load_or_create_admin_token(&data_dir, None).unwrap();
        let plaintext = plaintext.expect("a new token is returned to print");
        assert!(plaintext.starts_with(ADMIN_TOKEN_PREFIX));
        assert!(first.verify(&plaintext));

        let path = data_dir.join(ADMIN_TOKEN_FILE);
        assert_eq!(std::fs::read_to_string(&path).unwrap().trim(), plaintext);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }

        let (again, printed) = load_or_create_admin_token(&data_dir, None).unwrap();
        assert_eq!(again, first);
        assert_eq!(printed, None, "an existing token is not printed again");
    }

    #[test]
    fn env_token_wins_and_is_not_written() {
        let dir = tempfile::tempdir().unwrap();
        let (from_file, _) = load_or_create_admin_token(dir.path(), None).unwrap();
        let (token, printed) = load_or_create_admin_token(dir.path(), Some("operator-secret")).unwrap();
        assert!(token.verify("operator-secret"));
        assert_ne!(token, from_file);
        assert_eq!(printed, None);

        let fresh = tempfile::tempdir().unwrap();
        load_or_create_admin_token(fresh.path(), Some("operator-secret")).unwrap();
        assert!(!fresh.path().join(ADMIN_TOKEN_FILE).exists());
    }

    #[test]
    fn empty_tokens_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(load_or_create_admin_token(dir.path(), Some(" ")), Err(AuthError::Empty(_))));
        std::fs::write(dir.path().join(ADMIN_TOKEN_FILE), "\n").unwrap();
        assert!(matches!(load_or_create_admin_token(dir.path(), None), Err(AuthError::Empty(_))));
    }
}
