//! podman's REST API service, started and supervised by this process.
//!
//! Containers are created, attached to, started and removed through one
//! long-lived `podman system service` on a socket in this process's private
//! directory, instead of one podman CLI process per container (the CLI pays
//! Go's start-up and opening the storage database every time). If the
//! service dies it is started again; calls made meanwhile wait for it a
//! little (see [`PodmanApi`]) and then fail with a clear error. It dies with
//! this process (parent-death signal) and is stopped at shutdown.

use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::process::Child;

use super::api::PodmanApi;
use super::Podman;
use crate::error::EngineError;
use crate::stats::Counters;

/// How long the service gets to answer its first ping.
const READY_DEADLINE: Duration = Duration::from_secs(30);
/// Pause before starting a service that died.
const RESTART_PAUSE: Duration = Duration::from_secs(1);

pub struct PodmanService {
    api: PodmanApi,
    stopping: Arc<AtomicBool>,
    stop: tokio::sync::Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
}

impl PodmanService {
    /// Starts the service and waits until it answers.
    /// Its restarts are counted in `counters`.
    pub async fn start(
        podman: &Podman,
        counters: Arc<Counters>,
    ) -> Result<PodmanService, EngineError> {
        let socket = podman.service_socket();
        let api = PodmanApi::new(socket);
        let mut child = spawn(podman)?;
        if !wait_ready(&api, &mut child).await {
            let _ = child.kill().await;
            return Err(EngineError::failed(format!(
                "podman's REST API service did not come up within {READY_DEADLINE:?} \
                 (podman system service on {})",
                podman.service_socket().display()
            )));
        }
        let stopping = Arc::new(AtomicBool::new(false));
        let (stop, stopped) = tokio::sync::oneshot::channel();
        tokio::spawn(supervise(
            podman.clone(),
            api.clone(),
            child,
            Arc::clone(&stopping),
            stopped,
            counters,
        ));
        Ok(PodmanService {
            api,
            stopping,
            stop: tokio::sync::Mutex::new(Some(stop)),
        })
    }

    pub fn api(&self) -> &PodmanApi {
        &self.api
    }

    /// Stops the service (at shutdown, after the last container is removed).
    pub async fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        if let Some(stop) = self.stop.lock().await.take() {
            let _ = stop.send(());
        }
    }
}

fn spawn(podman: &Podman) -> Result<Child, EngineError> {
    let socket = podman.service_socket();
    let _ = std::fs::remove_file(&socket);
    // setpriv: the service gets SIGKILL if this process dies without
    // stopping it (kill -9), so no service outlives its server.
    let mut cmd = tokio::process::Command::new("setpriv");
    cmd.arg("--pdeathsig=KILL")
        .arg(podman.binary())
        .args(["system", "service", "--time=0"])
        .arg(format!("unix://{}", socket.display()))
        .env("CONTAINERS_CONF", podman.service_conf_path())
        // conmon leaves files (an `oom` marker after an OOM kill) in the
        // directory it runs in: the instance's own, not the server's.
        .current_dir(socket.parent().unwrap_or(std::path::Path::new("/")))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().map_err(EngineError::io(
        "cannot start podman's REST API service (setpriv, podman)",
    ))?;
    if let Some(stderr) = child.stderr.take() {
        tokio::spawn(forward_log(stderr));
    }
    Ok(child)
}

/// The service's own log goes to this process's log at debug level: what
/// matters reaches the caller of the failing call; the rest is mostly about
/// attach connections this process closed on purpose.
async fn forward_log(stderr: tokio::process::ChildStderr) {
    use tokio::io::AsyncBufReadExt;
    let mut lines = tokio::io::BufReader::new(stderr).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        tracing::debug!(target: "podman", "{line}");
    }
}

async fn wait_ready(api: &PodmanApi, child: &mut Child) -> bool {
    let give_up = tokio::time::Instant::now() + READY_DEADLINE;
    while tokio::time::Instant::now() < give_up {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if api.ping(Duration::from_secs(2)).await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

async fn supervise(
    podman: Podman,
    api: PodmanApi,
    mut child: Child,
    stopping: Arc<AtomicBool>,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
    counters: Arc<Counters>,
) {
    loop {
        tokio::select! {
            status = child.wait() => {
                if stopping.load(Ordering::SeqCst) {
                    return;
                }
                tracing::error!(?status, "podman's REST API service died; starting it again");
                Counters::bump(&counters.service_restarts);
            }
            _ = &mut stopped => {
                let _ = child.kill().await;
                return;
            }
        }
        loop {
            tokio::time::sleep(RESTART_PAUSE).await;
            if stopping.load(Ordering::SeqCst) {
                return;
            }
            match spawn(&podman) {
                Ok(mut next) => {
                    if wait_ready(&api, &mut next).await {
                        tracing::info!("podman's REST API service is back");
                        child = next;
                        break;
                    }
                    let _ = next.kill().await;
                    tracing::error!("podman's REST API service did not come back; retrying");
                }
                Err(e) => tracing::error!(error = %e, "cannot restart podman's REST API service"),
            }
        }
    }
}
