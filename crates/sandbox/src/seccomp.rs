//! The project's seccomp profile: which system calls a run may make.
//!
//! Built on the shape of Docker's (moby's) default profile, the one most
//! container users run under: every call not listed fails, and the list is
//! what ordinary programs need. A run here never holds a capability, so none
//! of moby's capability-conditional rules apply; on top of that this profile
//! refuses what moby allows to unprivileged processes but a code runner does
//! not need, each a well-trodden path to kernel bugs: making namespaces (a
//! user namespace hands out capabilities that `cap_drop` cannot take back),
//! mounting, keyrings, BPF, perf events, userfaultfd, io_uring, ptrace and
//! reading or writing other processes' memory, modules and kexec.
//!
//! Calls that are not listed at all fail with ENOSYS, as an unimplemented
//! call would (so a C library falls back, as it does for `clone3`); the
//! refused calls below fail with their own errno, EPERM.

use serde_json::{json, Value};

/// errno values the profile answers with.
pub const EPERM: u32 = 1;
pub const ENOSYS: u32 = 38;

/// What an unlisted call gets.
pub const DEFAULT_ERRNO: u32 = ENOSYS;

/// Calls every run may make (x86-64 and arm64 names; names a kernel or
/// architecture lacks are skipped by the runtime).
#[rustfmt::skip]
const ALLOWED: &[&str] = &[
    // Files and directories.
    "access", "chdir", "chmod", "chown", "chown32", "close", "close_range", "copy_file_range",
    "creat", "dup", "dup2", "dup3", "faccessat", "faccessat2", "fadvise64", "fadvise64_64",
    "fallocate", "fchdir", "fchmod", "fchmodat", "fchown", "fchown32", "fchownat", "fcntl",
    "fcntl64", "fdatasync", "fgetxattr", "flistxattr", "flock", "fremovexattr", "fsetxattr",
    "fstat", "fstat64", "fstatat64", "fstatfs", "fstatfs64", "fsync", "ftruncate",
    "ftruncate64", "futimesat", "getcwd", "getdents", "getdents64", "getxattr", "lchown",
    "lchown32", "lgetxattr", "link", "linkat", "listxattr", "llistxattr", "_llseek",
    "lremovexattr", "lseek", "lsetxattr", "lstat", "lstat64", "mkdir", "mkdirat", "mknod",
    "mknodat", "name_to_handle_at", "newfstatat", "open", "openat", "openat2", "pipe", "pipe2",
    "pread64", "preadv", "preadv2", "pwrite64", "pwritev", "pwritev2", "read", "readahead",
    "readlink", "readlinkat", "readv", "removexattr", "rename", "renameat", "renameat2",
    "rmdir", "sendfile", "sendfile64", "setxattr", "splice", "stat", "stat64", "statfs",
    "statfs64", "statx", "symlink", "symlinkat", "sync", "sync_file_range", "syncfs", "tee",
    "truncate", "truncate64", "umask", "unlink", "unlinkat", "utime", "utimensat",
    "utimensat_time64", "utimes", "vmsplice", "write", "writev",
    // Waiting on many things at once.
    "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_pwait",
    "epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2", "fanotify_mark",
    "inotify_add_watch", "inotify_init", "inotify_init1", "inotify_rm_watch", "_newselect",
    "pause", "poll", "ppoll", "ppoll_time64", "pselect6", "pselect6_time64", "select",
    "signalfd", "signalfd4",
    // Device control and I/O priority (Linux AIO and io_uring are refused below).
    "ioctl", "ioprio_get", "ioprio_set",
    // Memory.
    "brk", "madvise", "membarrier", "memfd_create", "memfd_secret", "mincore", "mlock",
    "mlock2", "mlockall", "mmap", "mmap2", "mprotect", "mremap", "msync", "munlock",
    "munlockall", "munmap", "pkey_alloc", "pkey_free", "pkey_mprotect", "remap_file_pages",
    // Processes and threads (clone is allowed below without namespace flags).
    "execve", "execveat", "exit", "exit_group", "fork", "vfork", "wait4", "waitid", "waitpid",
    "getpid", "getppid", "gettid", "getpgid", "getpgrp", "getsid", "setpgid", "setsid",
    "set_tid_address", "set_robust_list", "get_robust_list", "rseq", "set_thread_area",
    "get_thread_area", "arch_prctl", "modify_ldt", "prctl", "capget", "capset", "getrlimit",
    "setrlimit", "prlimit64", "ugetrlimit", "getrusage", "getpriority", "setpriority", "times",
    "sysinfo", "uname", "getcpu", "getrandom", "restart_syscall", "seccomp", "pidfd_open",
    "pidfd_send_signal", "process_mrelease",
    // Scheduling.
    "sched_getaffinity", "sched_getattr", "sched_getparam", "sched_get_priority_max",
    "sched_get_priority_min", "sched_getscheduler", "sched_rr_get_interval",
    "sched_rr_get_interval_time64", "sched_setaffinity", "sched_setattr", "sched_setparam",
    "sched_setscheduler", "sched_yield",
    // Identity (a process may only lower or keep what it has).
    "getuid", "getuid32", "geteuid", "geteuid32", "getgid", "getgid32", "getegid", "getegid32",
    "getgroups", "getgroups32", "getresuid", "getresuid32", "getresgid", "getresgid32",
    "setuid", "setuid32", "setgid", "setgid32", "setreuid", "setreuid32", "setregid",
    "setregid32", "setresuid", "setresuid32", "setresgid", "setresgid32", "setfsuid",
    "setfsuid32", "setfsgid", "setfsgid32", "setgroups", "setgroups32",
    // Signals.
    "kill", "tkill", "tgkill", "rt_sigaction", "rt_sigpending", "rt_sigprocmask",
    "rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait",
    "rt_sigtimedwait_time64", "rt_tgsigqueueinfo", "sigaltstack", "sigprocmask", "sigreturn",
    // Time and timers.
    "alarm", "clock_getres", "clock_getres_time64", "clock_gettime", "clock_gettime64",
    "clock_nanosleep", "clock_nanosleep_time64", "getitimer", "setitimer", "gettimeofday",
    "nanosleep", "time", "timer_create", "timer_delete", "timer_getoverrun", "timer_gettime",
    "timer_gettime64", "timer_settime", "timer_settime64", "timerfd_create", "timerfd_gettime",
    "timerfd_gettime64", "timerfd_settime", "timerfd_settime64", "adjtimex", "clock_adjtime",
    "clock_adjtime64",
    // Futexes and System V / POSIX IPC (inside the run's own IPC namespace).
    "futex", "futex_time64", "futex_waitv", "msgctl", "msgget", "msgrcv", "msgsnd",
    "semctl", "semget", "semop", "semtimedop", "semtimedop_time64", "shmat", "shmctl", "shmdt",
    "shmget", "mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive",
    "mq_timedreceive_time64", "mq_timedsend", "mq_timedsend_time64", "mq_unlink",
    // Sockets (only loopback exists; socket() and socketpair() are allowed
    // below for the listed families only).
    "accept", "accept4", "bind", "connect", "getpeername", "getsockname", "getsockopt",
    "listen", "recv", "recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg", "send", "sendmmsg",
    "sendmsg", "sendto", "setsockopt", "shutdown",
    // Landlock lets a program sandbox itself further.
    "landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self",
    // 32-bit and arm forms of the calls above.
    "readdir", "sigaction", "signal", "sigpending", "sigsuspend", "timerfd",
    "arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2", "breakpoint", "cacheflush",
    "set_tls",
];

