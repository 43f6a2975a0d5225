//! The modes of `main`, and serving: settings wired to their owners (the
//! sandbox, the application state, the listener), [`run`] until the
//! shutdown signal, then the sandbox's own shutdown.

use std::error::Error;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::api::cache::ResultCache;
use crate::api::{self, AppState};
use crate::auth::MasterKey;
use crate::buckets::RateLimiter;
use crate::cli::Cli;
use crate::config::{instance_for, Settings};
use crate::languages::{Language, LanguageMap};
use crate::sandbox::podman::Podman;
use crate::{images, keygen, listen, sandbox, selftest, shutdown, tls};

/// Files image recipes fetch, kept by checksum between builds.
const DOWNLOAD_DIR: &str = "/var/cache/whipcode/downloads";

/// Each image's build log, in a directory only root may reach.
const BUILD_LOG_DIR: &str = "/var/log/whipcode/builds";

/// How long in-flight runs get to finish after a shutdown signal.
const DRAIN_DEADLINE: Duration = Duration::from_secs(30);

/// Why a mode cannot start (beyond the errors of the modules it calls).
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("runner path {0} must not contain ',' or ':'")]
    RunnerPath(String),
    #[error("runner not found at {0}; build it with `./task build` or set --runner")]
    RunnerMissing(String),
    #[error("cannot listen on metricsAddr {addr}: {source}")]
    MetricsListen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("--self-test needs the master key in WHIPCODE_MASTER_KEY or --master-key")]
    NoMasterKey,
}

/// Everything `fn main` does, by mode: key generation, image builds, policy
/// printing, the self-test, or serving.
pub async fn main(cli: Cli) -> Result<(), Box<dyn Error>> {
    init_logging();
    let settings = Settings::load(cli.config.as_deref(), &cli.options)?;
    if cli.gen_key {
        return gen_key(&settings, &cli);
    }
    let languages = LanguageMap::load(settings.lang_map_path().as_deref())?;
    if let Some(wanted) = &cli.self_test {
        return self_test(&settings, &cli, languages.select(wanted)?).await;
    }
    if let Some(wanted) = &cli.build_images {
        let podman = Podman::new(&settings.podman_path)?;
        let selected = languages.select(wanted)?;
        let options = images::BuildOptions {
            jobs: cli.build_jobs.unwrap_or_else(default_build_jobs),
            log_dir: cli
                .build_log_dir
                .clone()
                .unwrap_or_else(|| PathBuf::from(BUILD_LOG_DIR)),
            prune_unlisted: wanted.is_empty(),
            download_dir: cli
                .download_dir
                .clone()
                .unwrap_or_else(|| PathBuf::from(DOWNLOAD_DIR)),
        };
        tokio::task::spawn_blocking(move || {
            images::build_all(&podman, &languages, &selected, &options)
        })
        .await??;
        return Ok(());
    }
    if let Some(wanted) = &cli.print_policy {
        let language = languages.select(std::slice::from_ref(wanted))?.remove(0);
        println!("{}", policy_json(&settings, &language)?);
        return Ok(());
    }
    serve_api(settings, cli.port_file.as_deref(), languages).await
}

/// Builds are mostly downloads and unpacking: a few at once pays even on 2 cores.
fn default_build_jobs() -> usize {
    std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(2, 4)
}

fn gen_key(settings: &Settings, cli: &Cli) -> Result<(), Box<dyn Error>> {
    let (key, show) = match keygen::key_source()? {
        keygen::KeySource::Environment(key) | keygen::KeySource::Prompted(Some(key)) => {
            (Some(key), false)
        }
        keygen::KeySource::Prompted(None) | keygen::KeySource::Generated => (None, true),
    };
    let key = keygen::generate(&settings.key, key, cli.salt.clone(), cli.force)?;
    eprintln!("wrote {}", settings.key.display());
    if show {
        eprintln!("the master key (shown once; clients send it as X-Master-Key):");
        println!("{key}");
    }
    Ok(())
}

async fn self_test(
    settings: &Settings,
    cli: &Cli,
    languages: Vec<Arc<Language>>,
) -> Result<(), Box<dyn Error>> {
    let key = std::env::var("WHIPCODE_MASTER_KEY")
        .ok()
        .filter(|k| !k.is_empty())
        .or_else(|| cli.master_key.clone())
        .ok_or(StartError::NoMasterKey)?;
    let tls = match &settings.tls {
        Some(dir) => Some(tls::client_config(&dir.join("cert.pem"))?),
        None => None,
    };
    let target = selftest::Target {
        addr: selftest::Target::connect_addr(settings.addr, settings.port),
        tls,
        key,
    };
    selftest::run(target, languages).await?;
    Ok(())
}

