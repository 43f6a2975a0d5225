//! `--gen-key`: writes a key file the original whipcode can read too.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::auth::{hash_key, KeyError};

#[derive(Debug, thiserror::Error)]
pub enum KeyGenError {
    #[error("{} exists; pass --force to replace it", .0.display())]
    Exists(std::path::PathBuf),
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("the salt must be at least 8 characters on one line")]
    BadSalt,
    #[error("the key must be 1-1024 characters on one line")]
    BadKey,
    #[error("the two keys typed differ")]
    Mismatch,
    #[error(transparent)]
    Hash(#[from] KeyError),
}

fn random_hex(bytes: usize) -> String {
    let raw: Vec<u8> = (0..bytes).map(|_| rand::random::<u8>()).collect();
    hex::encode(raw)
}

/// Writes `path` (mode 0600) for `key` (random 64 hex characters when
/// `None`) and `salt` (random 32 hex characters when `None`); returns the key.
pub fn generate(
    path: &Path,
    key: Option<String>,
    salt: Option<String>,
    force: bool,
) -> Result<String, KeyGenError> {
    let key = key.unwrap_or_else(|| random_hex(32));
    let salt = salt.unwrap_or_else(|| random_hex(16));
    if key.is_empty() || key.len() > 1024 || key.contains(['\n', '\r']) {
        return Err(KeyGenError::BadKey);
    }
    if salt.len() < 8 || salt.contains(['\n', '\r']) {
        return Err(KeyGenError::BadSalt);
    }
    let hash = hash_key(key.as_bytes(), salt.as_bytes())?;
    let contents = format!("{}\n{salt}\n", hex::encode(hash));

    write_atomically(path, contents.as_bytes(), force)?;
    Ok(key)
}

/// Writes `contents` to a new file beside `path` (mode 0600), then links it in
/// place: with `force` by rename, else by hard link, which fails when `path`
/// exists. Either way `path` is never half written and never followed.
fn write_atomically(path: &Path, contents: &[u8], force: bool) -> Result<(), KeyGenError> {
    let write_err = |source| KeyGenError::Write {
        path: path.to_owned(),
        source,
    };
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut temp = tempfile::Builder::new()
        .prefix(".masterkey-new-")
        .permissions(std::fs::Permissions::from_mode(0o600))
        .tempfile_in(dir)
        .map_err(write_err)?;
    temp.write_all(contents).map_err(write_err)?;
    temp.as_file().sync_all().map_err(write_err)?;
    if force {
        temp.persist(path).map_err(|e| write_err(e.error))?;
        return Ok(());
    }
    match std::fs::hard_link(temp.path(), path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            Err(KeyGenError::Exists(path.to_owned()))
        }
        Err(e) => Err(write_err(e)),
    }
}

/// Where `--gen-key` takes the key from.
pub enum KeySource {
    /// `WHIPCODE_MASTER_KEY`.
    Environment(String),
    /// Typed at the terminal (empty = generate).
    Prompted(Option<String>),
    /// Not a terminal and no variable: a random key, printed once.
    Generated,
}

/// The variable if set, else a prompt when stdin is a terminal, else none.
pub fn key_source() -> Result<KeySource, KeyGenError> {
    if let Some(key) = std::env::var("WHIPCODE_MASTER_KEY")
        .ok()
        .filter(|k| !k.is_empty())
    {
        return Ok(KeySource::Environment(key));
    }
    if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        return Ok(KeySource::Generated);
    }
    let ask = |prompt: &str| {
        rpassword::prompt_password(prompt).map_err(|source| KeyGenError::Write {
            path: "/dev/tty".into(),
            source,
        })
    };
    let key = ask("master key (empty: generate one): ")?;
    if key.is_empty() {
        return Ok(KeySource::Prompted(None));
    }
    if ask("again: ")? != key {
        return Err(KeyGenError::Mismatch);
    }
    Ok(KeySource::Prompted(Some(key)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{MasterKey, Verdict};
    use std::sync::Arc;

    #[tokio::test]
    async fn a_generated_key_file_verifies_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".masterkey");
        let key = generate(&path, None, None, false).unwrap();
        assert_eq!(key.len(), 64);
        let text = std::fs::read_to_string(&path).unwrap();
        let salt = text.lines().nth(1).unwrap();
        assert_eq!(salt.len(), 32);
        let master = Arc::new(MasterKey::load(&path).unwrap());
        assert_eq!(
            master
                .verify(&key, std::net::Ipv4Addr::LOCALHOST.into())
                .await,
            Verdict::Valid
        );
    }

    #[test]
    fn an_existing_key_file_is_not_overwritten_without_force() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".masterkey");
        generate(&path, Some("k1".into()), None, false).unwrap();
        let before = std::fs::read(&path).unwrap();
        assert!(matches!(
            generate(&path, Some("k2".into()), None, false),
            Err(KeyGenError::Exists(_))
        ));
        assert_eq!(std::fs::read(&path).unwrap(), before);
        generate(&path, Some("k2".into()), None, true).unwrap();
        assert_ne!(std::fs::read(&path).unwrap(), before);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary files left behind");
    }

    #[test]
    fn given_key_and_salt_reproduce_the_argon2_cffi_fixture() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        generate(
            &path,
            Some("fixture-master-key".into()),
            Some("0123456789abcdef0123456789abcdef".into()),
            false,
        )
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            include_str!("../tests/fixtures/argon2-cffi.masterkey")
        );
    }
}
