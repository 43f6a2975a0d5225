//! The profile's promises, checked on its JSON.
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
                        "SCMP_CMP_MASKED_EQ" => given & value == a["valueTwo"].as_u64().unwrap(),
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
