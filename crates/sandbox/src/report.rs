//! The policy one run gets, as one value: what `--print-policy` prints.

use std::path::Path;

use serde::Serialize;

use crate::crun::{oci, CrunEngine};
use crate::engine::EngineChoice;
use crate::lifecycle::Settings;
use crate::owner::Owner;
use crate::podman::CONTAINERS_CONF;
use crate::policy::{container_spec, Limits, Plan};
use crate::{idrange, seccomp};

/// The security policy of one run of `image` made concrete: the OCI
/// configuration the crun engine writes, libpod's create spec the podman
/// engine sends, the seccomp profile both load and podman's configuration.
#[derive(Debug, Serialize)]
pub struct PolicyReport {
    /// The engine these settings choose (before any fallback at startup).
    pub engine: &'static str,
    pub oci_config: serde_json::Value,
    pub create: serde_json::Value,
    pub runner_copied_from: std::path::PathBuf,
    pub seccomp_profile: serde_json::Value,
    pub containers_conf: &'static str,
}

/// The policy a run of `image` with `limits` gets under `settings`; the
/// container is named as an example and the private paths are described.
pub fn policy_report(settings: &Settings, image: &str, limits: Limits) -> PolicyReport {
    let instance = &settings.instance;
    let name = format!("whipcode-{instance}-example");
    let owner = Owner::current().labels();
    let plan = Plan {
        name: &name,
        instance,
        image,
        runner: Path::new("<private directory>/whipcode-runner"),
        seccomp: Path::new("<private directory>/seccomp.json"),
        owner: &owner,
        userns: settings.userns,
        host_ids: Some(idrange::BASE),
        limits,
    };
    let profile = seccomp::profile();
    let seccomp = oci::seccomp(&profile);
    let cgroup = CrunEngine::cgroup_path(instance, &name);
    let oci_config = oci::config(
        &plan,
        &oci::Placement {
            rootfs: Path::new("<the image's root, mounted read-only by podman>"),
            cgroup: &cgroup,
            seccomp: &seccomp,
            cgroupns: false,
            // The profile, compiled once at startup (left out here).
            seccomp_bpf: None,
        },
    );
    PolicyReport {
        engine: match settings.engine {
            EngineChoice::Crun => "crun",
            EngineChoice::Podman => "podman",
        },
        oci_config,
        create: container_spec(&plan),
        runner_copied_from: settings.runner.clone(),
        seccomp_profile: profile,
        containers_conf: CONTAINERS_CONF,
    }
}
