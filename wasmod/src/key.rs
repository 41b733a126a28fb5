//! The host's artifact key: the secret that authenticates the compiled artifacts in the
//! store (the runtime loads only artifacts sealed under it, see
//! `wasmod_runtime::RuntimeBuilder::artifact_key`).
//!
//! The store is not trusted more than any other input: whoever can write its
//! `artifacts/` could otherwise have arbitrary native code loaded. So the key lives
//! outside the store, in a file only its owner may read, by default
//! `$XDG_CONFIG_HOME/wasmod/artifact.key` (or `~/.config/wasmod/artifact.key`), and is
//! made on first use. A key file inside the store is refused.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Why the artifact key could not be had.
#[derive(Debug, thiserror::Error)]
#[error("the artifact key at `{}`: {reason}", path.display())]
pub struct KeyError {
    /// The key file's path, as configured (`HostBuilder::artifact_key_file` or the default).
    pub path: PathBuf,
    /// Why it was refused or could not be read or made, as text.
    pub reason: String,
}

/// The environment variable that names the key file.
pub const KEY_FILE_ENV: &str = "WASMOD_ARTIFACT_KEY";

const KEY_LEN: usize = 32;

/// Where the key is kept when the embedder does not say: [`KEY_FILE_ENV`], else the
/// user's configuration directory; `None` if there is none.
pub(crate) fn default_path() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(KEY_FILE_ENV).filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").filter(|p| !p.is_empty()).map(|h| PathBuf::from(h).join(".config")))?;
    Some(config.join("wasmod").join("artifact.key"))
}

/// Reads the key at `path`, making it first if there is none. Refuses a path inside
/// `store`, and a key file others may read or write.
pub(crate) fn load_or_create(path: &Path, store: &Path) -> Result<[u8; KEY_LEN], KeyError> {
    let err = |reason: String| KeyError { path: path.to_path_buf(), reason };
    if resolved(path).starts_with(resolved(store)) {
        return Err(err("it is inside the store, which it authenticates; keep it elsewhere".into()));
    }
    match std::fs::read(path) {
        Ok(bytes) => {
            check_private(path).map_err(err)?;
            bytes.try_into().map_err(|b: Vec<u8>| err(format!("it holds {} bytes, not {KEY_LEN}", b.len())))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => create(path).map_err(err),
        Err(e) => Err(err(e.to_string())),
    }
}

/// `path` made absolute with its existing part's links resolved, so that two spellings
/// of one place compare equal.
fn resolved(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut existing = absolute.as_path();
    let mut rest = Vec::new();
    loop {
        if let Ok(real) = existing.canonicalize() {
            return rest.iter().rev().fold(real, |p, c| p.join(c));
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                existing = parent;
            }
            _ => return absolute,
        }
    }
}

#[cfg(unix)]
fn check_private(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).map_err(|e| e.to_string())?.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(format!(
            "others may read or write it (mode {:o}); make it readable by its owner only",
            mode & 0o777
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_: &Path) -> Result<(), String> {
    Ok(())
}

/// Makes a new random key file, whole or not at all: written under a temporary name in
/// the same directory, then linked into place (if another process made one meanwhile,
/// its key is the one).
fn create(path: &Path) -> Result<[u8; KEY_LEN], String> {
    let mut key = [0; KEY_LEN];
    getrandom::fill(&mut key).map_err(|e| format!("the OS random source failed: {e}"))?;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let tmp = dir.join(crate::store::unique_name(".artifact-key"));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(&tmp).and_then(|mut f| {
        f.write_all(&key)?;
        f.sync_all()
    });
    let linked = written.and_then(|()| std::fs::hard_link(&tmp, path));
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(key),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
            bytes.try_into().map_err(|b: Vec<u8>| format!("it holds {} bytes, not {KEY_LEN}", b.len()))
        }
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_made_once_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store");
        std::fs::create_dir(&store).unwrap();
        let path = dir.path().join("keys/artifact.key");
        let key = load_or_create(&path, &store).unwrap();
        assert_eq!(load_or_create(&path, &store).unwrap(), key);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            let err = load_or_create(&path, &store).unwrap_err();
            assert!(err.reason.contains("others may read"), "{err}");
        }
        let other = dir.path().join("other.key");
        assert_ne!(load_or_create(&other, &store).unwrap(), key, "keys are random");
    }

    #[test]
    fn a_key_inside_the_store_or_of_the_wrong_size_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = load_or_create(&dir.path().join("artifacts/host.key"), dir.path()).unwrap_err();
        assert!(err.reason.contains("inside the store"), "{err}");
        let short = dir.path().join("short.key");
        std::fs::write(&short, b"tiny").unwrap();
        let store = dir.path().join("store");
        std::fs::create_dir(&store).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&short, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let err = load_or_create(&short, &store).unwrap_err();
        assert!(err.reason.contains("4 bytes"), "{err}");
    }
}
