//! Files recipes fetch: downloaded by the host once, kept by checksum.

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

/// The file `fetch` names, downloaded by the host (curl) once and kept under
/// `dir` by its checksum; a download whose SHA-256 differs is refused.
pub(super) fn download(fetch: &crate::languages::Fetch, dir: &Path) -> Result<PathBuf, String> {
    let cached = dir.join(fetch.sha256.to_ascii_lowercase());
    if cached.is_file() {
        return Ok(cached);
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let partial = tempfile::Builder::new()
        .prefix(".partial-")
        .tempfile_in(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    let status = Command::new("curl")
        .args(["-fsSL", "--retry", "3", "--max-time", "900", "-o"])
        .arg(partial.path())
        .arg(&fetch.url)
        .status()
        .map_err(|e| format!("cannot run curl (apt-get install curl): {e}"))?;
    if !status.success() {
        return Err(format!("downloading {} failed ({status})", fetch.url));
    }
    let mut hasher = Sha256::new();
    let mut file = std::fs::File::open(partial.path()).map_err(|e| e.to_string())?;
    std::io::copy(&mut file, &mut hasher).map_err(|e| e.to_string())?;
    let got = hex::encode(hasher.finalize());
    if !got.eq_ignore_ascii_case(&fetch.sha256) {
        return Err(format!(
            "{} has SHA-256 {got}, the recipe expects {}",
            fetch.url, fetch.sha256
        ));
    }
    partial
        .persist(&cached)
        .map_err(|e| format!("{}: {}", cached.display(), e.error))?;
    Ok(cached)
}