/// Calls refused with their own errno: moby's refusals for processes
/// without capabilities, and this project's additions (marked).
pub const REFUSED: &[(&str, u32)] = &[
    // Namespaces (additions: moby allows these with CAP_SYS_ADMIN only, but
    // a user namespace would grant it).
    ("unshare", EPERM),
    ("setns", EPERM),
    // The mount family.
    ("mount", EPERM),
    ("umount", EPERM),
    ("umount2", EPERM),
    ("pivot_root", EPERM),
    ("fsopen", EPERM),
    ("fsconfig", EPERM),
    ("fsmount", EPERM),
    ("fspick", EPERM),
    ("move_mount", EPERM),
    ("open_tree", EPERM),
    ("mount_setattr", EPERM),
    ("chroot", EPERM),
    // Kernel keyrings (addition).
    ("keyctl", EPERM),
    ("add_key", EPERM),
    ("request_key", EPERM),
    // BPF, perf events, userfaultfd (additions).
    ("bpf", EPERM),
    ("perf_event_open", EPERM),
    ("userfaultfd", EPERM),
    // io_uring (addition: moby allowed it until 2023).
    ("io_uring_setup", EPERM),
    ("io_uring_enter", EPERM),
    ("io_uring_register", EPERM),
    // Linux AIO (addition): its contexts are counted host-wide (fs.aio-nr
    // against fs.aio-max-nr), so one run could take every other one's and
    // the host's. glibc's POSIX AIO (aio_read …) uses threads, not these.
    ("io_setup", EPERM),
    ("io_submit", EPERM),
    ("io_getevents", EPERM),
    ("io_pgetevents", EPERM),
    ("io_pgetevents_time64", EPERM),
    ("io_cancel", EPERM),
    ("io_destroy", EPERM),
    // The i386 multiplexers (addition): seccomp cannot see the arguments
    // socketcall(2) and ipc(2) keep in memory, so they would bypass the
    // socket family list; the i386 entry point has the direct calls
    // (socket, semget …) since Linux 4.3 and 5.1.
    ("socketcall", EPERM),
    ("ipc", EPERM),
    // Other processes (additions: moby allows these on kernels from 4.8).
    ("ptrace", EPERM),
    ("process_vm_readv", EPERM),
    ("process_vm_writev", EPERM),
    ("process_madvise", EPERM),
    ("pidfd_getfd", EPERM),
    ("kcmp", EPERM),
    // Modules and kexec.
    ("init_module", EPERM),
    ("finit_module", EPERM),
    ("delete_module", EPERM),
    ("kexec_load", EPERM),
    ("kexec_file_load", EPERM),
    // The machine itself.
    ("reboot", EPERM),
    ("swapon", EPERM),
    ("swapoff", EPERM),
    ("acct", EPERM),
    ("settimeofday", EPERM),
    ("clock_settime", EPERM),
    ("sethostname", EPERM),
    ("setdomainname", EPERM),
    ("syslog", EPERM),
    ("quotactl", EPERM),
    ("iopl", EPERM),
    ("ioperm", EPERM),
    ("open_by_handle_at", EPERM),
    // clone3 cannot be filtered by its flags (they sit in memory): ENOSYS,
    // so the C library falls back to clone, whose flags are checked.
    ("clone3", ENOSYS),
];

