//! The key file: line 1 is the lowercase hex of argon2id(key, salt) with
//! the original whipcode's parameters, line 2 is the salt, used as its
//! literal bytes.

use std::path::PathBuf;

use argon2::{Algorithm, Argon2, Params, Version};

/// Why the master key could not be had from its file.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read key file {}: {source} (create one with --gen-key)", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("key file {}: {source}", path.display())]
    Format { path: PathBuf, source: KeyFileError },
    /// argon2's own error (not a `std` error without its `std` feature).
    #[error("argon2: {0}")]
    Hash(argon2::Error),
}

/// What is wrong with a key file's text (or, once it is read, with
/// starting the thread that checks keys against it).
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("expected two lines: the hash, then the salt")]
    Lines,
    #[error("line 1 must be the hash in hex (64 characters)")]
    HashHex(#[source] hex::FromHexError),
    #[error("line 1 must be a 32-byte hash (64 hex characters)")]
    HashLength,
    #[error("line 2 must be the salt, at least 8 characters")]
    Salt,
    #[error("cannot start the key-checking thread: {0}")]
    Thread(#[source] std::io::Error),
}

/// The original's parameters: t=1, m=4096 KiB, p=1, 32-byte output.
pub fn hash_key(key: &[u8], salt: &[u8]) -> Result<[u8; 32], KeyError> {
    let params = Params::new(4096, 1, 1, Some(32)).map_err(KeyError::Hash)?;
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let mut out = [0u8; 32];
    argon
        .hash_password_into(key, salt, &mut out)
        .map_err(KeyError::Hash)?;
    Ok(out)
}

/// A key file's two lines.
pub(super) struct KeyFile<'a> {
    pub hash: [u8; 32],
    pub salt: &'a str,
}

impl KeyFile<'_> {
    /// Parses the two lines; a trailing newline or CRLF is fine.
    pub(super) fn parse(text: &str) -> Result<KeyFile<'_>, KeyFileError> {
        let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
        let hash_hex = lines.next().unwrap_or_default();
        let salt = lines.next().unwrap_or_default();
        if lines.any(|rest| !rest.is_empty()) {
            return Err(KeyFileError::Lines);
        }
        let hash_vec = hex::decode(hash_hex).map_err(KeyFileError::HashHex)?;
        let hash: [u8; 32] = hash_vec.try_into().map_err(|_| KeyFileError::HashLength)?;
        if salt.len() < 8 {
            return Err(KeyFileError::Salt);
        }
        Ok(KeyFile { hash, salt })
    }
}

/// The secret interactive tickets are signed with, derived from the key
/// file (so instances sharing it accept each other's tickets).
pub(super) fn ticket_secret(hash: &[u8; 32], salt: &str) -> [u8; 32] {
    use sha2::Digest as _;
    let mut digest = sha2::Sha256::new();
    digest.update(b"whipcode ticket secret v1\0");
    digest.update(hash);
    digest.update(salt.as_bytes());
    digest.finalize().into()
}
