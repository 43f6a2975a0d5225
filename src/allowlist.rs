//! The addresses a setting allows (`--callback-allow`: where Judge0's
//! callbacks may go): parsed by the configuration, checked by the callback
//! client, owned by neither.

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;

/// One entry of `--callback-allow`: an address or a network, and a port
/// (`None`: any port).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allowed {
    pub net: IpNet,
    pub port: Option<u16>,
}

impl Allowed {
    /// Whether a callback to `target` may go.
    pub fn admits(&self, target: SocketAddr) -> bool {
        self.net.contains(&target.ip().to_canonical())
            && self.port.is_none_or(|port| port == target.port())
    }
}

/// An entry of the allow-list setting that is not one.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an address or a network, with or without :port")]
pub struct NotAnAllowEntry(pub String);

/// The allow-list setting: comma-separated addresses or networks
/// (`127.0.0.1`, `10.0.0.0/8`, `::1`).
pub fn parse_allow_list(text: &str) -> Result<Vec<Allowed>, NotAnAllowEntry> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|item| allowed(item).ok_or_else(|| NotAnAllowEntry(item.to_owned())))
        .collect()
}

/// `ADDR`, `NET/BITS`, `ADDR:PORT`, `NET/BITS:PORT`, `[V6]:PORT`,
/// `[V6NET/BITS]:PORT` (a bare IPv6 address takes no port: its colons).
fn allowed(item: &str) -> Option<Allowed> {
    let net = |text: &str| {
        let text = text
            .strip_prefix('[')
            .and_then(|t| t.strip_suffix(']'))
            .unwrap_or(text);
        text.parse::<IpNet>()
            .ok()
            .or_else(|| text.parse::<IpAddr>().ok().map(IpNet::from))
    };
    if let Some(net) = net(item).filter(|_| !item.starts_with('[')) {
        return Some(Allowed { net, port: None });
    }
    let (host, port) = item.rsplit_once(':')?;
    let port = port.parse::<u16>().ok().filter(|p| *p != 0)?;
    let bracketed = host.starts_with('[') && host.ends_with(']');
    if host.contains(':') && !bracketed {
        return None;
    }
    Some(Allowed {
        net: net(host)?,
        port: Some(port),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_allow_list_takes_addresses_and_networks() {
        let list = parse_allow_list("127.0.0.1, 10.0.0.0/8,::1").unwrap();
        assert_eq!(list.len(), 3);
        assert!(list[1].net.contains(&"10.1.2.3".parse::<IpAddr>().unwrap()));
        assert!(list.iter().all(|entry| entry.port.is_none()));
        assert!(parse_allow_list("nope").is_err());
        assert!(parse_allow_list("").unwrap().is_empty());
    }

    #[test]
    fn an_allow_list_entry_may_name_a_port() {
        let list =
            parse_allow_list("127.0.0.2:8080, 10.0.0.0/8:443, [::1]:9000, [fd00::/8]:80").unwrap();
        let ports: Vec<_> = list.iter().map(|e| e.port).collect();
        assert_eq!(ports, [Some(8080), Some(443), Some(9000), Some(80)]);
        let at = |text: &str| text.parse::<SocketAddr>().unwrap();
        assert!(list[0].admits(at("127.0.0.2:8080")));
        assert!(!list[0].admits(at("127.0.0.2:8081")));
        assert!(list[1].admits(at("10.9.9.9:443")));
        assert!(list[2].admits(at("[::1]:9000")));
        for bad in [
            "127.0.0.1:0",
            "127.0.0.1:x",
            "127.0.0.1:99999",
            "[::1]",
            "a:80",
        ] {
            assert!(parse_allow_list(bad).is_err(), "{bad}");
        }
    }
}
