//! The two engines on real crun and podman: crun (the default) starts each
//! container itself with the same policy podman's would get, leaves nothing
//! behind, cleans up after a killed server, and gives way to podman with a
//! reason where it cannot run; podman (`--engine podman`) still serves every
//! API, times out, OOM-kills and sweeps.

// Each test has its own runtime on its own thread; the podman lock is meant to
// block the thread, serialising podman tests across the whole binary.
#![allow(clippy::await_holding_lock)]

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Service, CRUN_BASE, KEY};
use serde_json::{json, Value};

/// Where an instance's crun directory, image binds and cgroups are.
fn crun_dir(instance: &str) -> PathBuf {
    Path::new(CRUN_BASE).join(instance)
}

fn roots_dir(instance: &str) -> PathBuf {
    Path::new("/run/whipcode/roots").join(instance)
}

fn cgroup_dir(instance: &str) -> PathBuf {
    Path::new("/sys/fs/cgroup/memory/whipcode").join(instance)
}

/// Nothing of `instance` is left on the host: its crun directory, image
/// binds (directories and mounts) and cgroups are gone.
fn assert_nothing_left_of(instance: &str) {
    assert!(
        !crun_dir(instance).exists(),
        "{instance}'s crun directory stays"
    );
    assert!(
        !roots_dir(instance).exists(),
        "{instance}'s image binds stay"
    );
    assert!(!cgroup_dir(instance).exists(), "{instance}'s cgroups stay");
    assert_eq!(
        instance_mounts(instance),
        0,
        "{instance}'s image root stays bound"
    );
}

/// Subdirectories of `dir` (none when it is gone).
fn entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Mounts on the host under an instance's directory of image binds.
fn instance_mounts(instance: &str) -> usize {
    let dir = roots_dir(instance).display().to_string() + "/";
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.split(' ').nth(4).is_some_and(|m| m.starts_with(&dir)))
        .count()
}

