//! The master key's tests: the key file, and checking keys under floods.

use super::*;
use std::sync::Arc;

/// Made with Python's argon2-cffi (an independent implementation):
/// `argon2.low_level.hash_secret_raw(b"fixture-master-key", b"0123456789abcdef0123456789abcdef",
/// time_cost=1, memory_cost=4096, parallelism=1, hash_len=32, type=Type.ID).hex()`
const FIXTURE: &str = include_str!("../../tests/fixtures/argon2-cffi.masterkey");
const FIXTURE_KEY: &str = "fixture-master-key";
const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));

#[tokio::test]
async fn a_key_file_made_by_argon2_cffi_is_accepted() {
    let key = Arc::new(MasterKey::parse(FIXTURE).unwrap());
    assert_eq!(key.verify(FIXTURE_KEY, A).await, Verdict::Valid);
    assert_eq!(key.verify("fixture-master-kez", A).await, Verdict::Invalid);
}

#[test]
fn the_salt_is_used_as_literal_bytes_not_decoded() {
    let salt = FIXTURE.lines().nth(1).unwrap();
    assert_eq!(salt, "0123456789abcdef0123456789abcdef");
    assert_eq!(
        hex::encode(hash_key(FIXTURE_KEY.as_bytes(), salt.as_bytes()).unwrap()),
        FIXTURE.lines().next().unwrap()
    );
}

#[tokio::test]
async fn crlf_and_missing_final_newline_are_accepted() {
    let crlf = FIXTURE.replace('\n', "\r\n");
    let bare = FIXTURE.trim_end();
    for text in [crlf.as_str(), bare] {
        let key = Arc::new(MasterKey::parse(text).unwrap());
        assert_eq!(key.verify(FIXTURE_KEY, A).await, Verdict::Valid);
    }
}

#[test]
fn malformed_key_files_are_refused() {
    for text in [
        "",
        "zz\nsaltsaltsalt\n",
        "abcd\nsaltsaltsalt\n",
        "a\nb\nc\n",
    ] {
        assert!(MasterKey::parse(text).is_err(), "{text:?}");
    }
}

