//! The result cache shared in Redis (`--store redis://…` with `--cache`):
//! a real Redis started by the test; instances of the service sharing it
//! and one key file.
// The podman lock is held for a whole test, across its awaits, on purpose.
#![allow(clippy::await_holding_lock)]

mod common;

use std::time::Duration;

use common::instances::Instances;
use common::redis::Redis;
use common::{b64, key_file, Service, KEY};
use serde_json::{json, Value};

/// The flags every instance of these tests has (besides `--store`).
const CACHE: [&str; 3] = ["--cache", "--cache-ttl", "600"];

/// A run whose output differs every time it really runs.
fn uuid_run(stdin: &str) -> Value {
    let code = b64("import sys, uuid\nprint(uuid.uuid4().hex, repr(sys.stdin.read()))");
    json!({"language_id": 1, "code": code, "stdin": stdin})
}

/// One counter of `GET /metrics`.
async fn counter(svc: &Service, name: &str) -> f64 {
    let text = Service::client()
        .get(format!("{}/metrics", svc.url))
        .header("X-Master-Key", KEY)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let line = text.lines().find(|l| l.starts_with(&format!("{name} ")));
    let value = line.and_then(|l| l.rsplit(' ').next()?.parse().ok());
    value.unwrap_or_else(|| panic!("no {name} in:\n{text}"))
}

#[ignore = "needs podman and redis-server (./task test runs it)"]
#[tokio::test(flavor = "multi_thread")]
async fn a_cached_result_is_a_hit_on_another_instance() {
    let _podman = common::podman_test();
    let redis = Redis::start();
    let instances = Instances::start(&redis, 2, &CACHE);
    let (a, b) = (&instances.all[0], &instances.all[1]);
    for svc in [a, b] {
        let connected = svc.wait_for_log(
            "connected to the shared result cache",
            Duration::from_secs(10),
        );
        assert!(connected, "{}", svc.log_text());
    }

    let body = uuid_run("in-a");
    let (status, mark, first) = a.run_raw(&body).await;
    assert_eq!((status, mark.as_deref()), (200, Some("miss")), "{first}");
    let (status, mark, again) = b.run_raw(&body).await;
    assert_eq!((status, mark.as_deref()), (200, Some("hit")), "{again}");
    assert_eq!(
        again, first,
        "the other instance answers with the same body"
    );

    let (status, mark, other) = b.run_raw(&uuid_run("in-b")).await;
    assert_eq!((status, mark.as_deref()), (200, Some("miss")), "{other}");
    assert_ne!(other, first);

    // Two entries, each with the TTL --cache-ttl gives.
    let entries = redis.command(
        "KEYS whipcode:cache:????????????????????????????????????????????????????????????????",
    );
    assert!(entries.starts_with("*2"), "{entries}");
    let name = entries.lines().nth(2).unwrap();
    let ttl: i64 = redis.command(&format!("TTL {name}"))[1..].parse().unwrap();
    assert!((1..=600).contains(&ttl), "ttl {ttl}");
    instances.stop_and_check_clean();
}

#[ignore = "needs podman and redis-server (./task test runs it)"]
#[tokio::test(flavor = "multi_thread")]
async fn a_cache_without_redis_is_a_miss_not_an_error() {
    let _podman = common::podman_test();
    let mut redis = Redis::start();
    redis.stop();
    let dir = tempfile::tempdir().unwrap();
    let url = redis.url();
    let flags = [["--store", url.as_str()].as_slice(), &CACHE].concat();
    let svc = Service::start_with_key(&key_file(dir.path()), &flags, tempfile::tempdir().unwrap());
    let body = uuid_run("x");

    // Started while Redis is down: it runs, and misses.
    let (status, mark, text) = svc.run_raw(&body).await;
    assert_eq!((status, mark.as_deref()), (200, Some("miss")), "{text}");
    assert!(counter(&svc, "whipcode_cache_unanswered_total").await >= 1.0);

    // Redis comes: the cache is used.
    redis.restart();
    let connected = svc.wait_for_log(
        "connected to the shared result cache",
        Duration::from_secs(10),
    );
    assert!(connected, "{}", svc.log_text());
    let (_, mark, first) = svc.run_raw(&body).await;
    assert_eq!(mark.as_deref(), Some("miss"));
    let (_, mark, again) = svc.run_raw(&body).await;
    assert_eq!((mark.as_deref(), &again), (Some("hit"), &first));

    // Redis goes: a miss again, the run as usual, counted.
    redis.stop();
    let before = counter(&svc, "whipcode_cache_unanswered_total").await;
    let started = std::time::Instant::now();
    let (status, mark, text) = svc.run_raw(&body).await;
    assert_eq!((status, mark.as_deref()), (200, Some("miss")), "{text}");
    assert_ne!(text, first, "it ran again");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    assert!(counter(&svc, "whipcode_cache_unanswered_total").await > before);
    assert!(counter(&svc, "whipcode_cache_misses_total").await >= 3.0);
    svc.stop_and_check_clean();
}