/// What one run of `language` gets, as JSON: the sandbox's policy for it
/// (the OCI configuration crun gets, podman's create spec, the seccomp
/// profile, podman's configuration) with the language's steps and env.
fn policy_json(settings: &Settings, language: &Language) -> serde_json::Result<serde_json::Value> {
    let instance = settings
        .instance
        .clone()
        .unwrap_or_else(|| "example".into());
    let limits = settings.limits().with_overrides(&language.limits);
    let report = sandbox::policy_report(
        &sandbox_settings(settings, instance),
        &language.image_ref(),
        limits,
    );
    let mut json = serde_json::to_value(report)?;
    json["steps"] = serde_json::json!(language.steps(&[]));
    json["env"] = serde_json::json!(language.env);
    Ok(json)
}

async fn serve_api(
    settings: Settings,
    port_file: Option<&Path>,
    languages: LanguageMap,
) -> Result<(), Box<dyn Error>> {
    let key = Arc::new(MasterKey::load(&settings.key)?);
    check_runner(&settings.runner)?;
    let tls = match &settings.tls {
        Some(dir) => Some(tls::server_config(dir)?),
        None => None,
    };

    let listener = TcpListener::bind((settings.addr, settings.port)).await?;
    let local = listener.local_addr()?;
    let metrics_listener = match settings.metrics_addr {
        Some(addr) => Some(
            TcpListener::bind(addr)
                .await
                .map_err(|source| StartError::MetricsListen { addr, source })?,
        ),
        None => None,
    };
    // The service's own addresses: never a callback's target.
    let own: Vec<std::net::SocketAddr> = std::iter::once(local)
        .chain(metrics_listener.as_ref().and_then(|l| l.local_addr().ok()))
        .collect();
    let instance = settings
        .instance
        .clone()
        .unwrap_or_else(|| instance_for(local));
    let sandbox = sandbox::start(sandbox_settings(&settings, instance.clone())).await?;
    let state = app_state(&settings, key, Arc::new(languages), sandbox.sandbox());
    let judge0 = start_judge0(&settings, &state, own, &instance);
    let metrics_server =
        metrics_listener.map(|listener| serve_metrics(listener, &state, judge0.clone()));
    let draining = state.draining.clone();
    let app = api::router_with(state, settings.ping, judge0.clone());

    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(addr = %local, %instance, %scheme, "whipcode listening");
    eprintln!("whipcode listening on {scheme}://{local} (instance {instance})");
    if let Some(file) = port_file {
        write_port_file(file, local.port())?;
    }
    let grace = settings.drain_grace;
    let taking = judge0.clone();
    let shutdown = async move {
        shutdown::signal().await;
        if let Some(judge0) = taking {
            // Work taken now would be cut at the drain deadline.
            judge0.stop_taking();
        }
        // A second signal ends the grace at once.
        shutdown::drain_grace(draining, grace, shutdown::signal()).await;
    };
    run(listener, app, tls, listen_policy(&settings), shutdown).await?;

    if let Some(server) = metrics_server {
        server.abort();
    }
    if let Some(judge0) = judge0 {
        shutdown::drain_judge0(&judge0, settings.drain_timeout).await;
    }
    // Runs have finished: the sandbox removes what is left and stops.
    sandbox.shutdown(DRAIN_DEADLINE).await;
    tracing::info!("whipcode stopped");
    Ok(())
}

/// Judge0's queue and store, when its API is served (in either flavour,
/// both sharing them); callbacks never go to
/// `own`, the service's own addresses.
fn start_judge0(
    settings: &Settings,
    state: &AppState,
    own: Vec<std::net::SocketAddr>,
    instance: &str,
) -> Option<Arc<api::judge0::queue::Service>> {
    let served = settings.judge0_path.is_some() || settings.judge0_extra_path.is_some();
    let store = settings.store.as_ref().map(|url| {
        tracing::info!(store = %url, "Judge0's queue and results are kept in Redis");
        api::judge0::shared::StoreSettings {
            url: url.expose().to_owned(),
            claim_after: settings.store_claim_after,
            // Unique per process: a restarted instance is another consumer.
            consumer: format!(
                "{instance}-{}",
                &uuid::Uuid::new_v4().simple().to_string()[..8]
            ),
        }
    });
    served.then(|| {
        api::judge0::queue::Service::start(
            state,
            api::judge0::queue::QueueSettings {
                capacity: settings.judge0_queue,
                // At most half the containers: the synchronous APIs always
                // have the other half.
                workers: (settings.max_concurrent / 2).max(1),
                store: api::judge0::store::Bounds {
                    records: settings.judge0_queue * 10,
                    bytes: usize::try_from(settings.judge0_store_bytes).unwrap_or(usize::MAX),
                    keep: settings.judge0_keep,
                },
            },
            store,
            api::judge0::callback::Callbacks::new(settings.callback_allow.clone(), own),
        )
    })
}

