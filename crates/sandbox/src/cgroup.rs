//! Reading a container's memory statistics from the host's cgroup files,
//! and setting a stage's memory limit there.
//!
//! These numbers come from the kernel, not from the program or the runner,
//! so they can be trusted. podman puts a container's cgroup at a path made
//! of its id, and every known layout of it is tried ([`Cgroup::of_podman`]);
//! the crun engine chooses the path itself and finds it through the host's
//! [`Layout`] (v1, with memory and cpuacct hierarchies, or v2).

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
    Cgroup::of_podman(container_id).map_or_else(Usage::default, |c| c.usage())
}

impl Cgroup {
    /// The cgroup of the podman container with this full id, trying every
    /// layout podman uses; `None` when the id is not hex or nothing is found.
    pub fn of_podman(container_id: &str) -> Option<Cgroup> {
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

    /// The processes in it (empty when it is gone).
    pub fn procs(&self) -> Vec<i32> {
        let dir = match self {
            Cgroup::V1 { memory, .. } => memory,
            Cgroup::V2(dir) => dir,
        };
        std::fs::read_to_string(dir.join("cgroup.procs"))
            .map(|text| text.lines().filter_map(|l| l.trim().parse().ok()).collect())
            .unwrap_or_default()
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

/// Where a cgroup path an engine chooses lands on this host: the version
/// of its memory controller and the hierarchies of the files read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// cgroup v1: the memory hierarchy's mount and cpuacct's, if mounted.
    V1 {
        memory: PathBuf,
        cpuacct: Option<PathBuf>,
    },
    /// cgroup v2: one unified hierarchy with the memory controller.
    V2(PathBuf),
}

impl Layout {
    /// The host's, under `root` (`/sys/fs/cgroup` outside tests): v1 when
    /// a memory hierarchy is mounted there, v2 when `root` itself is the
    /// unified hierarchy and offers memory; `None` otherwise.
    pub fn probe(root: &Path) -> Option<Layout> {
        let memory = root.join("memory");
        if memory.join("memory.limit_in_bytes").is_file() {
            let cpuacct = ["cpuacct", "cpu,cpuacct"]
                .iter()
                .map(|h| root.join(h))
                .find(|dir| dir.join("cpuacct.usage").is_file());
            return Some(Layout::V1 { memory, cpuacct });
        }
        let controllers = std::fs::read_to_string(root.join("cgroup.controllers")).ok()?;
        controllers
            .split_whitespace()
            .any(|c| c == "memory")
            .then(|| Layout::V2(root.to_owned()))
    }

    /// The cgroup at `path` (relative to each hierarchy's root, as an OCI
    /// `cgroupsPath`), whether or not it exists yet.
    pub fn at(&self, path: &str) -> Cgroup {
        let relative = path.trim_start_matches('/');
        match self {
            Layout::V1 { memory, cpuacct } => Cgroup::V1 {
                memory: memory.join(relative),
                cpuacct: cpuacct.as_ref().map(|dir| dir.join(relative)),
            },
            Layout::V2(root) => Cgroup::V2(root.join(relative)),
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

    /// A v2 host, as far as these files go: `root` offers memory, and a
    /// container's cgroup holds its counters.
    fn fake_v2(root: &Path, path: &str) -> PathBuf {
        std::fs::write(
            root.join("cgroup.controllers"),
            "cpuset cpu io memory pids\n",
        )
        .unwrap();
        let dir = root.join(path);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("memory.peak"), "4096000\n").unwrap();
        std::fs::write(
            dir.join("memory.events"),
            "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("cpu.stat"),
            "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n",
        )
        .unwrap();
        std::fs::write(dir.join("memory.max"), "max\n").unwrap();
        dir
    }

    #[test]
    fn a_v2_host_is_recognised_and_a_cgroups_figures_are_read_from_it() {
        let root = tempfile::tempdir().unwrap();
        let dir = fake_v2(root.path(), "whipcode/i/c1");
        let layout = Layout::probe(root.path()).expect("v2 layout");
        assert_eq!(layout, Layout::V2(root.path().to_owned()));
        let cgroup = layout.at("/whipcode/i/c1");
        assert_eq!(
            cgroup.usage(),
            Usage {
                memory_peak: Some(4_096_000),
                oom_kills: Some(1),
                cpu_nanos: Some(1_500_000),
            }
        );
        cgroup.limit_memory(64 << 20).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.join("memory.max")).unwrap(),
            "67108864"
        );
    }

    #[test]
    fn a_v2_host_without_the_memory_controller_has_no_layout() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("cgroup.controllers"), "hugetlb\n").unwrap();
        assert_eq!(Layout::probe(root.path()), None);
    }

    #[test]
    fn a_v1_host_puts_a_path_in_the_memory_and_cpuacct_hierarchies() {
        let root = tempfile::tempdir().unwrap();
        for (h, file) in [
            ("memory", "memory.limit_in_bytes"),
            ("cpu,cpuacct", "cpuacct.usage"),
        ] {
            std::fs::create_dir_all(root.path().join(h)).unwrap();
            std::fs::write(root.path().join(h).join(file), "0\n").unwrap();
        }
        let layout = Layout::probe(root.path()).expect("v1 layout");
        let Cgroup::V1 { memory, cpuacct } = layout.at("/whipcode/i/c2") else {
            panic!("a v1 cgroup");
        };
        assert_eq!(memory, root.path().join("memory/whipcode/i/c2"));
        assert_eq!(cpuacct, Some(root.path().join("cpu,cpuacct/whipcode/i/c2")));
    }

    #[test]
    fn ids_that_are_not_hex_are_never_turned_into_paths() {
        assert_eq!(usage("../../etc"), Usage::default());
        assert_eq!(usage(""), Usage::default());
    }
}
