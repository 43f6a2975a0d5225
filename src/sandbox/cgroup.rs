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

/// Where one container's cgroup files are.
#[derive(Debug, Clone)]
pub enum Cgroup {
    V1 {
        memory: PathBuf,
        cpuacct: Option<PathBuf>,
    },
    V2(PathBuf),
}

/// The usage of the container with this full id, if its cgroup is found.
pub fn usage(container_id: &str) -> Usage {
    Cgroup::find(container_id).map_or_else(Usage::default, |c| c.usage())
}

impl Cgroup {
    /// The cgroup of the container with this full id, trying every layout
    /// podman uses; `None` when the id is not hex or nothing is found.
    pub fn find(container_id: &str) -> Option<Cgroup> {
        if container_id.is_empty() || !container_id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
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
                    .map(|h| root.join(h).join(leaf))
                    .find(|dir| dir.join("cpuacct.usage").is_file());
                return Some(Cgroup::V1 {
                    memory: v1,
                    cpuacct,
                });
            }
            let v2 = root.join(leaf);
            if v2.join("memory.events").is_file() {
                return Some(Cgroup::V2(v2));
            }
        }
        None
    }

    pub fn usage(&self) -> Usage {
        Usage {
            memory_peak: self.memory_peak(),
            oom_kills: match self {
                Cgroup::V1 { memory, .. } => {
                    read_key(&memory.join("memory.oom_control"), "oom_kill")
                }
                Cgroup::V2(dir) => read_key(&dir.join("memory.events"), "oom_kill"),
            },
            cpu_nanos: self.cpu_nanos(),
        }
    }

    /// CPU time of every process the container ran so far.
    pub fn cpu_nanos(&self) -> Option<u64> {
        match self {
            Cgroup::V1 { cpuacct, .. } => read_number(&cpuacct.as_ref()?.join("cpuacct.usage")),
            Cgroup::V2(dir) => read_key(&dir.join("cpu.stat"), "usage_usec").map(|us| us * 1000),
        }
    }

    /// Highest memory use since the container started or [`Cgroup::reset_peak`].
    pub fn memory_peak(&self) -> Option<u64> {
        match self {
            Cgroup::V1 { memory, .. } => read_number(&memory.join("memory.max_usage_in_bytes")),
            Cgroup::V2(dir) => read_number(&dir.join("memory.peak")),
        }
    }

    /// Starts a new peak from the current use: v1's `max_usage_in_bytes`,
    /// v2's `memory.peak` (writable from Linux 6.12; before, v2's peak
    /// stays the container's). False when it could not be reset.
    pub fn reset_peak(&self) -> bool {
        let file = match self {
            Cgroup::V1 { memory, .. } => memory.join("memory.max_usage_in_bytes"),
            Cgroup::V2(dir) => dir.join("memory.peak"),
        };
        std::fs::write(file, "0").is_ok()
    }

    /// Sets the memory limit (swap kept equal, as the policy has it).
    pub fn limit_memory(&self, bytes: u64) -> std::io::Result<()> {
        match self {
            Cgroup::V1 { memory, .. } => {
                let mem = memory.join("memory.limit_in_bytes");
                let memsw = memory.join("memory.memsw.limit_in_bytes");
                let current = read_number(&mem).unwrap_or(u64::MAX);
                // memsw may never be below the memory limit: lower memory first, raise memsw first.
                if bytes < current {
                    std::fs::write(&mem, bytes.to_string())?;
                    if memsw.is_file() {
                        std::fs::write(&memsw, bytes.to_string())?;
                    }
                } else {
                    if memsw.is_file() {
                        std::fs::write(&memsw, bytes.to_string())?;
                    }
                    std::fs::write(&mem, bytes.to_string())?;
                }
                Ok(())
            }
            Cgroup::V2(dir) => std::fs::write(dir.join("memory.max"), bytes.to_string()),
        }
    }
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
