//! The runner (PID 1) out of the program's reach, against real podman: the
//! runner is root of the container's user namespace and every step is
//! nobody, so nothing a program or its compiler does changes PID 1's limits,
//! priority, affinity or life, and whatever it tries ends as that run's
//! answer, never as the service's error.

// The podman lock is a std mutex held for the whole test on purpose: one podman test at a time.
#![allow(clippy::await_holding_lock)]

mod common;

use common::judge0::{post, status_of};
use common::Service;
use serde_json::json;

/// Judge0's ids: Python 3, C (GCC), Bash.
const PYTHON: u32 = 71;
const C: u32 = 50;
const BASH: u32 = 46;
const ACCEPTED: u64 = 3;

/// Each attempt on PID 1 (then a kill), printed as the errno's name or
/// `changed`; then a check that the program's own limits are its own.
const TAMPER: &str = "import errno, os, resource
def attempt(change):
    try:
        change()
        return 'changed'
    except OSError as e:
        return errno.errorcode[e.errno]
for change in [
    lambda: resource.prlimit(1, resource.RLIMIT_NOFILE, (4, 4)),
    lambda: resource.prlimit(1, resource.RLIMIT_NPROC, (1, 1)),
    lambda: resource.prlimit(1, resource.RLIMIT_CPU, (0, 0)),
    lambda: os.setpriority(os.PRIO_PROCESS, 1, 19),
    lambda: os.sched_setaffinity(1, {0}),
    lambda: os.kill(1, 9),
]:
    print(attempt(change))
files = [open('/dev/null') for _ in range(32)]
print(len(files), os.getuid(), os.getgid(), os.getgroups())
";

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn the_program_cannot_change_the_runners_limits_priority_or_affinity() {
    let _podman = common::podman_test();
    let svc = Service::start(&[]);
    // Two runs in one container: the second starts only if the runner kept
    // its limits and its life through the first.
    let (status, answer) = post(
        &svc,
        "/submissions?wait=true&fields=*",
        json!({"language_id": PYTHON, "source_code": TAMPER, "number_of_runs": 2}),
    )
    .await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(status_of(&answer), ACCEPTED, "{answer}");
    assert_eq!(
        answer["stdout"], "EPERM\nEPERM\nEPERM\nEPERM\nEPERM\nEPERM\n32 65534 65534 []\n",
        "prlimit NOFILE, NPROC, CPU; setpriority; sched_setaffinity; kill: {answer}"
    );

    // And through the whipcode API, after which the service still runs.
    let out = svc.run_ok(1, TAMPER, json!({})).await;
    assert!(
        out["stdout"].as_str().unwrap().starts_with("EPERM\n"),
        "{out}"
    );
    let again = svc.run_ok(1, "print('next')", json!({})).await;
    assert_eq!(again["stdout"], "next\n");
    svc.stop_and_check_clean();
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn a_compiler_wrapper_cannot_reach_the_runner() {
    let _podman = common::podman_test();
    let svc = Service::start(&[]);
    // gcc runs each of its programs through the wrapper: a shell that first
    // tries to take PID 1's files, processes and CPU time, then goes on.
    let wrapper = "-wrapper /bin/sh,-c,prlimit${IFS}--pid${IFS}1${IFS}--nofile=4:4${IFS}--nproc=1:1${IFS}--cpu=0:0;exec${IFS}\"$0\"${IFS}\"$@\"";
    let (status, answer) = post(
        &svc,
        "/submissions?wait=true&fields=*",
        json!({"language_id": C, "source_code": "#include <stdio.h>\nint main(void) { puts(\"ran\"); }",
               "compiler_options": wrapper}),
    )
    .await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(status_of(&answer), ACCEPTED, "{answer}");
    assert_eq!(answer["stdout"], "ran\n", "{answer}");
    let compile = answer["compile_output"].as_str().unwrap_or_default();
    assert!(
        compile.contains("prlimit") && compile.contains("Operation not permitted"),
        "the wrapper ran and was refused: {answer}"
    );
    svc.stop_and_check_clean();
}

/// The step's pipes belong to its user: a program may reopen them by name,
/// as `/dev/stdin` (Fortran's `open(file='/dev/stdin')`) or `/dev/stderr`.
#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn the_program_opens_its_own_stdin_stdout_and_stderr_by_name() {
    let _podman = common::podman_test();
    let svc = Service::start(&[]);
    let script = "cat /dev/stdin; echo out > /dev/stdout; echo err > /dev/stderr";
    let out = svc.run_ok(3, script, json!({"stdin": "in\n"})).await;
    assert_eq!(
        (&out["stdout"], &out["stderr"], &out["exit_code"]),
        (&json!("in\nout\n"), &json!("err\n"), &json!(0)),
        "{out}"
    );
    // With stderr merged into stdout (one pipe for both).
    let (status, answer) = post(
        &svc,
        "/submissions?wait=true&fields=*",
        json!({"language_id": BASH, "source_code": script, "stdin": "in\n",
            "redirect_stderr_to_stdout": true}),
    )
    .await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(status_of(&answer), ACCEPTED, "{answer}");
    assert_eq!(answer["stdout"], "in\nout\nerr\n", "{answer}");
    svc.stop_and_check_clean();
}

/// Between two runs of one submission the runner ends every process, reads
/// and puts back /tmp: a compile step's leftover racing it, or a tree too
/// deep for one path, is that submission's answer, never the service's
/// error.
#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn what_a_run_leaves_in_tmp_cannot_break_the_next_run() {
    let _podman = common::podman_test();
    let svc = Service::start(&[]);
    // Run 1 leaves a tree far deeper than PATH_MAX (17 × 256 bytes).
    let deep = "import os\nfor _ in range(17):\n    os.mkdir('a' * 255)\n    os.chdir('a' * 255)\nprint('deep')";
    let (status, answer) = post(
        &svc,
        "/submissions?wait=true&fields=*",
        json!({"language_id": PYTHON, "source_code": deep, "number_of_runs": 2}),
    )
    .await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(status_of(&answer), ACCEPTED, "{answer}");
    assert_eq!(answer["stdout"], "deep\n", "{answer}");
    // Run 1's POSIX shared memory is gone in run 2, as its files are.
    let shm = "import os\nprint('left' if os.path.exists('/dev/shm/mark') else 'fresh')\nopen('/dev/shm/mark', 'w').write('x')";
    let (_, answer) = post(
        &svc,
        "/submissions?wait=true&fields=*",
        json!({"language_id": PYTHON, "source_code": shm, "number_of_runs": 2}),
    )
    .await;
    assert_eq!(status_of(&answer), ACCEPTED, "{answer}");
    assert_eq!(answer["stdout"], "fresh\n", "{answer}");
    // A compile step leaves a process renaming a file back and forth while
    // the runner records /tmp.
    // (compiler_options are split as a shell splits words.)
    let wrapper = r#"-wrapper '/bin/sh,-c,(setsid sh -c "exec >/dev/null 2>&1; while :; do mv f g; mv g f; done" &); exec "$0" "$@"'"#;
    let archive = common::judge0::zip(&[("f", b"x")]);
    let (status, answer) = post(
        &svc,
        "/submissions?wait=true&fields=*",
        json!({"language_id": C, "number_of_runs": 2, "compiler_options": wrapper,
            "source_code": "#include <stdio.h>\nint main(void) { puts(\"ran\"); return 0; }",
            "additional_files": common::b64(&archive)}),
    )
    .await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(status_of(&answer), ACCEPTED, "{answer}");
    assert_eq!(answer["stdout"], "ran\n", "{answer}");
    svc.stop_and_check_clean();
}
