//! The web origins `--cors-origins` lists (the pages that may call Judge0's
//! API from a browser): parsed by the configuration, matched by the HTTP
//! layer, owned by neither.

/// `--cors-origins`: whose pages may call Judge0's API from a browser.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CorsOrigins {
    /// No CORS at all (the default): a cross-origin page is refused.
    #[default]
    None,
    /// `*`: any page, as a default Judge0 answers.
    Any,
    /// These origins, exactly as browsers send them (`https://ide.judge0.com`).
    Listed(Vec<String>),
}

impl CorsOrigins {
    /// Whether a page whose `Origin` header is `origin` may call.
    pub fn allows(&self, origin: &[u8]) -> bool {
        match self {
            CorsOrigins::None => false,
            CorsOrigins::Any => true,
            CorsOrigins::Listed(list) => list.iter().any(|o| o.as_bytes() == origin),
        }
    }

    pub fn is_none(&self) -> bool {
        *self == CorsOrigins::None
    }
}

/// An entry of `--cors-origins` that is not an origin as browsers send it.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum NotAnOrigin {
    #[error("{0:?} is not an origin (scheme://host[:port], e.g. https://ide.judge0.com)")]
    Malformed(String),
    /// What a browser would send for it: compared byte for byte, so a
    /// trailing slash, a path or a default port would never match.
    #[error("{given:?} never matches: browsers send {sent:?}")]
    NotAsSent { given: String, sent: String },
    /// `null` is what sandboxed frames and local files send, of any site.
    #[error("\"null\" is the origin of any sandboxed page or local file, not of one site")]
    Null,
    #[error("\"*\" allows every origin; it cannot be listed with others")]
    StarAmongOthers,
}

/// `--cors-origins`: comma-separated origins, or `*`; empty: none.
pub fn parse_cors_origins(text: &str) -> Result<CorsOrigins, NotAnOrigin> {
    let items: Vec<&str> = text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    match items.as_slice() {
        [] => Ok(CorsOrigins::None),
        ["*"] => Ok(CorsOrigins::Any),
        _ if items.contains(&"*") => Err(NotAnOrigin::StarAmongOthers),
        _ => items
            .iter()
            .map(|item| origin(item))
            .collect::<Result<_, _>>()
            .map(CorsOrigins::Listed),
    }
}

/// `item` when it is an origin exactly as a browser serializes it.
fn origin(item: &str) -> Result<String, NotAnOrigin> {
    if item == "null" {
        return Err(NotAnOrigin::Null);
    }
    let url = url::Url::parse(item).map_err(|_| NotAnOrigin::Malformed(item.to_owned()))?;
    let sent = url.origin();
    if !sent.is_tuple() {
        return Err(NotAnOrigin::Malformed(item.to_owned()));
    }
    let sent = sent.ascii_serialization();
    if sent != item {
        return Err(NotAnOrigin::NotAsSent {
            given: item.to_owned(),
            sent,
        });
    }
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_taken_only_as_browsers_send_them() {
        let listed = |s: &[&str]| CorsOrigins::Listed(s.iter().map(|o| o.to_string()).collect());
        assert_eq!(parse_cors_origins(""), Ok(CorsOrigins::None));
        assert_eq!(parse_cors_origins(" * "), Ok(CorsOrigins::Any));
        assert_eq!(
            parse_cors_origins("https://ide.judge0.com, http://localhost:8080"),
            Ok(listed(&["https://ide.judge0.com", "http://localhost:8080"]))
        );
        assert_eq!(
            parse_cors_origins("https://ide.judge0.com/"),
            Err(NotAnOrigin::NotAsSent {
                given: "https://ide.judge0.com/".into(),
                sent: "https://ide.judge0.com".into()
            })
        );
        for bad in [
            "https://IDE.example",
            "https://a.example:443",
            "https://a.example/x",
        ] {
            assert!(
                matches!(parse_cors_origins(bad), Err(NotAnOrigin::NotAsSent { .. })),
                "{bad}"
            );
        }
        assert_eq!(parse_cors_origins("null"), Err(NotAnOrigin::Null));
        assert_eq!(
            parse_cors_origins("ide.judge0.com"),
            Err(NotAnOrigin::Malformed("ide.judge0.com".into()))
        );
        assert_eq!(
            parse_cors_origins("*,https://a.example"),
            Err(NotAnOrigin::StarAmongOthers)
        );
    }

    #[test]
    fn only_a_listed_origin_is_allowed_byte_for_byte() {
        let list = parse_cors_origins("https://a.example").unwrap();
        assert!(list.allows(b"https://a.example"));
        assert!(!list.allows(b"https://a.example.evil"));
        assert!(!list.allows(b"http://a.example"));
        assert!(!list.allows(b"null"));
        assert!(CorsOrigins::Any.allows(b"null"));
        assert!(!CorsOrigins::None.allows(b"https://a.example"));
    }
}
