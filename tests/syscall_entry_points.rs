//! One allow-list on every entry point, against real podman: the 64-bit
//! calls and the 32-bit ones a 64-bit program makes through `int 0x80` get
//! the same answers, the i386 multiplexers (socketcall, ipc) are refused, only
//! the listed socket families open, and Linux AIO contexts (counted
//! host-wide) are refused. Each test asserts the exact errno, EPERM: ENOSYS
//! and EAFNOSUPPORT also appear on kernels without ia32 emulation or vsock,
//! so only the profile's own answer passes. No socket is ever connected.

// Each test has its own runtime on its own thread; the podman lock is meant to
// block the thread, serialising podman tests across the whole binary.
#![allow(clippy::await_holding_lock)]

mod common;

use common::Service;
use serde_json::json;

const C: u32 = 7;
const PYTHON: u32 = 1;

const EPERM: &str = "1";

/// A C preamble: `sys32(nr, a, b, c)` makes an i386 system call through
/// `int 0x80` from a 64-bit program and gives `0` or the errno; `low` is a
/// page below 4 GiB (the 32-bit calls see only the low half of a pointer).
const INT80: &str = r#"#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <errno.h>
static long sys32(long nr, long a, long b, long c) {
    long ret;
    __asm__ volatile ("int $0x80" : "=a"(ret) : "a"(nr), "b"(a), "c"(b), "d"(c) : "memory");
    return ret;
}
static const char *answer(long ret) {
    static char text[16];
    if (ret >= 0) { close((int)ret); return "0"; }
    snprintf(text, sizeof text, "%ld", -ret);
    return text;
}
static uint32_t *low;
static void setup(void) {
    low = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
    if (low == MAP_FAILED) { perror("mmap"); _exit(3); }
}
"#;

