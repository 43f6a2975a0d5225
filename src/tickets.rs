//! Short-lived tickets for interactive sessions: what a browser page holds
//! instead of the master key (a page hands whatever it holds to every
//! visitor). A ticket is minted by a keyed request, is valid for
//! [`TICKET_LIFETIME`] and for interactive sessions only, and is checked
//! without any state: `<payload>.<mac>`, the payload its expiry, a nonce
//! and the `Origin` of the request that minted it (or none), the MAC an
//! HMAC-SHA-256 over its scope and the payload under a secret derived from
//! the key file, so every instance sharing the key file accepts every
//! instance's tickets, and a new key ends them all.
//!
//! A ticket minted for a page (its request had an `Origin`) opens sessions
//! from that page's origin only: not from another page, and not from a
//! client that sends no `Origin`. One minted without an `Origin` (by a
//! server holding the key, for the pages it serves) opens sessions from any
//! origin, as that server decides whom it hands it to.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How long a ticket is valid.
pub const TICKET_LIFETIME: Duration = Duration::from_secs(300);

/// What a ticket opens; the only scope so far. v2: the payload ends with
/// the minting request's `Origin` (v1 tickets had none, and are refused).
const INTERACTIVE: &[u8] = b"whipcode ticket v2: interactive sessions";

/// Expiry (8 bytes) and nonce (16), then whether an origin follows (1).
const FIXED: usize = 8 + 16 + 1;

/// The longest `Origin` a ticket records; a longer one is no browser's.
pub const MAX_ORIGIN: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TicketError {
    #[error("the ticket is malformed")]
    Malformed,
    #[error("the ticket is not valid")]
    Forged,
    #[error("the ticket has expired")]
    Expired,
    /// Minted for one page's origin, presented from another (or from no page).
    #[error("the ticket was issued to a page of {issued}, and this connection comes from {presented}; a page asks for its own ticket (POST /tickets)")]
    OtherOrigin { issued: String, presented: String },
    #[error("an Origin longer than {MAX_ORIGIN} bytes")]
    OriginTooLong,
}

fn mac(secret: &[u8; 32], payload: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(INTERACTIVE);
    mac.update(payload);
    mac
}

fn seconds(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// A new ticket for a request whose `Origin` is `origin` (`None`: it had
/// none), valid from `now` for [`TICKET_LIFETIME`].
pub fn mint(
    secret: &[u8; 32],
    now: SystemTime,
    origin: Option<&[u8]>,
) -> Result<String, TicketError> {
    if origin.is_some_and(|o| o.len() > MAX_ORIGIN) {
        return Err(TicketError::OriginTooLong);
    }
    let mut payload = seconds(now + TICKET_LIFETIME).to_be_bytes().to_vec();
    payload.extend_from_slice(&rand::random::<[u8; 16]>());
    payload.push(u8::from(origin.is_some()));
    payload.extend_from_slice(origin.unwrap_or_default());
    let tag = mac(secret, &payload).finalize().into_bytes();
    Ok(format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(&payload),
        URL_SAFE_NO_PAD.encode(tag)
    ))
}

