//! Callbacks: when a submission with a `callback_url` finishes, a PUT of
//! its default fields (base64, as Judge0 sends them), up to 3 tries with a
//! 5 s timeout each, from a bounded pool.
//!
//! A service that runs anyone's code and then PUTs to an address they name
//! is a request-forgery tool unless the address is checked: a target must
//! be in the `--callback-allow` list (none by default: callbacks refused;
//! an entry is an address or a network, with or without a port), never the
//! service's own listening address and port, the check is made on the
//! addresses the name resolves to, the connection
//! goes to exactly the address checked (no second lookup, so no DNS
//! rebinding between check and use), and redirects are not followed.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use url::Url;

use crate::allowlist::Allowed;

/// Tries per callback and the time each may take.
pub const TRIES: u32 = 3;
pub const TIMEOUT: Duration = Duration::from_secs(5);
/// Callbacks under way at once, and more waiting for a turn; past that a
/// callback is dropped (and logged).
const AT_ONCE: usize = 8;
const WAITING: usize = 256;

/// Where callbacks may go, and the pool they are sent from.
#[derive(Clone)]
pub struct Callbacks {
    allow: Arc<Vec<Allowed>>,
    /// The service's own listening addresses: never a target.
    own: Arc<Vec<SocketAddr>>,
    at_once: Arc<Semaphore>,
    waiting: Arc<Semaphore>,
    tls: Arc<rustls::ClientConfig>,
}

impl std::fmt::Debug for Callbacks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Callbacks")
            .field("allow", &self.allow)
            .finish()
    }
}

/// A target that is refused, and why (the 422's message).
#[derive(Debug, PartialEq, Eq)]
pub struct Refused(pub String);

impl Callbacks {
    /// Callbacks to what `allow` admits, except `own` (the service's
    /// listening addresses; one on all addresses refuses its port on every
    /// address, since any of the host's may reach it).
    pub fn new(allow: Vec<Allowed>, own: Vec<SocketAddr>) -> Callbacks {
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map(|b| b.with_root_certificates(roots).with_no_client_auth())
        .expect("ring supports the default protocol versions");
        Callbacks {
            allow: Arc::new(allow),
            own: Arc::new(own),
            at_once: Arc::new(Semaphore::new(AT_ONCE)),
            waiting: Arc::new(Semaphore::new(WAITING)),
            tls: Arc::new(tls),
        }
    }

    /// Whether any callback may be sent.
    pub fn enabled(&self) -> bool {
        !self.allow.is_empty()
    }

    /// Checks `url` now (its syntax, scheme, and every address its host
    /// resolves to): the submission is refused at once if it could never
    /// be called back.
    pub async fn check(&self, url: &str) -> Result<Url, Refused> {
        if !self.enabled() {
            return Err(Refused("setting callback is not allowed".into()));
        }
        let url = parse(url)?;
        self.resolve(&url).await?;
        Ok(url)
    }

    /// The addresses `url`'s host has, all of them allowed, or why not.
    async fn resolve(&self, url: &Url) -> Result<Vec<SocketAddr>, Refused> {
        let host = url
            .host_str()
            .ok_or_else(|| Refused("the URL has no host".into()))?;
        let port = url.port_or_known_default().unwrap_or(80);
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let addresses: Vec<SocketAddr> = match bare.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => tokio::time::timeout(TIMEOUT, tokio::net::lookup_host((bare, port)))
                .await
                .map_err(|_| Refused(format!("{host} did not resolve in time")))?
                .map_err(|e| Refused(format!("{host} does not resolve: {e}")))?
                .collect(),
        };
        if addresses.is_empty() {
            return Err(Refused(format!("{host} has no address")));
        }
        // An address of "any" (0.0.0.0, ::) is connected to as this
        // machine's loopback: whatever port, it is no one else's.
        if let Some(any) = addresses
            .iter()
            .find(|a| a.ip().to_canonical().is_unspecified())
        {
            return Err(Refused(format!(
                "{host} is {}, which reaches this machine itself",
                any.ip()
            )));
        }
        // An IPv4-mapped IPv6 address is checked as the IPv4 one it is.
        if let Some(own) = addresses.iter().find(|a| self.is_own(**a)) {
            return Err(Refused(format!(
                "{host} port {} is this service's own address",
                own.port()
            )));
        }
        if let Some(bad) = addresses
            .iter()
            .find(|a| !self.allow.iter().any(|entry| entry.admits(**a)))
        {
            return Err(Refused(format!(
                "{host} is {} port {}, which is not in the callback allow-list",
                bad.ip(),
                bad.port()
            )));
        }
        Ok(addresses)
    }

    fn is_own(&self, target: SocketAddr) -> bool {
        let ip = target.ip().to_canonical();
        self.own.iter().any(|own| {
            own.port() == target.port()
                && (own.ip().is_unspecified() || own.ip().to_canonical() == ip)
        })
    }

    /// Sends `body` to `url` in the background, from the pool; dropped
    /// (and logged) when too many are waiting.
    pub fn send(&self, url: Url, body: Vec<u8>) {
        let Ok(waiting) = Arc::clone(&self.waiting).try_acquire_owned() else {
            tracing::warn!(%url, "callback dropped: too many are waiting");
            return;
        };
        let this = self.clone();
        tokio::spawn(async move {
            let _waiting = waiting;
            this.deliver(url, body).await;
        });
    }

    /// Sends `body` to `url`, in its turn among the callbacks sent at once,
    /// trying up to [`TRIES`] times; whether it was taken (any answer).
    pub async fn deliver(&self, url: Url, body: Vec<u8>) -> bool {
        let Ok(_turn) = self.at_once.acquire().await else {
            return false;
        };
        for attempt in 1..=TRIES {
            match tokio::time::timeout(TIMEOUT, self.put(&url, body.clone())).await {
                Ok(Ok(status)) => {
                    tracing::info!(%url, status, attempt, "callback sent");
                    return true;
                }
                Ok(Err(why)) => tracing::warn!(%url, attempt, %why, "callback failed"),
                Err(_) => tracing::warn!(%url, attempt, "callback timed out"),
            }
        }
        false
    }

    /// One PUT, to an address checked just before, never redirected.
    async fn put(&self, url: &Url, body: Vec<u8>) -> Result<u16, SendError> {
        let addresses = self
            .resolve(url)
            .await
            .map_err(|r| SendError::Refused(r.0))?;
        let address = addresses[0];
        let stream = TcpStream::connect(address)
            .await
            .map_err(|source| SendError::Connect { address, source })?;
        let host = url.host_str().unwrap_or_default().to_owned();
        let authority = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.clone(),
        };
        let path = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        };
        let request = hyper::Request::put(path)
            .header(hyper::header::HOST, authority)
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header(hyper::header::USER_AGENT, "whipcode (Judge0 callback)")
            .body(Full::new(Bytes::from(body)))?;
        if url.scheme() == "https" {
            let name = rustls::pki_types::ServerName::try_from(
                host.trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_owned(),
            )?;
            let tls = tokio_rustls::TlsConnector::from(Arc::clone(&self.tls))
                .connect(name, stream)
                .await
                .map_err(|source| SendError::Tls { address, source })?;
            exchange(TokioIo::new(tls), request).await
        } else {
            exchange(TokioIo::new(stream), request).await
        }
    }
}

