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

mod lists;
#[cfg(test)]
mod tests;

use serde_json::{json, Value};

use lists::ALLOWED;
pub use lists::REFUSED;

/// errno values the profile answers with.
pub const EPERM: u32 = 1;
pub const ENOSYS: u32 = 38;

/// What an unlisted call gets.
pub const DEFAULT_ERRNO: u32 = ENOSYS;

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