/// Whether `ticket` was minted under `secret`, is still valid at `now`, and
/// may be presented by a connection whose `Origin` is `origin`.
pub fn verify(
    secret: &[u8; 32],
    ticket: &str,
    now: SystemTime,
    origin: Option<&[u8]>,
) -> Result<(), TicketError> {
    let (payload, tag) = ticket.split_once('.').ok_or(TicketError::Malformed)?;
    let payload = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| TicketError::Malformed)?;
    let tag = URL_SAFE_NO_PAD
        .decode(tag)
        .map_err(|_| TicketError::Malformed)?;
    if payload.len() < FIXED || payload.len() > FIXED + MAX_ORIGIN {
        return Err(TicketError::Malformed);
    }
    mac(secret, &payload)
        .verify_slice(&tag)
        .map_err(|_| TicketError::Forged)?;
    let expiry = u64::from_be_bytes(payload[..8].try_into().expect("eight bytes"));
    if seconds(now) >= expiry {
        return Err(TicketError::Expired);
    }
    let issued = match payload[FIXED - 1] {
        0 if payload.len() == FIXED => return Ok(()),
        1 => &payload[FIXED..],
        _ => return Err(TicketError::Malformed),
    };
    if origin != Some(issued) {
        return Err(TicketError::OtherOrigin {
            issued: String::from_utf8_lossy(issued).into_owned(),
            presented: origin.map_or_else(
                || "no page (no Origin)".to_owned(),
                |o| String::from_utf8_lossy(o).into_owned(),
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: Option<&[u8]> = Some(b"https://page.example");

    #[test]
    fn a_ticket_is_valid_for_its_lifetime_under_its_secret_only() {
        let secret = [7u8; 32];
        let now = SystemTime::now();
        let ticket = mint(&secret, now, None).unwrap();
        assert_eq!(verify(&secret, &ticket, now, None), Ok(()));
        let later = now + TICKET_LIFETIME - Duration::from_secs(2);
        assert_eq!(verify(&secret, &ticket, later, None), Ok(()));
        assert_eq!(
            verify(
                &secret,
                &ticket,
                now + TICKET_LIFETIME + Duration::from_secs(1),
                None
            ),
            Err(TicketError::Expired)
        );
        assert_eq!(
            verify(&[8u8; 32], &ticket, now, None),
            Err(TicketError::Forged),
            "another key file's"
        );
        // A changed expiry breaks the MAC.
        let (payload, tag) = ticket.split_once('.').unwrap();
        let mut bytes = URL_SAFE_NO_PAD.decode(payload).unwrap();
        bytes[7] ^= 1;
        let altered = format!("{}.{tag}", URL_SAFE_NO_PAD.encode(bytes));
        assert_eq!(
            verify(&secret, &altered, now, None),
            Err(TicketError::Forged)
        );
        for bad in ["", "x", "a.b", "!!.??"] {
            assert_eq!(
                verify(&secret, bad, now, None),
                Err(TicketError::Malformed),
                "{bad}"
            );
        }
        assert_ne!(mint(&secret, now, None).unwrap(), ticket, "each is new");
    }

    #[test]
    fn a_pages_ticket_opens_sessions_from_that_origin_only() {
        let secret = [7u8; 32];
        let now = SystemTime::now();
        let ticket = mint(&secret, now, PAGE).unwrap();
        assert_eq!(verify(&secret, &ticket, now, PAGE), Ok(()));
        let other = verify(&secret, &ticket, now, Some(b"https://elsewhere.example"));
        assert_eq!(
            other,
            Err(TicketError::OtherOrigin {
                issued: "https://page.example".into(),
                presented: "https://elsewhere.example".into()
            })
        );
        assert!(other.unwrap_err().to_string().contains(
            "issued to a page of https://page.example, and this connection comes from https://elsewhere.example"
        ));
        assert!(
            matches!(
                verify(&secret, &ticket, now, None),
                Err(TicketError::OtherOrigin { .. })
            ),
            "nor from a client without an Origin"
        );
        assert!(matches!(
            verify(&secret, &ticket, now, Some(b"https://page.example:8443")),
            Err(TicketError::OtherOrigin { .. })
        ));
    }

    #[test]
    fn a_ticket_minted_without_an_origin_opens_sessions_from_any() {
        let secret = [7u8; 32];
        let now = SystemTime::now();
        let ticket = mint(&secret, now, None).unwrap();
        assert_eq!(verify(&secret, &ticket, now, PAGE), Ok(()));
        assert_eq!(verify(&secret, &ticket, now, None), Ok(()));
    }

    #[test]
    fn the_origin_a_ticket_records_is_under_its_mac() {
        let secret = [7u8; 32];
        let now = SystemTime::now();
        let ticket = mint(&secret, now, Some(b"https://a.example")).unwrap();
        let (payload, tag) = ticket.split_once('.').unwrap();
        let mut bytes = URL_SAFE_NO_PAD.decode(payload).unwrap();
        let at = bytes.len() - 1;
        bytes[at] = b'b';
        let moved = format!("{}.{tag}", URL_SAFE_NO_PAD.encode(&bytes));
        let presented = Some(&b"https://a.examplb"[..]);
        assert_eq!(
            verify(&secret, &moved, now, presented),
            Err(TicketError::Forged)
        );
        // Unbinding it (no origin at all) breaks the MAC too.
        bytes.truncate(FIXED);
        bytes[FIXED - 1] = 0;
        let unbound = format!("{}.{tag}", URL_SAFE_NO_PAD.encode(&bytes));
        assert_eq!(
            verify(&secret, &unbound, now, None),
            Err(TicketError::Forged)
        );
        let long = vec![b'a'; MAX_ORIGIN + 1];
        assert_eq!(
            mint(&secret, now, Some(&long)),
            Err(TicketError::OriginTooLong)
        );
    }
}
