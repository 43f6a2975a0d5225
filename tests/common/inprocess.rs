//! The in-process harness: the service's router and listener, served by
//! `whipcode::server::run` on a free port of this process, with a fake
//! sandbox that never runs anything. For the HTTP contract, the order of
//! checks, the error paths and hostile clients: everything above the
//! sandbox, without podman.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use whipcode::api::{router, AppState};
use whipcode::auth::MasterKey;
use whipcode::config::Settings;
use whipcode::languages::LanguageMap;
use whipcode::listen::Policy;
use whipcode::sandbox::{
    BoxFuture, Captured, InstalledImage, RunOutcome, RunSpec, Sandbox, SandboxError,
};

use super::KEY;

/// A sandbox that runs nothing; each run answers as the variant says.
pub enum Fake {
    /// At once, stdout the job's stdin, stderr its first file, exit code 0.
    Echo,
    /// After this long, an empty successful outcome.
    Slow(Duration),
    /// The error this makes.
    Failing(fn() -> SandboxError),
    /// At once, this many bytes of stdout.
    Loud(usize),
    /// As [`Fake::Echo`], each run counted here.
    Counting(Arc<std::sync::atomic::AtomicUsize>),
    /// As [`Fake::Counting`], with every language of the built-in map
    /// installed: `/ready` answers 200, as a load balancer's checks want.
    Installed(Arc<std::sync::atomic::AtomicUsize>),
}

impl Sandbox for Fake {
    fn run(&self, spec: RunSpec) -> BoxFuture<'_, Result<RunOutcome, SandboxError>> {
        Box::pin(async move {
            if let Fake::Counting(runs) | Fake::Installed(runs) = self {
                runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            match self {
                Fake::Echo | Fake::Counting(_) | Fake::Installed(_) => Ok(RunOutcome {
                    stdout: Captured::from(&spec.stdin[..]),
                    stderr: Captured::from(&spec.files[0].1[..]),
                    exit_code: Some(0),
                    container: "fake".into(),
                    ..RunOutcome::default()
                }),
                Fake::Slow(took) => {
                    tokio::time::sleep(*took).await;
                    Ok(RunOutcome {
                        exit_code: Some(0),
                        container_age: *took,
                        ..RunOutcome::default()
                    })
                }
                Fake::Failing(error) => Err(error()),
                Fake::Loud(bytes) => Ok(RunOutcome {
                    stdout: loud(*bytes),
                    exit_code: Some(0),
                    container: "fake".into(),
                    ..RunOutcome::default()
                }),
            }
        })
    }

    fn images(&self) -> BoxFuture<'_, Result<Vec<InstalledImage>, SandboxError>> {
        let installed = match self {
            Fake::Installed(_) => languages()
                .iter()
                .map(|language| InstalledImage {
                    reference: language.image_ref(),
                    version: None,
                })
                .collect(),
            _ => Vec::new(),
        };
        Box::pin(async { Ok(installed) })
    }
}

/// `bytes` of output in the runner's 32 KiB chunks.
fn loud(bytes: usize) -> Captured {
    let mut out = Captured::default();
    let mut left = bytes;
    while left > 0 {
        let n = left.min(32 * 1024);
        out.push_capped(vec![b'x'; n], usize::MAX);
        left -= n;
    }
    out
}

/// The text of a key file for [`KEY`], made once per test binary.
fn key_file() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("masterkey");
        whipcode::keygen::generate(&path, Some(KEY.to_owned()), None, false).unwrap();
        std::fs::read_to_string(&path).unwrap()
    })
}

/// The master key [`KEY`], shared by the test binary's servers (so it is
/// remembered after its first check).
fn master_key() -> Arc<MasterKey> {
    static KEY_FILE: OnceLock<Arc<MasterKey>> = OnceLock::new();
    Arc::clone(KEY_FILE.get_or_init(fresh_key))
}

/// The master key [`KEY`] as a freshly started server holds it: nothing
/// remembered yet, so its first check needs argon2.
pub fn fresh_key() -> Arc<MasterKey> {
    Arc::new(MasterKey::parse(key_file()).unwrap())
}

/// The built-in language map, read once.
pub fn languages() -> Arc<LanguageMap> {
    static MAP: OnceLock<Arc<LanguageMap>> = OnceLock::new();
    Arc::clone(MAP.get_or_init(|| Arc::new(LanguageMap::load(None).unwrap())))
}

