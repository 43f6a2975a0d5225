//! Reading a container's memory statistics from the host's cgroup files.
//!
//! These numbers come from the kernel, not from the program or the runner,
//! so they can be trusted. podman puts a container's cgroup at a path made
//! of its id; which one depends on the cgroup version and manager, so every
//! known layout is tried. A layout not found gives `None`.

use std::path::{Path, PathBuf};

/// Memory use of one container, as the kernel accounted it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Highest memory use in bytes (page cache and tmpfs included).
    pub memory_peak: Option<u64>,
    /// Processes the kernel's OOM killer ended in this container.
    pub oom_kills: Option<u64>,
    /// CPU time of every process the container ever ran, in nanoseconds.
    pub cpu_nanos: Option<u64>,
}

const ROOT: &str = "/sys/fs/cgroup";

/// The usage of the container with this full id, if its cgroup is found.
pub fn usage(container_id: &str) -> Usage {
    if container_id.is_empty() || !container_id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Usage::default();
    }
    let root = Path::new(ROOT);
    let leaves = [
        format!("libpod_parent/libpod-{container_id}"),
        format!("machine.slice/libpod-{container_id}.scope"),
    ];
    for leaf in &leaves {
        let v1 = root.join("memory").join(leaf);
        if v1.is_dir() {
            let cpuacct = ["cpuacct", "cpu,cpuacct"]
                .iter()
                .find_map(|h| read_number(&root.join(h).join(leaf).join("cpuacct.usage")));
            return Usage {
                memory_peak: read_number(&v1.join("memory.max_usage_in_bytes")),
                oom_kills: read_key(&v1.join("memory.oom_control"), "oom_kill"),
                cpu_nanos: cpuacct,
            };
        }
        let v2 = root.join(leaf);
        if v2.join("memory.events").is_file() {
            return Usage {
                memory_peak: read_number(&v2.join("memory.peak")),
                oom_kills: read_key(&v2.join("memory.events"), "oom_kill"),
                cpu_nanos: read_key(&v2.join("cpu.stat"), "usage_usec").map(|us| us * 1000),
            };
        }
    }
    Usage::default()
}

fn read_number(path: &PathBuf) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// The value of `key` in a "key value" per line file.
fn read_key(path: &PathBuf, key: &str) -> Option<u64> {
    parse_key(&std::fs::read_to_string(path).ok()?, key)
}

fn parse_key(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oom_kills_are_read_from_v1_and_v2_formats() {
        let v1 = "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n";
        assert_eq!(parse_key(v1, "oom_kill"), Some(2));
        let v2 = "low 0\nhigh 0\nmax 7\noom 1\noom_kill 1\noom_group_kill 0\n";
        assert_eq!(parse_key(v2, "oom_kill"), Some(1));
        assert_eq!(parse_key(v2, "missing"), None);
    }

    #[test]
    fn ids_that_are_not_hex_are_never_turned_into_paths() {
        assert_eq!(usage("../../etc"), Usage::default());
        assert_eq!(usage(""), Usage::default());
    }
}
