//! `additional_files`: a zip archive (base64) unpacked beside the source,
//! bounded in entries, in each file's and the total unpacked size and in
//! the compression ratio, with every name checked as whipcode checks file
//! names (no absolute path, no `..`, no NUL). The `zip` crate reads the
//! archive; nothing is written anywhere but into the job's file list.

use std::io::Read;

use whipcode_runner::normalize_path;

/// Most entries an archive may have (files and directories).
pub const MAX_ENTRIES: usize = 256;
/// Most an archive may unpack to, in all.
pub const MAX_UNPACKED: u64 = 16 * 1024 * 1024;
/// The largest ratio of unpacked to packed size of one file.
pub const MAX_RATIO: u64 = 200;

/// What one request's archives may unpack to in all: a batch's share one
/// budget, so a batch of twenty holds no more memory than one submission.
pub const REQUEST_BUDGET: u64 = MAX_UNPACKED;

/// Requests that may unpack archives at once. Each may hold
/// [`REQUEST_BUDGET`] unpacked, so this bounds what unpacking holds in all,
/// however many batches arrive together; the rest wait their turn.
const UNPACKERS: usize = 2;

static UNPACKING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(UNPACKERS);

/// The longest a request waits for its turn to unpack.
const TURN_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// A turn to unpack (held until dropped), or `None` when none came within
/// [`TURN_WAIT`].
pub async fn unpacking_turn() -> Option<tokio::sync::SemaphorePermit<'static>> {
    tokio::time::timeout(TURN_WAIT, UNPACKING.acquire())
        .await
        .ok()?
        .ok()
}

/// The archive's files as (normalised name, content), or why it is refused.
/// `room` is what is left of the request's [`REQUEST_BUDGET`]: the sizes the
/// archive declares are checked against it before anything is unpacked, and
/// what is read is bounded by it again (a header can lie). Reads and
/// inflates: call it off the async runtime.
pub fn unpack(archive: &[u8], room: u64) -> Result<Vec<(String, Vec<u8>)>, String> {
    let room = room.min(MAX_UNPACKED);
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(archive))
        .map_err(|e| format!("is not a zip archive: {e}"))?;
    if zip.len() > MAX_ENTRIES {
        return Err(format!("has {} entries; at most {MAX_ENTRIES}", zip.len()));
    }
    let over = |total: u64| {
        if room < MAX_UNPACKED {
            format!("unpacks to more than {room} bytes, what is left of the {REQUEST_BUDGET} one request's files may unpack to in all")
        } else {
            format!("unpacks to more than {MAX_UNPACKED} bytes ({total} or more)")
        }
    };
    // The central directory's sizes, before any entry is inflated.
    let declared = (0..zip.len())
        .filter_map(|i| zip.by_index_raw(i).ok().map(|e| e.size()))
        .fold(0u64, u64::saturating_add);
    if declared > room {
        return Err(over(declared));
    }
    let mut files = Vec::new();
    let mut total = 0u64;
    for index in 0..zip.len() {
        let mut entry = zip
            .by_index(index)
            .map_err(|e| format!("entry {index} cannot be read: {e}"))?;
        let raw_name = match entry.name() {
            Ok(name) => name.into_owned(),
            Err(e) => return Err(format!("entry {index} has a bad name: {e}")),
        };
        if entry.is_dir() {
            continue;
        }
        if entry.is_symlink() {
            return Err(format!("{raw_name:?} is a symbolic link"));
        }
        let name = normalize_path(&raw_name).map_err(|why| format!("{raw_name:?} {why}"))?;
        // The sizes an entry declares, checked before reading; the read is
        // bounded again below, since a header can lie.
        let declared = entry.size();
        let packed = entry.compressed_size().max(1);
        if declared / packed > MAX_RATIO {
            return Err(format!(
                "{name:?} unpacks to {declared} bytes from {packed}: more than {MAX_RATIO} times"
            ));
        }
        let left = room - total;
        // Sized as declared (within what is left), so that reading does
        // not double the buffer past the file's size.
        let mut content = Vec::with_capacity(declared.min(left) as usize);
        (&mut entry)
            .take(left + 1)
            .read_to_end(&mut content)
            .map_err(|e| format!("{name:?} cannot be unpacked: {e}"))?;
        total += content.len() as u64;
        if total > room {
            return Err(over(total));
        }
        if content.len() as u64 / packed > MAX_RATIO {
            return Err(format!(
                "{name:?} unpacks to more than {MAX_RATIO} times its packed size"
            ));
        }
        files.push((name, content));
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use zip::write::SimpleFileOptions;

    fn archive(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (name, content) in entries {
            out.start_file(*name, SimpleFileOptions::default()).unwrap();
            out.write_all(content).unwrap();
        }
        out.finish().unwrap().into_inner()
    }

    #[test]
    fn files_come_out_with_their_names_and_contents() {
        let zip = archive(&[("data.txt", b"1 2 3\n"), ("./lib//util.py", b"x = 1\n")]);
        let files = unpack(&zip, REQUEST_BUDGET).unwrap();
        assert_eq!(
            files,
            [
                ("data.txt".to_owned(), b"1 2 3\n".to_vec()),
                ("lib/util.py".to_owned(), b"x = 1\n".to_vec())
            ]
        );
    }

    #[test]
    fn escaping_names_bombs_and_too_many_entries_are_refused() {
        let escape = unpack(&archive(&[("../evil", b"x")]), REQUEST_BUDGET).unwrap_err();
        assert!(escape.contains("`..`"), "{escape}");
        let absolute = unpack(&archive(&[("/etc/passwd", b"x")]), REQUEST_BUDGET).unwrap_err();
        assert!(absolute.contains("absolute"), "{absolute}");
        let bomb = unpack(&archive(&[("zeros", &vec![0u8; 8 << 20])]), REQUEST_BUDGET).unwrap_err();
        assert!(bomb.contains("times"), "{bomb}");
        let names: Vec<String> = (0..=MAX_ENTRIES).map(|i| format!("f{i}")).collect();
        let many: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b"x"[..])).collect();
        assert!(unpack(&archive(&many), REQUEST_BUDGET)
            .unwrap_err()
            .contains("entries"));
        assert!(unpack(b"not a zip", REQUEST_BUDGET)
            .unwrap_err()
            .contains("not a zip"));
    }

    #[test]
    fn what_is_left_of_the_requests_budget_is_checked_on_the_declared_sizes_first() {
        // Bytes that do not compress (the ratio check is not what is tested).
        let mut x = 1u32;
        let noise: Vec<u8> = (0..1 << 20)
            .map(|_| {
                x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (x >> 24) as u8
            })
            .collect();
        let two_mib = archive(&[("a", &noise), ("b", &noise)]);
        assert_eq!(unpack(&two_mib, 2 << 20).unwrap().len(), 2);
        let refused = unpack(&two_mib, (2 << 20) - 1).unwrap_err();
        assert!(
            refused.contains("what is left of the 16777216"),
            "{refused}"
        );
    }
}