/// Namespace flags of clone(2): CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC,
/// NEWUSER, NEWPID, NEWNET.
const NAMESPACE_FLAGS: [u64; 7] = [
    0x0002_0000,
    0x0200_0000,
    0x0400_0000,
    0x0800_0000,
    0x1000_0000,
    0x2000_0000,
    0x4000_0000,
];
/// All of them: clone is allowed when none is set.
pub const CLONE_NAMESPACES: u64 = 0x7e02_0000;

/// Socket families a run may open (`socket`, `socketpair`), on every entry
/// point: local sockets and the two Internet families, which reach only the
/// run's own loopback. Everything else — AF_VSOCK (the hypervisor's
/// host, which has no network namespace), AF_PACKET, AF_ALG, Bluetooth … —
/// gets EPERM (an errno of the profile's own: a kernel without the family
/// would say EAFNOSUPPORT, one without the i386 entry point ENOSYS). The
/// comparison is on all 64 bits, so a family with high bits set (the kernel
/// reads an `int`) is not on the list.
pub const SOCKET_FAMILIES: [(u64, &str); 3] = [(1, "AF_UNIX"), (2, "AF_INET"), (10, "AF_INET6")];

/// AF_NETLINK, allowed only with the NETLINK_ROUTE protocol (0): glibc's
/// getifaddrs (Node's `os.networkInterfaces()`, Go's `net.Interfaces`) and
/// getaddrinfo's address check ask it which addresses exist, and in the
/// run's own network namespace it shows loopback only; changing anything
/// through it needs CAP_NET_ADMIN, which no run holds.
const AF_NETLINK: u64 = 16;
const NETLINK_ROUTE: u64 = 0;

