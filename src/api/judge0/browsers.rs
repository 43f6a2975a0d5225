//! Browsers on Judge0's routes (`--cors-origins`): a listed page gets
//! Judge0's CORS answers; a page of any other origin is refused (403)
//! before anything is read or run. A gateway that adds the master key (the
//! nginx example) would otherwise let any page on the web make its
//! visitors' browsers run code on the operator's key: a "simple"
//! cross-origin request (a form's POST, `text/plain`) is sent without a
//! preflight, and withholding CORS headers only keeps the page from reading
//! the answer, not the run from happening.
//!
//! Judge0 1.13.1 installs Rack::Cors 1.1.1 with `origins '*'` and
//! `resource '*', headers: :any, methods: :any`. From its source, it
//! answers a preflight (`OPTIONS` with `Origin` and
//! `Access-Control-Request-Method`) from an allowed origin with 200, no
//! body, `Access-Control-Allow-Origin: *` (the origin itself when origins
//! are listed), `Access-Control-Allow-Methods: GET, HEAD, POST, PUT, PATCH,
//! DELETE, OPTIONS`, `Access-Control-Allow-Headers:` whatever
//! `Access-Control-Request-Headers` asked, `Access-Control-Max-Age: 7200`,
//! never `Access-Control-Allow-Credentials`; a preflight from another
//! origin with 200 and none of them; any other request from an allowed
//! origin with the route's answer and `Access-Control-Allow-Origin`; and
//! every answer with `Vary: Origin`.
//!
//! tower-http's `CorsLayer` writes those headers. Where it differs, no
//! browser sees it: its methods are joined by `,` alone, and it sends the
//! methods and the max age on preflights only, and no empty
//! `Access-Control-Expose-Headers`. What it cannot do is written here, in
//! the [`Gate`] in front of it: it answers every `OPTIONS` as a preflight
//! (an `OPTIONS` that is none is routed as before), it cannot refuse a
//! request (it only withholds its headers), and for an unlisted origin's
//! preflight it still sends its methods and max age (Rack::Cors sends
//! nothing).

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use tower::{Layer, Service, ServiceExt as _};
use tower_http::cors::{AllowHeaders, AllowOrigin, Cors, CorsLayer};

use super::error::Judge0Error;
use crate::origins::CorsOrigins;

/// Rack::Cors's `max_age` default, which Judge0 keeps.
const MAX_AGE: Duration = Duration::from_secs(7200);

/// Rack::Cors's `methods: :any`.
const METHODS: [Method; 7] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
    Method::OPTIONS,
];

/// The [`Gate`] (and, when origins are listed, tower-http's `CorsLayer`
/// behind it) around each of Judge0's routes.
#[derive(Clone)]
pub struct BrowserLayer {
    origins: Arc<CorsOrigins>,
    cors: Option<CorsLayer>,
}

impl BrowserLayer {
    pub fn new(origins: Arc<CorsOrigins>) -> BrowserLayer {
        let cors = cors_layer(&origins);
        BrowserLayer { origins, cors }
    }
}

/// Judge0's Rack::Cors settings for `origins`; `None`: no CORS.
fn cors_layer(origins: &CorsOrigins) -> Option<CorsLayer> {
    let allow_origin = match origins {
        CorsOrigins::None => return None,
        CorsOrigins::Any => AllowOrigin::any(),
        CorsOrigins::Listed(list) => {
            AllowOrigin::list(list.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
        }
    };
    let layer = CorsLayer::new()
        .allow_origin(allow_origin)
        .allow_methods(METHODS)
        .allow_headers(AllowHeaders::mirror_request())
        .max_age(MAX_AGE)
        // The gate adds `Vary: Origin` to every answer, as Rack::Cors does.
        .vary(Vec::<HeaderName>::new());
    Some(layer)
}

impl<S: Clone> Layer<S> for BrowserLayer {
    type Service = Gate<S>;

    fn layer(&self, inner: S) -> Gate<S> {
        Gate {
            cors: self.cors.as_ref().map(|c| c.layer(inner.clone())),
            plain: inner,
            origins: Arc::clone(&self.origins),
        }
    }
}

/// One route behind the gate: as it was, or through the CORS layer.
#[derive(Clone)]
pub struct Gate<S> {
    plain: S,
    cors: Option<Cors<S>>,
    origins: Arc<CorsOrigins>,
}

/// Who is asking, as far as browsers go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Visitor {
    /// No `Origin` (not a browser, or a page's own-origin `GET`), or a
    /// page of the origin the request went to: routed as without CORS.
    Plain,
    /// A page of a listed origin (its preflight too): through `CorsLayer`.
    Listed,
    /// Another origin's preflight, with origins listed: Rack::Cors's 200
    /// without a CORS header (without `--cors-origins`, routed as before).
    UnlistedPreflight,
    /// Another origin's request: refused before it is read.
    Refused,
}

