//! A token bucket per client address: `--standalone`'s request rate, and
//! the key checks a client may cost (see [`crate::auth`]).
//!
//! Each client starts with `burst` tokens; a request takes one; one comes back
//! every `refill`. A client whose bucket has refilled completely is the same as
//! one never seen, so such entries are dropped whenever the table grows: memory
//! follows the number of clients active within the last `burst × refill`. The
//! table has a hard cap; when it is full of active clients, new clients are
//! refused (tracked clients keep their buckets) rather than letting an address
//! spray evict everyone's history.
//!
//! IPv6 clients are grouped by /64, the block one host usually owns.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The most clients tracked at once (about 48 bytes each).
pub const MAX_CLIENTS: usize = 100_000;

/// The table is swept of refilled buckets when it reaches this size, then
/// again at twice the size left after a sweep.
const FIRST_SWEEP: usize = 1024;

/// A bucket's shape: each client gets `burst` tokens, one back every
/// `refill` (`--standalone`'s rate limit, and the key checks of
/// [`crate::auth`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub burst: u32,
    pub refill: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// Refused; a token is back after this long.
    Deny {
        retry_after: Duration,
    },
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

#[derive(Debug)]
pub struct RateLimiter {
    limit: RateLimit,
    max_clients: usize,
    table: Mutex<Table>,
}

#[derive(Debug)]
struct Table {
    buckets: HashMap<IpAddr, Bucket>,
    next_sweep: usize,
}

impl RateLimiter {
    pub fn new(limit: RateLimit) -> RateLimiter {
        RateLimiter::with_capacity(limit, MAX_CLIENTS)
    }

    pub fn with_capacity(limit: RateLimit, max_clients: usize) -> RateLimiter {
        RateLimiter {
            limit,
            max_clients,
            table: Mutex::new(Table {
                buckets: HashMap::new(),
                next_sweep: FIRST_SWEEP.min(max_clients),
            }),
        }
    }

    /// Takes a token for `client` at `now`, or says when one will be back.
    pub fn check(&self, client: IpAddr, now: Instant) -> Decision {
        let key = client_key(client);
        let burst = f64::from(self.limit.burst);
        let per_token = self.limit.refill.as_secs_f64();
        let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        if !table.buckets.contains_key(&key) && table.buckets.len() >= table.next_sweep {
            self.sweep(&mut table, now);
            if table.buckets.len() >= self.max_clients {
                return Decision::Deny {
                    retry_after: self.limit.refill,
                };
            }
        }
        let bucket = table.buckets.entry(key).or_insert(Bucket {
            tokens: burst,
            updated: now,
        });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed / per_token).min(burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Decision::Allow
        } else {
            let wait = (1.0 - bucket.tokens) * per_token;
            Decision::Deny {
                retry_after: Duration::from_secs_f64(wait),
            }
        }
    }

    /// Clients tracked right now.
    pub fn tracked(&self) -> usize {
        self.table
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .buckets
            .len()
    }

    fn sweep(&self, table: &mut Table, now: Instant) {
        let full_after = self.limit.refill.saturating_mul(self.limit.burst);
        table
            .buckets
            .retain(|_, b| now.saturating_duration_since(b.updated) < full_after);
        table.next_sweep = (table.buckets.len() * 2)
            .max(FIRST_SWEEP)
            .min(self.max_clients);
    }
}

/// IPv4 (and IPv4-mapped IPv6) by address, other IPv6 by its /64: the
/// unit one client is counted by.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(bits.into())
        }
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(burst: u32, refill_secs: u64) -> RateLimiter {
        RateLimiter::new(RateLimit {
            burst,
            refill: Duration::from_secs(refill_secs),
        })
    }

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));

    #[test]
    fn a_burst_is_allowed_then_refused_until_a_token_returns() {
        let rl = limiter(3, 2);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(rl.check(A, t0), Decision::Allow);
        }
        match rl.check(A, t0) {
            Decision::Deny { retry_after } => assert_eq!(retry_after, Duration::from_secs(2)),
            other => panic!("{other:?}"),
        }
        assert_eq!(rl.check(B, t0), Decision::Allow, "other clients unaffected");
        assert!(matches!(
            rl.check(A, t0 + Duration::from_secs(1)),
            Decision::Deny { .. }
        ));
        assert_eq!(rl.check(A, t0 + Duration::from_secs(2)), Decision::Allow);
    }

    #[test]
    fn tokens_never_exceed_the_burst() {
        let rl = limiter(2, 1);
        let later = Instant::now() + Duration::from_secs(3600);
        assert_eq!(rl.check(A, later), Decision::Allow);
        assert_eq!(rl.check(A, later), Decision::Allow);
        assert!(matches!(rl.check(A, later), Decision::Deny { .. }));
    }

    #[test]
    fn ipv6_clients_share_a_bucket_per_64_and_mapped_v4_is_v4() {
        let rl = limiter(1, 60);
        let t0 = Instant::now();
        let one: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let two: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        assert_eq!(rl.check(one, t0), Decision::Allow);
        assert!(matches!(rl.check(two, t0), Decision::Deny { .. }));
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(rl.check(mapped, t0), Decision::Allow);
        assert!(matches!(rl.check(A, t0), Decision::Deny { .. }));
    }

    #[test]
    fn idle_clients_are_forgotten_so_memory_stays_bounded() {
        let rl = limiter(1, 1);
        let t0 = Instant::now();
        for i in 0..50_000u32 {
            // Each second a new wave of 1000 addresses: older waves have refilled.
            let now = t0 + Duration::from_secs(u64::from(i / 1000) * 2);
            rl.check(IpAddr::V4(i.into()), now);
        }
        assert!(rl.tracked() <= 2 * FIRST_SWEEP, "tracked {}", rl.tracked());
    }

    #[test]
    fn a_full_table_refuses_new_clients_but_not_tracked_ones() {
        let rl = RateLimiter::with_capacity(
            RateLimit {
                burst: 5,
                refill: Duration::from_secs(60),
            },
            10,
        );
        let t0 = Instant::now();
        for i in 0..10u32 {
            assert_eq!(rl.check(IpAddr::V4(i.into()), t0), Decision::Allow);
        }
        assert!(matches!(
            rl.check(IpAddr::V4(99u32.into()), t0),
            Decision::Deny { .. }
        ));
        assert_eq!(rl.check(IpAddr::V4(3u32.into()), t0), Decision::Allow);
        assert_eq!(rl.tracked(), 10);
    }
}
