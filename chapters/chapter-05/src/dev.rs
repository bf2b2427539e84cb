//! `--dev`: the development certificates and ACL, built into the binary.
//!
//! A newcomer's first command must work from anywhere, including a binary
//! copied out of the checkout it was built in. So the files `--dev` uses
//! (the CFSSL development PKI in `certs/` and the ACL in `policies/`) are
//! compiled into the binary with `include_bytes!`, and written, when asked
//! for, into a private temporary directory (0700, files 0600) that is
//! removed when the [`DevFiles`] value is dropped: the TLS and ACL loaders
//! read files, so that an operator's real ones and these go the same way.
//!
//! These keys are public (they are in the repository): anyone can be
//! `root` to a `--dev` server. The server says so loudly when it starts.

use std::fmt;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

// ANCHOR: files
/// A development file: its path in the repository, and its bytes.
macro_rules! dev_file {
    ($path:literal) => {
        ($path, include_bytes!(concat!("../../../", $path)))
    };
}

/// Every development file.
const FILES: [(&str, &[u8]); 11] = [
    dev_file!("certs/ca.pem"),
    dev_file!("certs/server.pem"),
    dev_file!("certs/server-key.pem"),
    dev_file!("certs/root-client.pem"),
    dev_file!("certs/root-client-key.pem"),
    dev_file!("certs/nobody-client.pem"),
    dev_file!("certs/nobody-client-key.pem"),
    dev_file!("certs/peer.pem"),
    dev_file!("certs/peer-key.pem"),
    dev_file!("policies/model.conf"),
    dev_file!("policies/policy.csv"),
];
// ANCHOR_END: files

// ANCHOR: dev_files
/// The development files, unpacked; removed when the last clone is dropped.
#[derive(Clone)]
pub struct DevFiles {
    dir: Arc<tempfile::TempDir>,
}

impl DevFiles {
    /// Writes every development file into a new private directory.
    ///
    /// # Errors
    /// When the temporary directory or a file cannot be written.
    pub fn unpack() -> std::io::Result<DevFiles> {
        let dir = tempfile::Builder::new().prefix("proglog-dev-").tempdir()?;
        for (name, bytes) in FILES {
            let path = dir.path().join(name);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)?
                .write_all(bytes)?;
        }
        Ok(DevFiles { dir: Arc::new(dir) })
    }

    /// The unpacked file at `name` (its path in the repository: `certs/ca.pem`).
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The directory they are in.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}
// ANCHOR_END: dev_files

impl fmt::Debug for DevFiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("DevFiles").field(&self.dir.path()).finish()
    }
}

impl PartialEq for DevFiles {
    fn eq(&self, other: &Self) -> bool {
        self.dir.path() == other.dir.path()
    }
}

impl Eq for DevFiles {}

#[cfg(test)]
mod tests {
    use super::*;

    // The built-in files are the repository's, unpacked privately, and gone
    // when dropped.
    #[test]
    fn unpacks_the_repository_files_privately() {
        use std::os::unix::fs::PermissionsExt;
        let files = DevFiles::unpack().unwrap();
        let repository = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        for (name, _) in FILES {
            assert_eq!(
                std::fs::read(files.path(name)).unwrap(),
                std::fs::read(repository.join(name)).unwrap(),
                "{name}"
            );
            let mode = std::fs::metadata(files.path(name))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{name}");
        }
        let dir = files.dir().to_path_buf();
        drop(files);
        assert!(!dir.exists());
    }
}
