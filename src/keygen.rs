//! `--gen-key`: writes a key file the original whipcode can read too.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
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

    let mut options = std::fs::OpenOptions::new();
    options.write(true).mode(0o600);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let write_err = |source| KeyGenError::Write {
        path: path.to_owned(),
        source,
    };
    let mut file = options.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            KeyGenError::Exists(path.to_owned())
        } else {
            write_err(e)
        }
    })?;
    file.write_all(contents.as_bytes()).map_err(write_err)?;
    Ok(key)
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
        assert_eq!(master.verify(&key).await, Verdict::Valid);
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
