//! The sandbox's lifecycle: started from its own [`Settings`] (podman's
//! configuration and its supervised REST service, which keeps the images,
//! the engine chosen, a sweep of leftovers and the periodic one, the gate,
//! the launcher and the pool), and shut down with a deadline (no warm
//! container left, runs and their teardowns waited for, a last sweep, the
//! engine closed, the service stopped).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::crun::{self, host::Unusable, images::ImageRoots, CrunEngine};
use super::engine::{Budget, Engine, EngineChoice};
use super::error::EngineError;
use super::gate::Gate;
use super::idrange::{self, IdRanges};
use super::job::SandboxError;
use super::launch::Launcher;
use super::owner::Owner;
use super::podman::engine::PodmanEngine;
use super::podman::service::PodmanService;
use super::podman::Podman;
use super::policy::UserNamespace;
use super::pool::Pool;
use super::registry::Registry;
use super::run::ContainerSandbox;
use super::seccomp;
use super::stats::Counters;

/// What the sandbox is made of; the server fills it from its configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// podman's binary.
    pub podman: PathBuf,
    /// The static in-container runner, mounted read-only into every container.
    pub runner: PathBuf,
    /// Names this process's containers (label and name); unique per host.
    pub instance: String,
    /// Containers alive at once.
    pub max_concurrent: usize,
    /// Runs waiting for a slot before more are refused.
    pub max_queue: usize,
    /// Byte cap on each of stdout and stderr.
    pub output_limit: usize,
    pub userns: UserNamespace,
    /// Warm containers at most (0: none).
    pub pool_size: usize,
    /// The memory limit of a run (MiB), for the overcommit warning.
    pub memory_mb: u32,
    /// The engine wanted (crun falls back to podman where it cannot run).
    pub engine: EngineChoice,
    /// crun's binary (a bare name is looked up on `PATH`).
    pub crun: PathBuf,
}

/// A started sandbox: the [`ContainerSandbox`] runs go to, and what it owns
/// until [`SandboxHandle::shutdown`].
pub struct SandboxHandle {
    sandbox: Arc<ContainerSandbox>,
    registry: Registry,
    service: PodmanService,
    sweeper: tokio::task::JoinHandle<()>,
    engine: Arc<dyn Engine>,
    /// Holds podman's configuration directory (and the service's socket).
    _podman: Podman,
}

/// Starts the sandbox; an error when podman cannot be used.
pub async fn start(settings: Settings) -> Result<SandboxHandle, SandboxError> {
    let podman = Podman::new(&settings.podman)
        .map_err(EngineError::io("cannot write podman's configuration"))?;
    let (runner, seccomp) = write_private_files(&podman, &settings.runner).map_err(
        EngineError::io("cannot write the runner's copy or the seccomp profile"),
    )?;
    let counters = Arc::new(Counters::default());
    let service = PodmanService::start(&podman, Arc::clone(&counters)).await?;
    let engine = choose_engine(&settings, &podman, &service).await;
    // The other engine's leftovers are swept too (a server may switch).
    let others: Vec<Arc<dyn Engine>> = match engine.name() {
        "podman" => Vec::new(),
        _ => vec![Arc::new(PodmanEngine::new(service.api().clone()))],
    };
    let ranges = match settings.userns {
        UserNamespace::PerRun => Some(
            IdRanges::new(
                std::path::Path::new(idrange::DIR),
                std::iter::once(Arc::clone(&engine))
                    .chain(others.iter().cloned())
                    .collect(),
                Owner::current(),
            )
            .map(|ranges| ranges.with_crun_dirs(std::path::Path::new(crun::BASE)))
            .map_err(EngineError::io(format!("cannot use {}", idrange::DIR)))?,
        ),
        _ => None,
    };
    warn_if_memory_is_overcommitted(&settings);
    let registry = Registry::new(
        Arc::clone(&engine),
        others,
        settings.instance.clone(),
        ranges,
        Arc::clone(&counters),
    );
    match registry.sweep().await {
        Ok(0) => {}
        Ok(n) => {
            tracing::warn!(removed = n, instance = %settings.instance, "removed leftover containers")
        }
        Err(e) => {
            service.stop().await;
            return Err(e.into());
        }
    }
    let sweeper = registry.sweep_periodically();
    let launcher = Arc::new(Launcher::new(
        Arc::clone(&engine),
        registry.clone(),
        runner,
        seccomp,
        settings.userns,
        Budget::for_output_limit(settings.output_limit),
    ));
    let sandbox = ContainerSandbox {
        api: service.api().clone(),
        gate: Arc::new(Gate::new(settings.max_concurrent, settings.max_queue)),
        pool: Pool::start(Arc::clone(&launcher), settings.pool_size),
        launcher,
        output_limit: settings.output_limit,
        counters,
    };
    Ok(SandboxHandle {
        sandbox: Arc::new(sandbox),
        registry,
        service,
        sweeper,
        engine,
        _podman: podman,
    })
}

