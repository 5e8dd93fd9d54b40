//! Files only the host's user may read: the admin token and the secret key in the data dir.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

/// Creates `path` readable by its owner only and writes `contents`. `create_new` also refuses
/// to follow a symlink planted at `path` or to clobber a file another process just created.
pub(crate) fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}