/// The service's state with the key [`KEY`], the built-in map and `fake`.
pub fn state(fake: Fake) -> AppState {
    default_state(master_key(), languages(), Arc::new(fake))
}

/// The state the binary builds with no config file and no flags (through
/// the same function), with this key, map and sandbox.
pub fn default_state(
    key: Arc<MasterKey>,
    languages: Arc<LanguageMap>,
    sandbox: Arc<dyn Sandbox>,
) -> AppState {
    whipcode::server::app_state(&Settings::default(), key, languages, sandbox)
}

/// The listener's policy the binary sets with no config file and no flags
/// (through the same function).
pub fn default_policy() -> Policy {
    whipcode::server::listen_policy(&Settings::default())
}

/// The settings the binary would load from these command-line flags (no
/// config file).
fn settings_from_flags(flags: &[&str]) -> Settings {
    use clap::Parser;
    let argv = std::iter::once("whipcode").chain(flags.iter().copied());
    let cli = whipcode::cli::Cli::try_parse_from(argv).unwrap();
    Settings::layer(
        whipcode::config::Options::default(),
        "defaults",
        &cli.options,
    )
    .unwrap()
}

/// A service serving in this process until it is stopped or dropped.
pub struct App {
    pub url: String,
    /// The state's key, to see the argon2 checks under way.
    pub key: Arc<whipcode::auth::MasterKey>,
    port: u16,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl App {
    /// Serves `state` on a free loopback port; `/ping` when `ping`; clients
    /// get `headers` for each request's headers.
    pub async fn start(state: AppState, ping: bool, headers: Duration) -> App {
        let policy = Policy {
            headers,
            drain: Duration::from_secs(5),
            ..default_policy()
        };
        App::serve(state, ping, policy).await
    }

    /// Serves `state` with the listener bounded by `policy`.
    pub async fn serve(state: AppState, ping: bool, policy: Policy) -> App {
        App::serve_with(state, ping, policy, None).await
    }

    /// [`App::serve`], over TLS when `tls` is given.
    pub async fn serve_with(
        state: AppState,
        ping: bool,
        policy: Policy,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> App {
        App::serve_until(state, ping, policy, tls, Duration::ZERO).await
    }

    /// Serves `state` as the binary does: once signalled ([`App::signal`]),
    /// `/ready` answers 503 (draining) and the listener stops `grace` later.
    pub async fn draining_after(state: AppState, grace: Duration) -> App {
        App::serve_until(state, false, default_policy(), None, grace).await
    }

    async fn serve_until(
        state: AppState,
        ping: bool,
        policy: Policy,
        tls: Option<Arc<rustls::ServerConfig>>,
        grace: Duration,
    ) -> App {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let key = Arc::clone(&state.key);
        let draining = state.draining.clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(whipcode::server::run(
            listener,
            router(state, ping),
            tls,
            policy,
            async move {
                let _ = stopped.await;
                let never = std::future::pending();
                whipcode::shutdown::drain_grace(draining, grace, never).await;
            },
        ));
        App {
            url: format!("http://127.0.0.1:{port}"),
            key,
            port,
            stop: Some(stop),
            server: Some(server),
        }
    }

    /// The service as the binary would serve it with these flags (its state,
    /// `/ping`, the listener's deadlines), with `fake` as the sandbox.
    pub async fn from_flags(flags: &[&str], fake: Fake) -> App {
        let settings = settings_from_flags(flags);
        let state =
            whipcode::server::app_state(&settings, master_key(), languages(), Arc::new(fake));
        let policy = whipcode::server::listen_policy(&settings);
        App::serve(state, settings.ping, policy).await
    }

    /// [`App::start`] with a fake that echoes, no `/ping`, 30 s for headers.
    pub async fn echo() -> App {
        App::start(state(Fake::Echo), false, Duration::from_secs(30)).await
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops serving; the server must end by itself within 10 s.
    pub async fn stop(mut self) {
        self.signal();
        self.stopped(Duration::from_secs(10)).await;
    }

    /// The shutdown signal, as SIGTERM gives it to the binary; when.
    pub fn signal(&mut self) -> std::time::Instant {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        std::time::Instant::now()
    }

    /// Waits for the server to end by itself, within `within`.
    pub async fn stopped(mut self, within: Duration) {
        let server = self.server.take().unwrap();
        tokio::time::timeout(within, server)
            .await
            .expect("the server stops at its signal")
            .unwrap()
            .unwrap();
    }
}

impl Drop for App {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}
