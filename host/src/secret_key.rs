//! The key that seals project secrets at rest: parsed from `FALLBACK_SECRET_KEY`, or generated at
//! first start into `data_dir/secret_key` with mode 0600, beside the admin token.
//!
//! A key is 32 bytes, written as 64 hex digits or as standard base64. It never appears in a
//! `Debug` or an error message: only where it came from does.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use rand::TryRngCore;
use rand::rngs::OsRng;
use thiserror::Error;

use crate::private_file::write_private;

/// The key file's name inside the data dir.
pub const SECRET_KEY_FILE: &str = "secret_key";
/// The length of a key, in bytes.
pub const SECRET_KEY_BYTES: usize = 32;

/// A 256-bit key. Cloning copies the bytes; `Debug` shows nothing of them.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey([u8; SECRET_KEY_BYTES]);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

impl<'de> serde::Deserialize<'de> for SecretKey {
    /// From the config file's text; the error never repeats the text.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Why a text is not a key. Deliberately says nothing of the text itself.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error(
    "a secret key is {SECRET_KEY_BYTES} bytes written as 64 hex digits or as base64 \
     (e.g. the output of `openssl rand -hex 32`)"
)]
pub struct KeyFormatError;

impl SecretKey {
    /// 64 hex digits, or base64 (standard alphabet, padded or not) of exactly 32 bytes.
    pub fn parse(text: &str) -> Result<Self, KeyFormatError> {
        let text = text.trim();
        let bytes = if text.len() == 2 * SECRET_KEY_BYTES && text.chars().all(|c| c.is_ascii_hexdigit()) {
            hex::decode(text).map_err(|_| KeyFormatError)?
        } else {
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(text))
                .map_err(|_| KeyFormatError)?
        };
        let bytes: [u8; SECRET_KEY_BYTES] = bytes.try_into().map_err(|_| KeyFormatError)?;
        Ok(Self(bytes))
    }

    /// A fresh key from the OS RNG.
    pub fn generate() -> Result<Self, SecretKeyError> {
        let mut bytes = [0u8; SECRET_KEY_BYTES];
        OsRng.try_fill_bytes(&mut bytes)?;
        Ok(Self(bytes))
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub(crate) fn bytes(&self) -> &[u8; SECRET_KEY_BYTES] {
        &self.0
    }
}

#[derive(Debug, Error)]
pub enum SecretKeyError {
    #[error("the operating system's random number generator failed: {0}")]
    Rng(#[from] rand::rand_core::OsError),
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read secret key file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write secret key file {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("secret key file {path} is invalid: {source}")]
    Format {
        path: PathBuf,
        #[source]
        source: KeyFormatError,
    },
}

/// Where the key in force came from: named in errors so the operator knows what to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `FALLBACK_SECRET_KEY` or the config file's `secret_key`: never written to disk.
    Configured,
    /// The data dir's key file, as found.
    File(PathBuf),
    /// The data dir's key file, generated at this start.
    Generated(PathBuf),
}

impl std::fmt::Display for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Configured => f.write_str("secret_key (FALLBACK_SECRET_KEY)"),
            Self::File(path) | Self::Generated(path) => write!(f, "the key file {}", path.display()),
        }
    }
}

/// The key, from (in order) `configured` (`FALLBACK_SECRET_KEY`), `data_dir/secret_key`, or a
/// new one written there with mode 0600; and where it came from.
///
/// Losing the file loses every secret, which is why it is only ever created, never replaced:
/// `create_new` also refuses to follow a symlink planted at its path.
pub fn load_or_create_secret_key(
    data_dir: &Path,
    configured: Option<&SecretKey>,
) -> Result<(SecretKey, KeySource), SecretKeyError> {
    if let Some(key) = configured {
        return Ok((key.clone(), KeySource::Configured));
    }
    std::fs::create_dir_all(data_dir)
        .map_err(|source| SecretKeyError::DataDir { path: data_dir.to_owned(), source })?;
    let path = data_dir.join(SECRET_KEY_FILE);
    match std::fs::read_to_string(&path) {
        Ok(contents) => {
            let key = SecretKey::parse(&contents)
                .map_err(|source| SecretKeyError::Format { path: path.clone(), source })?;
            Ok((key, KeySource::File(path)))
        }
        Err(error) if error.kind() == ErrorKind::NotFound => {
            let key = SecretKey::generate()?;
            write_private(&path, &format!("{}\n", key.to_hex()))
                .map_err(|source| SecretKeyError::Write { path: path.clone(), source })?;
            Ok((key, KeySource::Generated(path)))
        }
        Err(source) => Err(SecretKeyError::Read { path, source }),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_from_hex_or_base64_of_32_bytes() {
        let hex_key = "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF";
        let key = SecretKey::parse(hex_key).unwrap();
        assert_eq!(key.to_hex(), hex_key.to_lowercase());
        let b64 = base64::engine::general_purpose::STANDARD.encode(key.bytes());
        assert_eq!(SecretKey::parse(&b64).unwrap(), key);
        assert_eq!(SecretKey::parse(b64.trim_end_matches('=')).unwrap(), key);
        assert_eq!(SecretKey::parse(&format!(" {hex_key}\n")).unwrap(), key);
        for bad in ["", "00", &hex_key[..62], &format!("{hex_key}00"), "not a key at all!", "AAAA"] {
            assert_eq!(SecretKey::parse(bad), Err(KeyFormatError), "{bad:?}");
        }
        assert!(!format!("{key:?}").contains("0011"), "Debug never shows the key");
    }

    #[test]
    fn the_key_file_is_generated_once_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let (key, source) = load_or_create_secret_key(dir.path(), None).unwrap();
        let path = dir.path().join(SECRET_KEY_FILE);
        assert_eq!(source, KeySource::Generated(path.clone()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let (again, source) = load_or_create_secret_key(dir.path(), None).unwrap();
        assert_eq!((again, source), (key, KeySource::File(path.clone())));

        let configured = SecretKey::generate().unwrap();
        let fresh = tempfile::tempdir().unwrap();
        let (used, source) = load_or_create_secret_key(fresh.path(), Some(&configured)).unwrap();
        assert_eq!((used, source), (configured, KeySource::Configured));
        assert!(!fresh.path().join(SECRET_KEY_FILE).exists(), "a configured key is never written");

        std::fs::write(&path, "garbage").unwrap();
        assert!(matches!(load_or_create_secret_key(dir.path(), None), Err(SecretKeyError::Format { .. })));
    }
}