/// Runs a C program (`INT80` first, then `body`) in a fresh service;
/// its stdout one word a line, its exit code.
async fn c(body: &str) -> (Vec<String>, i64) {
    let svc = Service::start(&[]);
    let out = svc.run_ok(C, &format!("{INT80}{body}"), json!({})).await;
    svc.stop_and_check_clean();
    assert_eq!(out["stderr"], "", "{out}");
    let lines = out["stdout"]
        .as_str()
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    (lines, out["exit_code"].as_i64().unwrap_or(-1))
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn a_32_bit_socketcall_is_refused_with_eperm() {
    let _podman = common::podman_test();
    // socketcall(SYS_SOCKET, {family, type, 0}): AF_VSOCK, AF_PACKET, and
    // AF_UNIX, which the direct call allows: the multiplexer is refused as
    // a whole, since seccomp cannot read the arguments it keeps in memory.
    let (out, _) = c(r#"int main(void) {
    setup();
    long families[][2] = {{40, 1}, {17, 2}, {1, 1}};
    for (int i = 0; i < 3; i++) {
        low[0] = families[i][0]; low[1] = families[i][1]; low[2] = 0;
        puts(answer(sys32(102, 1, (long)(uintptr_t)low, 0)));
    }
    /* ipc(SEMGET, IPC_PRIVATE, 1, 0600), the other multiplexer. */
    puts(answer(sys32(117, 2, 0, 1)));
    return 0;
}"#)
    .await;
    assert_eq!(
        out,
        [EPERM, EPERM, EPERM, EPERM],
        "socketcall AF_VSOCK, AF_PACKET, AF_UNIX; ipc"
    );
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn only_allow_listed_socket_families_open() {
    let _podman = common::podman_test();
    // (family, type, protocol) on x86_64 (syscall) and i386 (int 0x80,
    // socket is 359 there): AF_UNIX, AF_INET, AF_INET6, AF_NETLINK with
    // NETLINK_ROUTE open; NETLINK_AUDIT, AF_PACKET, AF_ALG, AF_VSOCK, an
    // unknown family and the unlisted ones between the listed (AF_UNSPEC,
    // AF_IPX, AF_X25, AF_KEY) do not. The kernel reads an int: AF_VSOCK with high
    // bits set must not slip past a 64-bit comparison.
    let (out, _) = c(r#"int main(void) {
    setup();
    long tries[][3] = {{1, 1, 0}, {2, 2, 0}, {10, 1, 0}, {16, 3, 0},
                       {16, 3, 9}, {17, 2, 0}, {38, 5, 0}, {40, 1, 0}, {200, 1, 0},
                       {0, 1, 0}, {4, 2, 0}, {9, 5, 0}, {15, 3, 2}};
    for (int i = 0; i < 13; i++) {
        long r = syscall(SYS_socket, tries[i][0], tries[i][1], tries[i][2]);
        printf("%s ", r >= 0 ? answer(r) : answer(-errno));
        puts(answer(sys32(359, tries[i][0], tries[i][1], tries[i][2])));
    }
    long r = syscall(SYS_socket, (1L << 32) | 40, 1, 0);
    puts(r >= 0 ? answer(r) : answer(-errno));
    r = syscall(SYS_socketpair, 40, 1, 0, low);
    puts(r >= 0 ? "0" : answer(-errno));
    return 0;
}"#)
    .await;
    let open = "0 0".to_owned();
    let refused = format!("{EPERM} {EPERM}");
    let mut expected = vec![open.clone(); 4];
    expected.extend(vec![refused; 9]);
    expected.push(EPERM.into());
    expected.push(EPERM.into());
    assert_eq!(
        out, expected,
        "x86_64 and i386: unix, inet, inet6, netlink route open; netlink audit, packet, alg, vsock, 200, unspec, ipx, x25, key refused; vsock with high bits; socketpair vsock"
    );
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn a_32_bit_int_0x80_write_and_exit_still_work() {
    let _podman = common::podman_test();
    // As hand-written i386 assembly does it: write(1, …) then exit(7).
    let (out, code) = c(r#"int main(void) {
    setup();
    const char text[] = "written through int 0x80\n";
    memcpy(low, text, sizeof text - 1);
    fflush(stdout);
    sys32(4, 1, (long)(uintptr_t)low, sizeof text - 1);
    sys32(1, 7, 0, 0);
    return 0;
}"#)
    .await;
    assert_eq!(out, ["written through int 0x80"]);
    assert_eq!(code, 7, "the 32-bit exit's status");
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn aio_contexts_are_refused_with_eperm() {
    let _podman = common::podman_test();
    // io_setup(128, &ctx), then io_submit, io_getevents and io_destroy on a
    // made-up context: each refused before the kernel looks at it (it
    // would answer EINVAL), so no run can take the host's fs.aio-max-nr.
    let svc = Service::start(&[]);
    let out = svc
        .run_ok(
            PYTHON,
            "import ctypes
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
ctx = ctypes.c_ulong(0)
for nr, args in [(206, (128, ctypes.addressof(ctx))), (209, (1, 0, 0)), (208, (1, 0, 0, 0, 0)), (207, (1,))]:
    ctypes.set_errno(0)
    r = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) for a in args])
    print(ctypes.get_errno() if r == -1 else 0)
",
            json!({}),
        )
        .await;
    svc.stop_and_check_clean();
    assert_eq!(out["stdout"], "1\n1\n1\n1\n", "{out}");
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn an_x32_call_ends_the_program_with_sigsys() {
    let _podman = common::podman_test();
    // x32 is no entry point: the profile does not list it, so the filter
    // kills a process making such a call (the kernel alone says ENOSYS).
    let svc = Service::start(&[]);
    let out = svc
        .run_ok(
            C,
            "#include <stdio.h>\n#include <unistd.h>\n#include <sys/syscall.h>\n\
             int main(void) { puts(\"before\"); fflush(stdout);\n\
             syscall(0x40000000L | SYS_getpid); puts(\"after\"); return 0; }",
            json!({}),
        )
        .await;
    svc.stop_and_check_clean();
    assert_eq!(out["stdout"], "before\n", "{out}");
    assert_eq!(out["signal"], "SIGSYS", "{out}");
}