/// personality(2) values programs set (Linux, and with address-space
/// randomisation off for debuggers), and the query.
const PERSONALITIES: [u64; 5] = [0x0, 0x8, 0x20000, 0x20008, 0xffff_ffff];

/// The profile, in the format podman and runc read (Docker's).
pub fn profile() -> Value {
    let mut rules = vec![json!({"names": ALLOWED, "action": "SCMP_ACT_ALLOW"})];
    rules.push(json!({
        "names": ["clone"],
        "action": "SCMP_ACT_ALLOW",
        "args": [{"index": 0, "value": CLONE_NAMESPACES, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}],
    }));
    // clone with any namespace flag: EPERM (one rule a flag, since a filter
    // compares masked values for equality only; a refusal outranks the allow).
    for flag in NAMESPACE_FLAGS {
        rules.push(json!({
            "names": ["clone"],
            "action": "SCMP_ACT_ERRNO",
            "errnoRet": EPERM,
            "args": [{"index": 0, "value": flag, "valueTwo": flag, "op": "SCMP_CMP_MASKED_EQ"}],
        }));
    }
    rules.extend(socket_rules());
    for value in PERSONALITIES {
        rules.push(json!({
            "names": ["personality"],
            "action": "SCMP_ACT_ALLOW",
            "args": [{"index": 0, "value": value, "op": "SCMP_CMP_EQ"}],
        }));
    }
    // A rule with the default's own answer is redundant (libseccomp refuses
    // one), so only the other errnos are written out.
    for errno in [EPERM, ENOSYS].into_iter().filter(|e| *e != DEFAULT_ERRNO) {
        let names: Vec<&str> = REFUSED
            .iter()
            .filter(|(_, e)| *e == errno)
            .map(|(name, _)| *name)
            .collect();
        rules.push(json!({"names": names, "action": "SCMP_ACT_ERRNO", "errnoRet": errno}));
    }
    json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": DEFAULT_ERRNO,
        "archMap": [
            // The i386 entry point (`int 0x80`) stays: hand-written assembly
            // uses it for write and exit. It gets this same list, whose
            // multiplexers (socketcall, ipc) are refused. x32 is not listed:
            // its calls (numbers with bit 30 set, under the x86-64
            // architecture) are a foreign architecture to the filter, whose
            // answer is to kill the process with SIGSYS. Debian's kernel has
            // no x32 ABI anyway (without the filter: ENOSYS).
            {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]},
            {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]},
        ],
        "syscalls": rules,
    })
}

/// `socket` and `socketpair` for the listed families; every other family
/// refused with EPERM.
///
/// Each refusal also compares the type (argument 1) with `>= 0`, which always
/// holds: for the i386 entry point, libseccomp copies every socket rule onto
/// the `socketcall` multiplexer with its first comparison replaced by the
/// call's number, and two copies that then read the same but answer
/// differently fail to load as conflicting (EEXIST). The extra comparison
/// keeps them apart; `socketcall` itself is refused outright, which outranks
/// all those copies. A value no rule matches still fails (ENOSYS).
///
/// The refusals are few rules, since each one costs every
/// container: libseccomp copies socket rules onto i386's `socketcall` and
/// compiles the lot at each container's start. One rule a refused family
/// (42 of them) cost 40 ms of CPU and 20 ms of latency per run, measured
/// with `bench/compare.py`; in aligned blocks below AF_NETLINK and one
/// "above it" (every family from 17 on, high bits included), 8 rules do it.
fn socket_rules() -> Vec<Value> {
    const CALLS: [&str; 2] = ["socket", "socketpair"];
    let family = |op: &str, value: u64| json!({"index": 0, "value": value, "op": op});
    let any_type = json!({"index": 1, "value": 0, "op": "SCMP_CMP_GE"});
    let protocol = |op: &str| json!({"index": 2, "value": NETLINK_ROUTE, "op": op});
    let allow =
        |args: Vec<Value>| json!({"names": CALLS, "action": "SCMP_ACT_ALLOW", "args": args});
    let refuse = |mut args: Vec<Value>| {
        args.insert(1, any_type.clone());
        json!({"names": CALLS, "action": "SCMP_ACT_ERRNO", "errnoRet": EPERM, "args": args})
    };
    let mut rules: Vec<Value> = SOCKET_FAMILIES
        .iter()
        .map(|(value, _)| allow(vec![family("SCMP_CMP_EQ", *value)]))
        .collect();
    rules.push(allow(vec![
        family("SCMP_CMP_EQ", AF_NETLINK),
        protocol("SCMP_CMP_EQ"),
    ]));
    rules.push(refuse(vec![
        family("SCMP_CMP_EQ", AF_NETLINK),
        protocol("SCMP_CMP_NE"),
    ]));
    let listed = |v: u64| SOCKET_FAMILIES.iter().any(|(f, _)| *f == v);
    let unlisted: Vec<u64> = (0..AF_NETLINK).filter(|v| !listed(*v)).collect();
    for (start, size) in aligned_blocks(&unlisted) {
        let block = json!({"index": 0, "value": !(size - 1), "valueTwo": start, "op": "SCMP_CMP_MASKED_EQ"});
        rules.push(refuse(vec![block]));
    }
    rules.push(refuse(vec![family("SCMP_CMP_GT", AF_NETLINK)]));
    rules
}