/// A run of `code` (bash) started in the background; waits until its
/// container exists and gives its name.
async fn background_run(svc: &Service, code: &str) -> (String, tokio::task::JoinHandle<()>) {
    let url = svc.url.clone();
    let body = json!({"language_id": 3, "code": common::b64(code), "timeout": 30});
    let pending = tokio::spawn(async move {
        let _ = common::post_json(&format!("{url}/run"), Some(KEY), &body).await;
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(name) = common::instance_containers(&svc.instance).pop() {
            // The program has had time to start.
            tokio::time::sleep(Duration::from_millis(500)).await;
            return (name, pending);
        }
        assert!(Instant::now() < deadline, "the run never started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The OCI configuration podman generated for a running container.
fn podman_config(name: &str) -> Value {
    let out = Command::new("podman")
        .args([
            "container",
            "inspect",
            "--format",
            "{{.OCIConfigPath}}",
            name,
        ])
        .output()
        .unwrap();
    let path = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(out.status.success() && !path.is_empty(), "inspect {name}");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The configuration the crun engine wrote for a running container.
fn crun_config(instance: &str, name: &str) -> Value {
    let path = crun_dir(instance)
        .join("bundles")
        .join(name)
        .join("config.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// What carries the security policy in an OCI configuration: everything but
/// per-container paths, ids and names.
fn policy_fields(config: &Value) -> Value {
    let process = &config["process"];
    let linux = &config["linux"];
    let set = |v: &Value| -> BTreeSet<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .map(|x| x.to_string())
            .collect()
    };
    // Mount options that carry policy, per destination (podman's own
    // bookkeeping options and its files in /etc and /run left out).
    let bookkeeping = ["rprivate", "tmpcopyup", "bind", "rbind"];
    let mounts: std::collections::BTreeMap<String, (String, BTreeSet<String>)> = config["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| {
            let dest = m["destination"].as_str()?;
            let runner = dest.ends_with("whipcode-runner");
            let podmans_own = ["/etc/hosts", "/etc/hostname", "/run/.containerenv"];
            if podmans_own.contains(&dest) || dest == "/run" {
                return None;
            }
            let options = m["options"]
                .as_array()?
                .iter()
                .filter_map(|o| o.as_str())
                .filter(|o| !bookkeeping.contains(o))
                .filter(|o| !(dest == "/dev/shm" && o.starts_with("mode=")))
                .filter(|o| !(dest == "/dev/shm" && o.starts_with("size=")))
                .map(str::to_owned)
                .collect();
            // /dev/shm: podman binds a 1 MiB tmpfs of its own, crun mounts one.
            let kind = if dest == "/dev/shm" {
                "shm".to_owned()
            } else {
                m["type"].as_str()?.to_owned()
            };
            let key = if runner {
                "<runner>".to_owned()
            } else {
                dest.to_owned()
            };
            Some((key, (kind, options)))
        })
        .collect();
    let id_map = |v: &Value| {
        json!(v.as_array().map(|maps| maps
            .iter()
            .map(|m| json!({"containerID": m["containerID"], "size": m["size"]}))
            .collect::<Vec<_>>()))
    };
    let namespaces: BTreeSet<String> = linux["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["type"].as_str().unwrap().to_owned())
        .collect();
    let mut resources = linux["resources"].clone();
    if let Some(r) = resources.as_object_mut() {
        r.remove("devices");
    }
    json!({
        "user": process["user"],
        "cwd": process["cwd"],
        "capabilities": process["capabilities"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(set_name, caps)| (set_name.clone(), set(caps)))
            .collect::<std::collections::BTreeMap<_, _>>(),
        "rlimits": set(&process["rlimits"]),
        "noNewPrivileges": process["noNewPrivileges"],
        "oomScoreAdj": process["oomScoreAdj"],
        "readonly_root": config["root"]["readonly"],
        "hostname": config["hostname"],
        "mounts": mounts,
        "namespaces": namespaces,
        "uidMappings": id_map(&linux["uidMappings"]),
        "gidMappings": id_map(&linux["gidMappings"]),
        // crun's adds a deny-all device rule (checked below); podman's has none here.
        "resources": resources,
        "apparmorProfile": process["apparmorProfile"],
        "selinuxLabel": process["selinuxLabel"],
        "maskedPaths": set(&linux["maskedPaths"]),
        "readonlyPaths": set(&linux["readonlyPaths"]),
        "seccomp": linux["seccomp"],
        "sysctl": linux["sysctl"],
        "devices": linux["devices"],
    })
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn the_crun_policy_matches_the_podman_policy() {
    let _podman = common::podman_test();
    let mut configs = Vec::new();
    for engine in ["podman", "crun"] {
        let svc = Service::start(&["--engine", engine, "--pool-size", "0"]);
        assert!(
            svc.wait_for_log(&format!("engine=\"{engine}\""), Duration::from_secs(10)),
            "the server runs on {engine}"
        );
        let (name, pending) = background_run(&svc, "sleep 5").await;
        configs.push(match engine {
            "podman" => podman_config(&name),
            _ => crun_config(&svc.instance, &name),
        });
        pending.await.unwrap();
        svc.stop_and_check_clean();
    }
    let (podman, crun) = (policy_fields(&configs[0]), policy_fields(&configs[1]));
    for (field, wanted) in podman.as_object().unwrap() {
        assert_eq!(&crun[field], wanted, "{field} differs between the engines");
    }
    assert_eq!(
        configs[1]["linux"]["resources"]["devices"],
        json!([{"allow": false, "access": "rwm"}]),
        "crun's containers refuse every device but crun's defaults"
    );
    // The one mount crun adds: /run, root's and not writable by the program.
    let run = configs[1]["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["destination"] == "/run")
        .expect("crun's /run");
    assert!(
        run["options"]
            .as_array()
            .unwrap()
            .contains(&json!("mode=755")),
        "{run}"
    );
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn a_run_leaves_no_state_cgroup_or_mount_behind() {
    let _podman = common::podman_test();
    let svc = Service::start(&["--max-concurrent", "4"]);
    let instance = svc.instance.clone();
    assert_eq!(instance_mounts(&instance), 0, "nothing bound before a run");
    let first = svc.run_ok(3, "echo warm", json!({})).await;
    assert_eq!(first["stdout"], "warm\n");
    // The image's root is bound once; runs add no mount of their own.
    assert_eq!(instance_mounts(&instance), 1, "one bind of the image root");
    let client = Service::client();
    let mut done = 0;
    for batch in 0..50 {
        let mut runs = tokio::task::JoinSet::new();
        for i in 0..4 {
            let n = batch * 4 + i;
            let body = json!({"language_id": 3, "code": common::b64(format!("echo {n}"))});
            let client = client.clone();
            let url = format!("{}/run", svc.url);
            runs.spawn(async move {
                let r = client
                    .post(url)
                    .header("X-Master-Key", KEY)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
                let body: Value = r.json().await.unwrap();
                assert_eq!(body["stdout"], format!("{n}\n"), "{body}");
            });
        }
        while let Some(run) = runs.join_next().await {
            run.unwrap();
        }
        done += 4;
    }
    assert_eq!(done, 200);
    // Removal follows the answer: give the last teardowns a moment.
    let deadline = Instant::now() + Duration::from_secs(20);
    let warm = |dir: &Path| entries(dir).len();
    loop {
        // Only the pool's warm containers (at most its size) may remain.
        let bundles = warm(&crun_dir(&instance).join("bundles"));
        let state = warm(&crun_dir(&instance).join("state"));
        let cgroups = warm(&cgroup_dir(&instance));
        if bundles <= 8 && state == bundles && cgroups == bundles {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "left behind: {bundles} bundles, {state} states, {cgroups} cgroups"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(instance_mounts(&instance), 1, "a run left a mount");
    svc.stop_and_check_clean();
    assert_nothing_left_of(&instance);
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn a_killed_servers_crun_containers_are_removed_by_the_next_server() {
    let _podman = common::podman_test();
    let before = common::host_container_count();
    let mut first = Service::start(&["-t", "30", "--pool-size", "0"]);
    let dead = first.instance.clone();
    let (name, pending) = background_run(&first, "sleep 30").await;
    let state = crun_dir(&dead).join("state").join(&name);
    assert!(state.is_dir(), "crun's state of the running container");
    Command::new("kill")
        .args(["-KILL", &first.pid().to_string()])
        .status()
        .unwrap();
    first.wait_exit(Duration::from_secs(10));
    let _ = pending.await;
    assert!(
        state.is_dir(),
        "after kill -9 the container outlives the server"
    );
    assert!(cgroup_dir(&dead).join(&name).is_dir());
    assert_eq!(
        instance_mounts(&dead),
        1,
        "the image root bound by the dead server"
    );

    // Another instance's startup sweep finds the dead owner's leftovers.
    let mut next = Service::start(&[]);
    next.host_before = before;
    let deadline = Instant::now() + Duration::from_secs(20);
    while crun_dir(&dead).exists() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!state.exists(), "the dead server's container is gone");
    assert_nothing_left_of(&dead);
    let ok = next.run_ok(3, "echo after", json!({})).await;
    assert_eq!(ok["stdout"], "after\n");
    drop(first);
    next.stop_and_check_clean();
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn an_engine_that_cannot_start_falls_back_with_a_reason() {
    let _podman = common::podman_test();
    let svc = Service::start(&["--crun-path", "/nonexistent/crun"]);
    assert!(
        svc.wait_for_log(
            "crun is not installed (/nonexistent/crun not found)",
            Duration::from_secs(10)
        ),
        "the reason is logged: {}",
        svc.log_text()
    );
    assert!(svc.log_text().contains("engine=\"podman\""));
    let body = svc.run_ok(1, "print('on podman')", json!({})).await;
    assert_eq!(body["stdout"], "on podman\n");
    assert!(
        !crun_dir(&svc.instance).exists(),
        "nothing of crun's was made"
    );
    svc.stop_and_check_clean();
}

/// The smaller matrix on `--engine podman`: every API, a timeout, an OOM kill.
#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn the_podman_engine_serves_every_api_times_out_and_oom_kills() {
    let _podman = common::podman_test();
    let svc = Service::start(&["--engine", "podman", "-t", "3"]);
    assert!(svc.wait_for_log("engine=\"podman\"", Duration::from_secs(10)));
    let own = svc.run_ok(1, "print('whipcode')", json!({})).await;
    assert_eq!(own["stdout"], "whipcode\n");
    let piston =
        json!({"language": "python", "version": "*", "files": [{"content": "print('piston')"}]});
    let (status, body) =
        common::post_json(&format!("{}/api/v2/execute", svc.url), Some(KEY), &piston).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["run"]["stdout"], "piston\n");
    let judge0 = json!({"language_id": 71, "source_code": "print('judge0')"});
    let url = format!("{}/judge0/submissions?wait=true", svc.url);
    let (status, body) = common::post_json(&url, Some(KEY), &judge0).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["stdout"], "judge0\n");
    assert_eq!(body["status"]["id"], 3, "{body}");
    let slow = svc
        .run_ok(3, "echo before; sleep 60", json!({"timeout": 1}))
        .await;
    assert_eq!(slow["timeout"], true, "{slow}");
    assert_eq!(slow["stdout"], "before\n");
    let bomb = svc
        .run_ok(1, "x = bytearray(2 * 1024 ** 3)", json!({}))
        .await;
    assert_eq!(bomb["oom_killed"], true, "{bomb}");
    svc.stop_and_check_clean();
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn a_killed_servers_podman_containers_are_removed_on_the_podman_engine() {
    let _podman = common::podman_test();
    let before = common::host_container_count();
    let mut first = Service::start(&["--engine", "podman", "-t", "30", "--pool-size", "0"]);
    let dead = first.instance.clone();
    let (_name, pending) = background_run(&first, "sleep 30").await;
    Command::new("kill")
        .args(["-KILL", &first.pid().to_string()])
        .status()
        .unwrap();
    first.wait_exit(Duration::from_secs(10));
    let _ = pending.await;
    assert!(
        !common::instance_containers(&dead).is_empty(),
        "the container outlives the server"
    );
    let mut next = Service::start(&["--engine", "podman"]);
    next.host_before = before;
    assert!(
        common::instance_containers(&dead).is_empty(),
        "the next server's startup sweep removed the dead one's container"
    );
    drop(first);
    next.stop_and_check_clean();
}

/// `localhost/whipcode-<name>:latest` built from the base image with `/marker`
/// holding `text`; its id.
fn build_marked_image(name: &str, text: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("Containerfile"),
        format!("FROM localhost/whipcode-base:latest\nRUN echo {text} > /marker\n"),
    )
    .unwrap();
    let image = format!("localhost/whipcode-{name}:latest");
    let out = Command::new("podman")
        .args([
            "build",
            "--runtime",
            "runc",
            "--network",
            "none",
            "-q",
            "-t",
            &image,
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn runs_of_a_rebuilt_image_use_the_new_root() {
    let _podman = common::podman_test();
    let name = format!("rebuilt{:06x}", rand::random::<u32>() & 0xffffff);
    let old = build_marked_image(&name, "one");
    let dir = tempfile::tempdir().unwrap();
    let built_in =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("langmap.toml"))
            .unwrap();
    let map = dir.path().join("langmap.toml");
    std::fs::write(
        &map,
        format!(
            "{built_in}\n[[image]]\nname = \"{name}\"\nfrom = \"base\"\npackages = [\"hello\"]\n\n\
             [[language]]\nid = 102\nname = \"Marked\"\nimage = \"{name}\"\nsource = \"x\"\n\
             run = [\"cat\", \"/marker\"]\nselftest = {{ hello = \"x\" }}\n"
        ),
    )
    .unwrap();
    let svc = Service::start(&["-m", map.to_str().unwrap(), "--pool-size", "0"]);
    let first = svc.run_ok(102, "unused", json!({})).await;
    assert_eq!(first["stdout"], "one\n", "{first}");
    let new = build_marked_image(&name, "two");
    assert_ne!(old, new, "a rebuild makes a new image");
    let second = svc.run_ok(102, "unused", json!({})).await;
    assert_eq!(
        second["stdout"], "two\n",
        "the rebuilt image's root: {second}"
    );
    // The old root stays bound (a run may still start on it) until the end.
    assert_eq!(
        instance_mounts(&svc.instance),
        2,
        "the old and the new root"
    );
    let instance = svc.instance.clone();
    svc.stop_and_check_clean();
    assert_eq!(instance_mounts(&instance), 0, "both roots given back");
    let mounted = Command::new("podman")
        .args(["image", "mount"])
        .output()
        .unwrap();
    let mounted = String::from_utf8_lossy(&mounted.stdout);
    assert!(
        !mounted.contains(&old) && !mounted.contains(&new),
        "podman's counts given back: {mounted}"
    );
    let _ = Command::new("podman")
        .args(["rmi", "-f", &old, &new])
        .output();
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn the_precompiled_filter_refuses_what_the_profile_refuses() {
    let _podman = common::podman_test();
    let svc = Service::start(&["--pool-size", "0"]);
    // The container runs under the filter compiled once, not crun's own.
    let (name, pending) = background_run(&svc, "sleep 2").await;
    let config = crun_config(&svc.instance, &name);
    let bpf = config["annotations"]["run.oci.seccomp_bpf_data"]
        .as_str()
        .expect("a precompiled filter in the container's configuration");
    let program = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, bpf).unwrap();
    assert!(
        program.len() > 800 && program.len().is_multiple_of(8),
        "{} bytes",
        program.len()
    );
    pending.await.unwrap();
    // x86-64 numbers: each probe is a raw syscall, its errno (0: it ran).
    let probe = r#"
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
def call(nr, *args):
    r = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) for a in args])
    return 0 if r >= 0 else ctypes.get_errno()
probes = {
    "unshare(CLONE_NEWUSER)": (272, 0x10000000),
    "clone(CLONE_NEWNS)": (56, 0x00020000 | 17, 0, 0, 0, 0),
    "setns": (308, 0, 0),
    "mount": (165, 0, 0, 0, 0, 0),
    "keyctl": (250, 0),
    "bpf": (321, 0, 0, 0),
    "io_uring_setup": (425, 1, 0),
    "perf_event_open": (298, 0, 0, -1, -1, 0),
    "io_setup": (206, 1, 0),
    "ptrace": (101, 0, 0, 0, 0),
    "socket(AF_VSOCK)": (41, 40, 1, 0),
    "an unlisted number": (1000,),
    "getpid": (39,),
    "socket(AF_INET)": (41, 2, 1, 0),
}
for name, (nr, *args) in probes.items():
    print(f"{name}={call(nr, *args)}")
print("Seccomp:" + open("/proc/self/status").read().split("Seccomp:")[1].split()[0])
"#;
    let body = svc.run_ok(1, probe, json!({})).await;
    let out = body["stdout"].as_str().unwrap();
    let errno = |name: &str| -> i64 {
        out.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("no {name} in {out}"))
            .parse()
            .unwrap()
    };
    for refused in [
        "unshare(CLONE_NEWUSER)",
        "clone(CLONE_NEWNS)",
        "setns",
        "mount",
        "keyctl",
        "bpf",
        "io_uring_setup",
        "perf_event_open",
        "io_setup",
        "ptrace",
        "socket(AF_VSOCK)",
    ] {
        assert_eq!(errno(refused), 1, "{refused} is refused with EPERM: {out}");
    }
    assert_eq!(errno("an unlisted number"), 38, "ENOSYS: {out}");
    assert_eq!(errno("getpid"), 0, "{out}");
    assert_eq!(errno("socket(AF_INET)"), 0, "{out}");
    assert!(out.contains("Seccomp:2"), "filtered: {out}");
    svc.stop_and_check_clean();
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn the_image_root_is_mounted_once_read_only_and_released() {
    let _podman = common::podman_test();
    let svc = Service::start(&[]);
    let instance = svc.instance.clone();
    for n in 0..3 {
        let body = svc.run_ok(3, "touch /usr/x 2>&1; echo $?", json!({})).await;
        let out = body["stdout"].as_str().unwrap();
        assert!(
            out.contains("Read-only file system") && out.ends_with("1\n"),
            "run {n}: {out}"
        );
        let python = svc.run_ok(1, "print('py')", json!({})).await;
        assert_eq!(python["stdout"], "py\n");
    }
    // Two images, each bound once, whatever the number of runs and warm containers.
    assert_eq!(instance_mounts(&instance), 2, "one bind per image");
    let binds = entries(&roots_dir(&instance));
    assert_eq!(binds.len(), 2, "{binds:?}");
    let table = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    for bind in &binds {
        let at = roots_dir(&instance).join(bind).display().to_string();
        let line = table
            .lines()
            .find(|l| l.split(' ').nth(4) == Some(at.as_str()))
            .unwrap();
        // podman's image mount is read-only; so is its bind here.
        assert!(line.split(' ').nth(5).unwrap().starts_with("ro"), "{line}");
    }
    svc.stop_and_check_clean();
    assert_nothing_left_of(&instance);
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn a_podman_servers_sweep_keeps_the_id_range_of_a_killed_crun_servers_running_container() {
    let _podman = common::podman_test();
    let before = common::host_container_count();
    let mut first = Service::start(&["-t", "30", "--pool-size", "0"]);
    let dead = first.instance.clone();
    let (name, pending) = background_run(&first, "sleep 30").await;
    let labels: Value = serde_json::from_str(
        &std::fs::read_to_string(
            crun_dir(&dead)
                .join("bundles")
                .join(&name)
                .join("labels.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let base: u32 = labels["whipcode.idrange"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let reservation =
        Path::new("/run/whipcode/idranges").join(((base - 1_000_000_000) / 65536).to_string());
    assert!(reservation.is_file(), "{}", reservation.display());
    Command::new("kill")
        .args(["-KILL", &first.pid().to_string()])
        .status()
        .unwrap();
    first.wait_exit(Duration::from_secs(10));
    let _ = pending.await;
    // A server on the other engine sweeps at its start; the dead server's
    // container still runs, so its range must stay reserved.
    let podman = Service::start(&["--engine", "podman"]);
    assert!(podman.wait_for_log("engine=\"podman\"", Duration::from_secs(10)));
    assert!(
        crun_dir(&dead).join("state").join(&name).is_dir(),
        "still running"
    );
    assert!(
        reservation.is_file(),
        "the running container's range was given away"
    );
    podman.stop_and_check_clean();
    // A crun server's sweep removes the dead one's container and frees it.
    let mut next = Service::start(&[]);
    next.host_before = before;
    let deadline = Instant::now() + Duration::from_secs(20);
    while crun_dir(&dead).exists() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        !crun_dir(&dead).exists(),
        "the dead server's container is gone"
    );
    assert!(!reservation.exists(), "its range is free again");
    drop(first);
    next.stop_and_check_clean();
}
