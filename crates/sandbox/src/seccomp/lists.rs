//! The profile's data: the calls every run may make and the calls refused
//! with their own errno.

use super::{ENOSYS, EPERM};

/// Calls every run may make (x86-64 and arm64 names; names a kernel or
/// architecture lacks are skipped by the runtime).
#[rustfmt::skip]
pub const ALLOWED: &[&str] = &[
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