/// The engine the settings ask for, if this host can run it; else podman,
/// with the reason logged.
async fn choose_engine(
    settings: &Settings,
    podman: &Podman,
    service: &PodmanService,
) -> Arc<dyn Engine> {
    let podman_engine = || Arc::new(PodmanEngine::new(service.api().clone()));
    if settings.engine == EngineChoice::Podman {
        tracing::info!(
            engine = "podman",
            "containers are started by podman (--engine podman)"
        );
        return podman_engine();
    }
    let crun = crun::host::check(&settings.crun, settings.userns).and_then(|(binary, layout)| {
        crun::check_instance(&settings.instance)?;
        let roots = std::path::Path::new(crun::images::ROOTS);
        let images =
            ImageRoots::new(podman.clone(), roots, &settings.instance).map_err(|source| {
                Unusable::Prepare {
                    path: roots.to_owned(),
                    source,
                }
            })?;
        CrunEngine::new(
            binary,
            std::path::Path::new(crun::BASE),
            &settings.instance,
            layout,
            images,
        )
        .map_err(|source| Unusable::Prepare {
            path: crun::BASE.into(),
            source,
        })
    });
    match crun {
        Ok(engine) => {
            engine.prepare().await;
            tracing::info!(engine = "crun", "containers are started by crun");
            Arc::new(engine)
        }
        Err(reason) => {
            tracing::warn!(engine = "podman", %reason, "crun cannot run containers here; containers are started by podman");
            podman_engine()
        }
    }
}

/// Into podman's private directory: the seccomp profile, and the runner's
/// sealed copy. The copy is root's and mode 0711, so the program (another
/// uid) can execute it but not read it; the runner marks itself not
/// dumpable, so its /proc/1/fd, /proc/1/mem and ptrace are closed to the
/// program.
fn write_private_files(
    podman: &Podman,
    runner: &std::path::Path,
) -> std::io::Result<(PathBuf, PathBuf)> {
    use std::os::unix::fs::PermissionsExt;
    let dir = podman.private_dir();
    let sealed = dir.join("whipcode-runner");
    std::fs::copy(runner, &sealed)?;
    std::fs::set_permissions(&sealed, std::fs::Permissions::from_mode(0o711))?;
    let profile = dir.join("seccomp.json");
    std::fs::write(&profile, seccomp::profile().to_string())?;
    Ok((sealed, profile))
}

/// Warns when every slot and warm container at its memory limit would need
/// more than the host has (runs may then be OOM-killed host-wide: the
/// containers' `oom_score_adj` makes them go before the server).
fn warn_if_memory_is_overcommitted(settings: &Settings) {
    let host = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| {
        m.lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
    });
    let containers = (settings.max_concurrent + settings.pool_size) as u64;
    let wanted_kb = containers * u64::from(settings.memory_mb) * 1024;
    if let Some(host_kb) = host.filter(|h| wanted_kb > *h) {
        tracing::warn!(
            containers,
            memory_mb = settings.memory_mb,
            host_mb = host_kb / 1024,
            "maxConcurrent + poolSize containers at their memory limit would exceed the host's memory"
        );
    }
}

impl SandboxHandle {
    pub fn sandbox(&self) -> Arc<ContainerSandbox> {
        Arc::clone(&self.sandbox)
    }

    /// After the last request: removes the warm containers, waits (up to
    /// `deadline`) for runs still holding a slot and for their teardowns,
    /// removes anything of this instance still there, and stops the service.
    pub async fn shutdown(self, deadline: Duration) {
        self.sandbox.pool.close().await;
        if !self.sandbox.gate.idle(deadline).await {
            tracing::warn!("runs still held slots at the shutdown deadline");
        }
        self.sweeper.abort();
        self.registry.remove_all().await;
        self.engine.close().await;
        self.service.stop().await;
    }
}