mod against_redis {
    //! The shared cache's script against a real Redis, from two
    //! connections, as two instances use it; no podman.

    use std::time::Duration;

    use bytes::Bytes;
    use whipcode::api::cache::{CacheKey, SharedBounds, SharedCache, ENTRY_OVERHEAD};

    use super::common::redis::Redis;

    const BOUND: usize = 16 * 1024;

    async fn connect(redis: &Redis, ttl: Duration) -> SharedCache {
        let bounds = SharedBounds { bytes: BOUND, ttl };
        SharedCache::connect(&redis.url(), "test:cache:", bounds)
            .await
            .unwrap()
    }

    fn key(n: u32) -> CacheKey {
        let mut digest = [0; 32];
        digest[..4].copy_from_slice(&n.to_le_bytes());
        CacheKey::from(digest)
    }

    fn body(n: u32) -> Bytes {
        Bytes::from(vec![b'a' + (n % 26) as u8; 200 + (n as usize * 131) % 1500])
    }

    /// Which of entries `0..count` are still there, and the bytes they count.
    async fn present(cache: &SharedCache, count: u32) -> (Vec<u32>, usize) {
        let mut kept = (Vec::new(), 0);
        for n in 0..count {
            if let Some(stored) = cache.get(&key(n)).await.unwrap() {
                assert_eq!(stored, body(n), "entry {n} is its own body");
                kept.0.push(n);
                kept.1 += stored.len() + ENTRY_OVERHEAD;
            }
        }
        kept
    }

    #[tokio::test]
    #[ignore = "needs redis-server (./task test installs it)"]
    async fn the_shared_cache_holds_its_size_bound() {
        let redis = Redis::start();
        let hour = Duration::from_secs(3600);
        let (a, b) = (connect(&redis, hour).await, connect(&redis, hour).await);

        // Both at once: the bound holds, and the count is exact.
        let mut puts = tokio::task::JoinSet::new();
        for n in 0..100 {
            let cache = if n % 2 == 0 { a.clone() } else { b.clone() };
            puts.spawn(async move { cache.put(&key(n), &body(n)).await.unwrap() });
        }
        assert!(puts.join_all().await.into_iter().all(|stored| stored));
        let (_, bytes) = present(&a, 100).await;
        assert_eq!(a.counted().await.unwrap(), bytes);
        assert!(bytes <= BOUND, "{bytes}");

        // One after another: after each, the newest ones that fit are kept.
        for n in 100..300 {
            let cache = if n % 2 == 0 { &a } else { &b };
            assert!(cache.put(&key(n), &body(n)).await.unwrap());
            assert!(b.counted().await.unwrap() <= BOUND);
        }
        let (kept, bytes) = present(&b, 300).await;
        assert_eq!(b.counted().await.unwrap(), bytes);
        let oldest = kept[0];
        assert_eq!(
            kept,
            (oldest..300).collect::<Vec<_>>(),
            "the newest are kept"
        );
        let next = body(oldest - 1).len() + ENTRY_OVERHEAD;
        assert!(bytes + next > BOUND, "no more was evicted than needed");

        // An entry larger than the bound is not stored, and evicts nothing.
        let huge = Bytes::from(vec![b'x'; BOUND]);
        assert!(!a.put(&key(1000), &huge).await.unwrap());
        assert_eq!(present(&a, 300).await.0, kept);
    }

    #[tokio::test]
    #[ignore = "needs redis-server (./task test installs it)"]
    async fn expired_entries_leave_the_shared_caches_count() {
        let redis = Redis::start();
        let cache = connect(&redis, Duration::from_millis(300)).await;
        for n in 0..5 {
            cache.put(&key(n), &body(n)).await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(present(&cache, 5).await.0, Vec::<u32>::new(), "expired");
        cache.put(&key(9), &body(9)).await.unwrap();
        let counted = cache.counted().await.unwrap();
        assert_eq!(
            counted,
            body(9).len() + ENTRY_OVERHEAD,
            "only the live one counts"
        );
    }
}
