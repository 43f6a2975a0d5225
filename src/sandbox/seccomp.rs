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
    // Asynchronous I/O (the old interface; io_uring is refused).
    "io_cancel", "io_destroy", "io_getevents", "io_pgetevents", "io_pgetevents_time64",
    "io_setup", "io_submit", "ioctl", "ioprio_get", "ioprio_set",
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
    "futex", "futex_time64", "futex_waitv", "ipc", "msgctl", "msgget", "msgrcv", "msgsnd",
    "semctl", "semget", "semop", "semtimedop", "semtimedop_time64", "shmat", "shmctl", "shmdt",
    "shmget", "mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive",
    "mq_timedreceive_time64", "mq_timedsend", "mq_timedsend_time64", "mq_unlink",
    // Sockets (only loopback exists; socket() itself is allowed below).
    "accept", "accept4", "bind", "connect", "getpeername", "getsockname", "getsockopt",
    "listen", "recv", "recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg", "send", "sendmmsg",
    "sendmsg", "sendto", "setsockopt", "shutdown", "socketcall", "socketpair",
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

/// AF_VSOCK: a socket family that reaches the host's hypervisor.
const AF_VSOCK: u64 = 40;

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
    rules.push(json!({
        "names": ["socket"],
        "action": "SCMP_ACT_ALLOW",
        "args": [{"index": 0, "value": AF_VSOCK, "op": "SCMP_CMP_NE"}],
    }));
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
            {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
            {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]},
        ],
        "syscalls": rules,
    })
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
    fn no_call_is_listed_twice() {
        let mut seen = std::collections::HashSet::new();
        for name in ALLOWED {
            assert!(seen.insert(*name), "{name} twice");
        }
    }
}