/// `GET /metrics` without the key on `listener` (`--metrics-addr`).
fn serve_metrics(
    listener: TcpListener,
    state: &AppState,
    judge0: Option<Arc<api::judge0::queue::Service>>,
) -> tokio::task::JoinHandle<()> {
    let app = api::scrape::keyless_router(state.clone(), judge0);
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "metrics listening (GET /metrics, no key)");
    }
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "the metrics listener failed");
        }
    })
}

/// Serves `app` on `listener` (over TLS when `tls` is given) until
/// `shutdown` resolves, then lets open connections finish within the
/// policy's drain deadline. Tests call this in-process on a listener bound
/// to port 0.
pub async fn run(
    listener: TcpListener,
    app: axum::Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    policy: listen::Policy,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    listen::serve(listener, app, tls, shutdown, policy).await;
    Ok(())
}

/// The HTTP layer's state: every setting it uses, taken from the service's
/// settings in this one place (tests build theirs here too).
pub fn app_state(
    settings: &Settings,
    key: Arc<MasterKey>,
    languages: Arc<LanguageMap>,
    sandbox: Arc<dyn sandbox::Sandbox>,
) -> AppState {
    AppState {
        key,
        languages,
        sandbox,
        max_bytes: settings.max_bytes,
        max_timeout: settings.timeout,
        max_files: settings.max_files,
        body_deadline: settings.client_timeout,
        response_deadline: settings.client_timeout * 2,
        limits: settings.limits(),
        proxy: settings.proxy,
        rate_limit: settings.rate_limit.map(|l| Arc::new(RateLimiter::new(l))),
        cache: settings.cache.map(|bytes| {
            let shared = (settings.store.as_ref()).map(|url| (url.expose(), settings.cache_ttl));
            Arc::new(ResultCache::new(bytes, shared))
        }),
        images: Arc::default(),
        judge0_path: settings.judge0_path.clone(),
        judge0_extra_path: settings.judge0_extra_path.clone(),
        cors_origins: Arc::new(settings.cors_origins.clone()),
        metrics: Arc::default(),
        draining: api::draining::Draining::default(),
    }
}

/// How the listener bounds connections, from the settings; a peer other
/// than the proxy is refused with the API's 403.
pub fn listen_policy(settings: &Settings) -> listen::Policy {
    listen::Policy {
        headers: settings.client_timeout,
        write: settings.client_timeout,
        handshake: listen::HANDSHAKE_TIMEOUT,
        // In-flight runs get the drain allowance plus the longest a program may run.
        drain: settings.drain_timeout + settings.timeout,
        connections: listen::fit_to_fd_limit(listen::MAX_CONNECTIONS),
        per_client: settings.max_client_connections,
        proxy: settings.proxy,
        refusal: api::error::ApiError::Forbidden.json_body().into(),
    }
}

/// The sandbox's settings, from the service's.
fn sandbox_settings(settings: &Settings, instance: String) -> sandbox::Settings {
    sandbox::Settings {
        podman: settings.podman_path.clone(),
        runner: settings.runner.clone(),
        instance,
        max_concurrent: settings.max_concurrent,
        max_queue: settings.max_queue,
        output_limit: usize::try_from(settings.output_limit).unwrap_or(usize::MAX),
        userns: settings.userns,
        pool_size: settings.pool_size,
        memory_mb: settings.limits().memory_mb,
        engine: settings.engine,
        crun: settings.crun_path.clone(),
    }
}

/// Writes the port where readers never see a half-written file.
fn write_port_file(file: &Path, port: u16) -> std::io::Result<()> {
    let partial = file.with_extension("partial");
    std::fs::write(&partial, format!("{port}\n"))?;
    std::fs::rename(&partial, file)
}

fn check_runner(path: &Path) -> Result<(), StartError> {
    let text = path.to_string_lossy();
    if text.contains([',', ':']) {
        return Err(StartError::RunnerPath(text.into_owned()));
    }
    if !path.is_file() {
        return Err(StartError::RunnerMissing(text.into_owned()));
    }
    Ok(())
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_other_than_the_proxy_is_refused_with_the_apis_json_detail() {
        let policy = listen_policy(&Settings::default());
        let json: serde_json::Value = serde_json::from_str(&policy.refusal).unwrap();
        assert!(json["detail"].as_str().unwrap().contains("proxy"), "{json}");
    }

    #[test]
    fn the_modes_help_states_the_defaults_they_use() {
        use clap::CommandFactory;
        let command = Cli::command();
        let help = |id: &str| {
            let arg = command.get_arguments().find(|a| a.get_id() == id);
            arg.and_then(|a| a.get_help()).unwrap().to_string()
        };
        let config = format!("default: ./{}", crate::config::DEFAULT_CONFIG_FILE);
        assert!(help("config").contains(&config), "{}", help("config"));
        let downloads = format!("default: {DOWNLOAD_DIR}");
        assert!(help("download_dir").contains(&downloads));
        let logs = format!("default: {BUILD_LOG_DIR}");
        assert!(help("build_log_dir").contains(&logs));
    }
}