/// `values` (ascending) as the fewest blocks `(start, size)`, each a power
/// of two in size and aligned to it, so that one masked comparison matches
/// exactly one block: `[0, 3, 4, 5, 6, 7]` is `[(0, 1), (3, 1), (4, 4)]`.
fn aligned_blocks(values: &[u64]) -> Vec<(u64, u64)> {
    let mut blocks = Vec::new();
    let mut rest = values;
    while let Some(&start) = rest.first() {
        // The largest aligned block at `start` whose every value follows on.
        let mut size = 1;
        while start % (size * 2) == 0
            && rest.len() >= (size * 2) as usize
            && rest[(size * 2 - 1) as usize] == start + size * 2 - 1
        {
            size *= 2;
        }
        blocks.push((start, size));
        rest = &rest[size as usize..];
    }
    blocks
}

/// The errno the profile answers `name` with, or `None` when it is allowed
/// (in some form).
pub fn answer(profile: &Value, name: &str) -> Option<u32> {
    let rules = profile["syscalls"].as_array()?;
    for rule in rules {
        let named = rule["names"]
            .as_array()
            .is_some_and(|n| n.iter().any(|x| x == name));
        if named {
            return match rule["action"].as_str() {
                Some("SCMP_ACT_ALLOW") => None,
                _ => rule["errnoRet"].as_u64().map(|e| e as u32),
            };
        }
    }
    profile["defaultErrnoRet"].as_u64().map(|e| e as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_refused_call_gets_its_errno_and_none_is_also_allowed() {
        let p = profile();
        for (name, errno) in REFUSED {
            assert_eq!(answer(&p, name), Some(*errno), "{name}");
            assert!(
                !ALLOWED.contains(name),
                "{name} is both allowed and refused"
            );
        }
        for name in [
            "unshare",
            "setns",
            "mount",
            "keyctl",
            "bpf",
            "perf_event_open",
        ] {
            assert_eq!(answer(&p, name), Some(EPERM), "{name}");
        }
        for name in [
            "io_uring_setup",
            "ptrace",
            "process_vm_readv",
            "userfaultfd",
        ] {
            assert_eq!(answer(&p, name), Some(EPERM), "{name}");
        }
        assert_eq!(answer(&p, "clone3"), Some(ENOSYS));
        assert_eq!(answer(&p, "some_future_call"), Some(ENOSYS));
    }

    #[test]
    fn ordinary_calls_are_allowed_and_clone_only_without_namespace_flags() {
        let p = profile();
        for name in [
            "read", "write", "execve", "futex", "mmap", "wait4", "pipe2", "clone",
        ] {
            assert_eq!(answer(&p, name), None, "{name}");
        }
        let clone = p["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["names"] == json!(["clone"]))
            .unwrap();
        assert_eq!(clone["args"][0]["op"], "SCMP_CMP_MASKED_EQ");
        assert_eq!(clone["args"][0]["value"], CLONE_NAMESPACES);
        assert_eq!(clone["args"][0]["valueTwo"], 0);
        assert_eq!(
            NAMESPACE_FLAGS.iter().fold(0, |a, f| a | f),
            CLONE_NAMESPACES
        );
        let refusals = p["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["names"] == json!(["clone"]) && r["errnoRet"] == EPERM)
            .count();
        assert_eq!(
            refusals,
            NAMESPACE_FLAGS.len(),
            "clone with each namespace flag: EPERM"
        );
    }

    #[test]
    fn the_multiplexers_and_linux_aio_are_refused_with_eperm() {
        let p = profile();
        for name in [
            "socketcall",
            "ipc",
            "io_setup",
            "io_submit",
            "io_getevents",
            "io_pgetevents",
            "io_cancel",
            "io_destroy",
        ] {
            assert_eq!(answer(&p, name), Some(EPERM), "{name}");
        }
    }

    #[test]
    fn unlisted_families_fall_into_few_aligned_blocks() {
        assert_eq!(
            aligned_blocks(&[0, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14, 15]),
            [(0, 1), (3, 1), (4, 4), (8, 2), (11, 1), (12, 4)]
        );
        assert_eq!(aligned_blocks(&[5, 6, 7, 8]), [(5, 1), (6, 2), (8, 1)]);
        assert_eq!(aligned_blocks(&[]), []);
        let refusals = profile()["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["names"] == json!(["socket", "socketpair"]))
            .filter(|r| r["action"] == "SCMP_ACT_ERRNO")
            .count();
        assert_eq!(refusals, 8);
    }

    #[test]
    fn every_socket_family_is_either_allowed_or_refused_by_exactly_one_rule() {
        let p = profile();
        let rules: Vec<&Value> = p["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["names"] == json!(["socket", "socketpair"]))
            .collect();
        // Which rules match `family` (with `protocol`), as libseccomp compares.
        let matching = |family: u64, protocol: u64| -> Vec<&str> {
            rules
                .iter()
                .filter(|r| {
                    r["args"].as_array().unwrap().iter().all(|a| {
                        let given = match a["index"].as_u64().unwrap() {
                            0 => family,
                            1 => 1, // SOCK_STREAM
                            _ => protocol,
                        };
                        let value = a["value"].as_u64().unwrap();
                        match a["op"].as_str().unwrap() {
                            "SCMP_CMP_EQ" => given == value,
                            "SCMP_CMP_NE" => given != value,
                            "SCMP_CMP_GE" => given >= value,
                            "SCMP_CMP_GT" => given > value,
                            "SCMP_CMP_MASKED_EQ" => {
                                given & value == a["valueTwo"].as_u64().unwrap()
                            }
                            op => panic!("unexpected {op}"),
                        }
                    })
                })
                .map(|r| r["action"].as_str().unwrap())
                .collect()
        };
        for family in (0..=64).chain([40, 1 << 32 | 40, u64::MAX]) {
            for protocol in [0, 1, 15] {
                let actions = matching(family, protocol);
                assert_eq!(
                    actions.len(),
                    1,
                    "family {family} protocol {protocol}: {actions:?}"
                );
                let allowed = [1, 2, 10].contains(&family) || (family == 16 && protocol == 0);
                let expected = if allowed {
                    "SCMP_ACT_ALLOW"
                } else {
                    "SCMP_ACT_ERRNO"
                };
                assert_eq!(actions[0], expected, "family {family} protocol {protocol}");
            }
        }
        assert!(rules
            .iter()
            .filter(|r| r["action"] == "SCMP_ACT_ERRNO")
            .all(|r| r["errnoRet"] == EPERM));
    }

    #[test]
    fn the_i386_entry_point_is_kept_and_x32_is_not_listed() {
        let p = profile();
        let x86 = &p["archMap"][0];
        assert_eq!(x86["architecture"], "SCMP_ARCH_X86_64");
        assert_eq!(x86["subArchitectures"], json!(["SCMP_ARCH_X86"]));
    }

    #[test]
    fn no_call_is_listed_twice() {
        let mut seen = std::collections::HashSet::new();
        for name in ALLOWED {
            assert!(seen.insert(*name), "{name} twice");
        }
    }
}