/// Why one try of a callback failed (logged; the next try follows).
#[derive(Debug, thiserror::Error)]
enum SendError {
    /// The target no longer passes the check it passed at submission.
    #[error("{0}")]
    Refused(String),
    #[error("cannot connect to {address}: {source}")]
    Connect {
        address: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("TLS with {address}: {source}")]
    Tls {
        address: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Request(#[from] axum::http::Error),
    #[error(transparent)]
    ServerName(#[from] rustls::pki_types::InvalidDnsNameError),
    #[error(transparent)]
    Http(#[from] hyper::Error),
}

/// Sends one request on a fresh connection; its status (a redirect is an
/// answer like any other, not followed).
async fn exchange<I>(io: I, request: hyper::Request<Full<Bytes>>) -> Result<u16, SendError>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let response = sender.send_request(request).await?;
    Ok(response.status().as_u16())
}

/// An `http` or `https` URL with a host and no credentials.
fn parse(text: &str) -> Result<Url, Refused> {
    let url = Url::parse(text).map_err(|e| Refused(format!("is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Refused("must be an http or https URL".into()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Refused("must not carry credentials".into()));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::allowlist::parse_allow_list;

    #[tokio::test]
    async fn a_target_is_checked_on_every_address_it_resolves_to() {
        let none = Callbacks::new(Vec::new(), Vec::new());
        assert_eq!(
            none.check("http://127.0.0.1/x").await.unwrap_err().0,
            "setting callback is not allowed"
        );
        let own: SocketAddr = "127.0.0.1:8000".parse().unwrap();
        let local = Callbacks::new(parse_allow_list("127.0.0.1").unwrap(), vec![own]);
        let refused = local.check("http://127.0.0.1:8000/run").await.unwrap_err();
        assert!(refused.0.contains("own address"), "{refused:?}");
        let everywhere = Callbacks::new(
            parse_allow_list("127.0.0.0/8").unwrap(),
            vec!["0.0.0.0:8000".parse().unwrap()],
        );
        assert!(everywhere.check("http://127.0.0.9:8000/").await.is_err());
        assert!(everywhere.check("http://127.0.0.9:8001/").await.is_ok());
        assert!(local.check("http://127.0.0.1:9/x").await.is_ok());
        // "Any" is this machine, whatever the list says.
        let all = Callbacks::new(parse_allow_list("0.0.0.0/0,::/0").unwrap(), vec![own]);
        for any in [
            "http://0.0.0.0:8000/run",
            "http://[::]:9/",
            "http://[::ffff:0.0.0.0]:9/",
        ] {
            let refused = all.check(any).await.unwrap_err();
            assert!(
                refused.0.contains("reaches this machine"),
                "{any}: {refused:?}"
            );
        }
        let refused = local.check("http://10.0.0.1/x").await.unwrap_err();
        assert!(
            refused.0.contains("not in the callback allow-list"),
            "{refused:?}"
        );
        // `localhost` may resolve to ::1 too, which is not allowed here.
        let by_name = local.check("http://localhost/x").await;
        if let Err(Refused(why)) = by_name {
            assert!(why.contains("::1") || why.contains("resolve"), "{why}");
        }
        assert!(local.check("ftp://127.0.0.1/").await.is_err());
        assert!(local.check("http://user:pw@127.0.0.1/").await.is_err());
    }
}
