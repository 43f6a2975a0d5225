//! Files recipes fetch: downloaded by the host once, kept by checksum.

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use super::outcome::BuildError;

/// The file `fetch` names, downloaded by the host (curl) once and kept under
/// `dir` by its checksum; a download whose SHA-256 differs is refused. A
/// kept file is hashed again before each use: one that no longer matches
/// (a bad disk, a hand edit, a planted file) is removed and fetched anew.
pub(super) fn download(fetch: &crate::languages::Fetch, dir: &Path) -> Result<PathBuf, BuildError> {
    let cached = dir.join(fetch.sha256.to_ascii_lowercase());
    if std::fs::symlink_metadata(&cached).is_ok_and(|m| m.is_file()) {
        if sha256_of(&cached).is_ok_and(|got| got.eq_ignore_ascii_case(&fetch.sha256)) {
            return Ok(cached);
        }
        tracing::warn!(file = %cached.display(), "a kept download no longer matches its checksum; fetching it again");
        std::fs::remove_file(&cached).map_err(BuildError::io(cached.display()))?;
    }
    std::fs::create_dir_all(dir).map_err(BuildError::io(dir.display()))?;
    let partial = tempfile::Builder::new()
        .prefix(".partial-")
        .tempfile_in(dir)
        .map_err(BuildError::io(dir.display()))?;
    let status = Command::new("curl")
        .args(["-fsSL", "--retry", "3", "--max-time", "900", "-o"])
        .arg(partial.path())
        .arg(&fetch.url)
        .status()
        .map_err(BuildError::spawn("curl (apt-get install curl)"))?;
    if !status.success() {
        return Err(BuildError::failed(
            format!("downloading {}", fetch.url),
            status,
        ));
    }
    let got = sha256_of(partial.path()).map_err(BuildError::io(partial.path().display()))?;
    if !got.eq_ignore_ascii_case(&fetch.sha256) {
        return Err(BuildError::Checksum {
            url: fetch.url.clone(),
            got,
            want: fetch.sha256.clone(),
        });
    }
    partial
        .persist(&cached)
        .map_err(|e| BuildError::io(cached.display())(e.error))?;
    Ok(cached)
}

fn sha256_of(path: &Path) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    std::io::copy(&mut std::fs::File::open(path)?, &mut hasher)?;
    Ok(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::languages::Fetch;

    fn fetch_of(source: &Path, sha256: &str) -> Fetch {
        Fetch {
            url: format!("file://{}", source.display()),
            sha256: sha256.to_owned(),
            file: "payload".into(),
        }
    }

    #[test]
    fn a_download_is_kept_by_its_checksum_and_a_wrong_one_is_refused() {
        if Command::new("curl").arg("--version").output().is_err() {
            // The downloads need the host's curl; `./task test` installs it.
            eprintln!("skipped: curl is not installed");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("payload");
        std::fs::write(&source, b"hello").unwrap();
        let cache = dir.path().join("cache");
        let wrong = "0".repeat(64);
        match download(&fetch_of(&source, &wrong), &cache) {
            Err(BuildError::Checksum { got, .. }) => assert_eq!(got.len(), 64),
            other => panic!("expected a checksum error, got {other:?}"),
        }
        assert!(
            !cache.join(&wrong).exists(),
            "a refused download is not kept"
        );
        let right = hex::encode(Sha256::digest(b"hello"));
        let kept = download(&fetch_of(&source, &right), &cache).unwrap();
        assert_eq!(std::fs::read(&kept).unwrap(), b"hello");
        std::fs::write(&source, b"hello, again").unwrap();
        assert_eq!(
            download(&fetch_of(&source, &right), &cache).unwrap(),
            kept,
            "from the cache"
        );
        assert_eq!(std::fs::read(&kept).unwrap(), b"hello");
        // The kept file is damaged: it is hashed again, dropped and fetched anew.
        std::fs::write(&kept, b"tampered").unwrap();
        std::fs::write(&source, b"hello").unwrap();
        assert_eq!(download(&fetch_of(&source, &right), &cache).unwrap(), kept);
        assert_eq!(std::fs::read(&kept).unwrap(), b"hello");
        std::fs::write(&kept, b"tampered").unwrap();
        std::fs::remove_file(&source).unwrap();
        assert!(
            download(&fetch_of(&source, &right), &cache).is_err(),
            "a damaged copy is never used"
        );
    }
}