#[tokio::test]
async fn empty_and_oversized_keys_are_refused_without_hashing() {
    let key = Arc::new(MasterKey::parse(FIXTURE).unwrap());
    assert_eq!(key.verify("", A).await, Verdict::Invalid);
    assert_eq!(key.verify(&"k".repeat(5000), A).await, Verdict::Invalid);
    assert_eq!(key.checks_in_flight(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_wrong_keys_does_not_delay_the_remembered_key() {
    let key = Arc::new(MasterKey::parse(FIXTURE).unwrap());
    assert_eq!(key.verify(FIXTURE_KEY, A).await, Verdict::Valid);
    let flood: Vec<_> = (0..64u32)
        .map(|i| {
            let key = Arc::clone(&key);
            // 64 clients, so that the flood reaches the shared queue.
            let client = IpAddr::V4((0xC633_6400 + i).into());
            tokio::spawn(async move { key.verify(&format!("wrong-{i}"), client).await })
        })
        .collect();
    // The remembered key skips argon2 entirely, so it answers while the flood queues.
    assert_eq!(key.verify(FIXTURE_KEY, A).await, Verdict::Valid);
    let mut most = 0;
    while !flood.iter().all(|task| task.is_finished()) {
        most = most.max(key.checks_in_flight());
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert!(most <= HASH_QUEUE, "{most} keys hashed or queued at once");
    for task in flood {
        let verdict = task.await.unwrap();
        assert_ne!(verdict, Verdict::Valid, "a wrong key passed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_wrong_keys_from_one_client_does_not_starve_another_clients_right_key() {
    // Freshly loaded: the right key is not remembered yet and needs argon2.
    let key = Arc::new(MasterKey::parse(FIXTURE).unwrap());
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Eight senders at once from the one client, each key new.
    let flood: Vec<_> = (0..8u64)
        .map(|sender| {
            let (key, stop) = (Arc::clone(&key), Arc::clone(&stop));
            tokio::spawn(async move {
                let (mut invalid, mut throttled, mut i) = (0u32, 0u32, 0u64);
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    i += 1;
                    match key.verify(&format!("wrong-{sender}-{i}"), A).await {
                        Verdict::Invalid => invalid += 1,
                        Verdict::Throttled { .. } => throttled += 1,
                        other => panic!("flood got {other:?}"),
                    }
                    tokio::task::yield_now().await;
                }
                (invalid, throttled)
            })
        })
        .collect();
    let started = Instant::now();
    while key.checks_in_flight() == 0 {
        tokio::task::yield_now().await;
    }
    // The flood holds one place in the queue, however fast it sends.
    for _ in 0..200 {
        assert!(key.checks_in_flight() <= 1, "{}", key.checks_in_flight());
        tokio::task::yield_now().await;
    }
    assert_eq!(key.verify(FIXTURE_KEY, B).await, Verdict::Valid);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (mut invalid, mut throttled) = (0, 0);
    for sender in flood {
        let (i, t) = sender.await.unwrap();
        invalid += i;
        throttled += t;
    }
    let allowed = CHECK_BUDGET.burst as f64
        + started.elapsed().as_secs_f64() / CHECK_BUDGET.refill.as_secs_f64()
        + 1.0;
    assert!(
        f64::from(invalid) <= allowed,
        "{invalid} hashes for one client"
    );
    assert!(throttled > 0);
}

#[tokio::test]
async fn a_client_that_hangs_up_while_waiting_for_a_place_leaves_no_entry() {
    let key = Arc::new(MasterKey::parse(FIXTURE).unwrap());
    // Every place taken: a new client waits.
    let places = Arc::clone(&key.places)
        .acquire_many_owned(HASH_QUEUE as u32)
        .await
        .unwrap();
    let waiting = key.start("a-new-key", [7; 32], A);
    assert!(tokio::time::timeout(Duration::from_millis(50), waiting)
        .await
        .is_err());
    // The request went away mid-wait: the client is not left waiting,
    // so its next request is not told to slow down.
    assert!(key.checks.lock().unwrap().waiting.is_empty());
    drop(places);
    assert!(key.start("a-new-key", [7; 32], A).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_right_key_is_served_during_a_many_address_wrong_key_flood() {
    // Freshly loaded: the right key is not remembered yet and needs argon2.
    let key = Arc::new(MasterKey::parse(FIXTURE).unwrap());
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // 48 senders at once, each from four addresses of its own in turn,
    // every key new: far more distinct clients than places in the queue.
    let flood: Vec<_> = (0..48u8)
        .map(|sender| {
            let (key, stop) = (Arc::clone(&key), Arc::clone(&stop));
            tokio::spawn(async move {
                let mut i = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    i += 1;
                    let from =
                        IpAddr::V4(std::net::Ipv4Addr::new(127, 0, sender, (i % 4) as u8 + 1));
                    key.verify(&format!("wrong-{sender}-{i}"), from).await;
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    while key.checks_in_flight() < HASH_QUEUE {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The queue is full; a new client with the right key still gets in.
    let verdicts = [
        key.verify(FIXTURE_KEY, B).await,
        key.verify(FIXTURE_KEY, A).await,
    ];
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for sender in flood {
        sender.await.unwrap();
    }
    assert_eq!(verdicts, [Verdict::Valid, Verdict::Valid]);
}

#[tokio::test]
async fn a_repeated_wrong_key_is_refused_without_hashing_again() {
    let key = Arc::new(MasterKey::parse(FIXTURE).unwrap());
    for _ in 0..(CHECK_BUDGET.burst * 3) {
        assert_eq!(key.verify("wrong", A).await, Verdict::Invalid);
    }
    // The repeats cost nothing, so the client's budget is still there.
    assert_eq!(key.verify(FIXTURE_KEY, A).await, Verdict::Valid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_the_right_key_before_it_is_remembered_shares_one_hash() {
    let key = Arc::new(MasterKey::parse(FIXTURE).unwrap());
    let burst: Vec<_> = (0..64)
        .map(|_| {
            let key = Arc::clone(&key);
            tokio::spawn(async move { key.verify(FIXTURE_KEY, A).await })
        })
        .collect();
    for task in burst {
        assert_eq!(task.await.unwrap(), Verdict::Valid);
    }
    assert_eq!(key.checks_in_flight(), 0);
}