/// Who sends `method` with `headers`, given the listed `origins`.
fn visitor(origins: &CorsOrigins, method: &Method, headers: &HeaderMap) -> Visitor {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Visitor::Plain;
    };
    let options = method == Method::OPTIONS;
    let preflight = options && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if origins.allows(origin.as_bytes()) {
        return if options && !preflight {
            Visitor::Plain
        } else {
            Visitor::Listed
        };
    }
    if preflight {
        return if origins.is_none() {
            Visitor::Plain
        } else {
            Visitor::UnlistedPreflight
        };
    }
    // A page of the API's own origin too: the host name a request names is
    // the page's to choose (it may point its own at the gateway's address).
    Visitor::Refused
}

/// Judge0's error shape, naming the origin refused.
fn refusal(origin: Option<&HeaderValue>) -> Response {
    let origin = origin.map_or_else(String::new, |o| {
        String::from_utf8_lossy(o.as_bytes()).into()
    });
    Judge0Error::Message(
        StatusCode::FORBIDDEN,
        format!(
            "a page of {origin} may not call this API: its origin is not in the server's --cors-origins"
        ),
    )
    .into_response()
}

impl<S> Service<Request> for Gate<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Response, Infallible>> + Send + 'static>,
    >;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // Each call drives a clone of the route (`oneshot`), which is ready.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let vary = !self.origins.is_none();
        let visitor = visitor(&self.origins, request.method(), request.headers());
        let plain = self.plain.clone();
        let cors = self.cors.clone().filter(|_| visitor == Visitor::Listed);
        Box::pin(async move {
            let mut response = match (visitor, cors) {
                (Visitor::Listed, Some(cors)) => cors.oneshot(request).await?,
                (Visitor::Refused, _) => refusal(request.headers().get(header::ORIGIN)),
                (Visitor::UnlistedPreflight, _) => StatusCode::OK.into_response(),
                _ => plain.oneshot(request).await?,
            };
            if vary {
                let headers = response.headers_mut();
                headers.append(header::VARY, HeaderValue::from_static("Origin"));
            }
            Ok(response)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (k.parse().unwrap(), v.parse().unwrap()))
            .collect()
    }

    #[test]
    fn only_another_origins_request_is_refused() {
        let listed = CorsOrigins::Listed(vec!["https://ide.example".into()]);
        let post = Method::POST;
        let seen = |origins: &CorsOrigins, method: &Method, pairs: &[(&str, &str)]| {
            visitor(origins, method, &headers(pairs))
        };
        assert_eq!(seen(&listed, &post, &[]), Visitor::Plain, "no browser");
        let ide = ("origin", "https://ide.example");
        assert_eq!(seen(&listed, &post, &[ide]), Visitor::Listed);
        let elsewhere = ("origin", "https://elsewhere.example");
        assert_eq!(seen(&listed, &post, &[elsewhere]), Visitor::Refused);
        assert_eq!(
            seen(&CorsOrigins::None, &post, &[elsewhere]),
            Visitor::Refused
        );
        let ask = ("access-control-request-method", "POST");
        let options = Method::OPTIONS;
        assert_eq!(seen(&listed, &options, &[ide, ask]), Visitor::Listed);
        assert_eq!(
            seen(&listed, &options, &[elsewhere, ask]),
            Visitor::UnlistedPreflight
        );
        assert_eq!(
            seen(&CorsOrigins::None, &options, &[elsewhere, ask]),
            Visitor::Plain,
            "without --cors-origins a preflight is routed as before"
        );
        assert_eq!(
            seen(&listed, &options, &[ide]),
            Visitor::Plain,
            "an OPTIONS that is no preflight"
        );
    }

    #[test]
    fn a_page_of_the_apis_own_origin_must_be_listed_too() {
        let none = CorsOrigins::None;
        let seen = |pairs: &[(&str, &str)]| visitor(&none, &Method::POST, &headers(pairs));
        let own = ("origin", "https://api.example");
        // A page that renamed its host to the gateway's address says all this.
        let rebound = [
            own,
            ("sec-fetch-site", "same-origin"),
            ("host", "api.example"),
        ];
        assert_eq!(seen(&rebound), Visitor::Refused);
        let listed = CorsOrigins::Listed(vec!["https://api.example".into()]);
        let headers = headers(&rebound);
        assert_eq!(visitor(&listed, &Method::POST, &headers), Visitor::Listed);
    }
}
