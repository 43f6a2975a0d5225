//! Short-lived tickets for interactive sessions: what a browser page holds
//! instead of the master key (a page hands whatever it holds to every
//! visitor). A ticket is minted by a keyed request, is valid for
//! [`TICKET_LIFETIME`] and for interactive sessions only, and is checked
//! without any state: `<payload>.<mac>`, the payload its scope's expiry and
//! a nonce, the MAC an HMAC-SHA-256 under a secret derived from the key
//! file, so every instance sharing the key file accepts every instance's
//! tickets, and a new key ends them all.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How long a ticket is valid.
pub const TICKET_LIFETIME: Duration = Duration::from_secs(300);

/// What a ticket opens; the only scope so far.
const INTERACTIVE: &[u8] = b"whipcode ticket v1: interactive sessions";

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TicketError {
    #[error("the ticket is malformed")]
    Malformed,
    #[error("the ticket is not valid")]
    Forged,
    #[error("the ticket has expired")]
    Expired,
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

/// A new ticket, valid from `now` for [`TICKET_LIFETIME`].
pub fn mint(secret: &[u8; 32], now: SystemTime) -> String {
    let mut payload = seconds(now + TICKET_LIFETIME).to_be_bytes().to_vec();
    payload.extend_from_slice(&rand::random::<[u8; 16]>());
    let tag = mac(secret, &payload).finalize().into_bytes();
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(&payload),
        URL_SAFE_NO_PAD.encode(tag)
    )
}

/// Whether `ticket` was minted under `secret` and is still valid at `now`.
pub fn verify(secret: &[u8; 32], ticket: &str, now: SystemTime) -> Result<(), TicketError> {
    let (payload, tag) = ticket.split_once('.').ok_or(TicketError::Malformed)?;
    let payload = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| TicketError::Malformed)?;
    let tag = URL_SAFE_NO_PAD
        .decode(tag)
        .map_err(|_| TicketError::Malformed)?;
    if payload.len() != 24 {
        return Err(TicketError::Malformed);
    }
    mac(secret, &payload)
        .verify_slice(&tag)
        .map_err(|_| TicketError::Forged)?;
    let expiry = u64::from_be_bytes(payload[..8].try_into().expect("eight bytes"));
    if seconds(now) >= expiry {
        return Err(TicketError::Expired);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ticket_is_valid_for_its_lifetime_under_its_secret_only() {
        let secret = [7u8; 32];
        let now = SystemTime::now();
        let ticket = mint(&secret, now);
        assert_eq!(verify(&secret, &ticket, now), Ok(()));
        let later = now + TICKET_LIFETIME - Duration::from_secs(2);
        assert_eq!(verify(&secret, &ticket, later), Ok(()));
        assert_eq!(
            verify(
                &secret,
                &ticket,
                now + TICKET_LIFETIME + Duration::from_secs(1)
            ),
            Err(TicketError::Expired)
        );
        assert_eq!(
            verify(&[8u8; 32], &ticket, now),
            Err(TicketError::Forged),
            "another key file's"
        );
        // A changed expiry breaks the MAC.
        let (payload, tag) = ticket.split_once('.').unwrap();
        let mut bytes = URL_SAFE_NO_PAD.decode(payload).unwrap();
        bytes[7] ^= 1;
        let altered = format!("{}.{tag}", URL_SAFE_NO_PAD.encode(bytes));
        assert_eq!(verify(&secret, &altered, now), Err(TicketError::Forged));
        for bad in ["", "x", "a.b", "!!.??"] {
            assert_eq!(
                verify(&secret, bad, now),
                Err(TicketError::Malformed),
                "{bad}"
            );
        }
        assert_ne!(mint(&secret, now), ticket, "each is new");
    }
}
