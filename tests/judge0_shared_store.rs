//! Judge0's asynchronous API on the shared store (`--store redis://…`): a
//! real Redis started by the test, several instances of the service on one
//! machine sharing it.

mod common;

use common::redis::Redis;

#[test]
#[ignore = "needs redis-server (./task test installs it)"]
fn the_tests_redis_answers_and_is_gone_once_dropped() {
    let mut redis = Redis::start();
    assert_eq!(redis.command("PING"), "+PONG");
    assert_eq!(
        redis.command("CONFIG GET appendonly"),
        "*2\r\n$10\r\nappendonly\r\n$2\r\nno"
    );
    redis.command("SET k v");
    redis.restart();
    assert_eq!(
        redis.command("DBSIZE"),
        ":0",
        "a restarted Redis starts empty"
    );
    let port = redis.port();
    drop(redis);
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
}

#[test]
#[ignore = "needs redis-server (./task test installs it)"]
fn a_persistent_redis_comes_back_from_a_kill_with_its_data() {
    let mut redis = Redis::start_persistent();
    assert_eq!(
        redis.command("CONFIG GET appendfsync"),
        "*2\r\n$11\r\nappendfsync\r\n$6\r\nalways"
    );
    redis.command("XADD s * f v");
    redis.stop();
    assert!(std::net::TcpStream::connect(("127.0.0.1", redis.port())).is_err());
    redis.restart();
    assert_eq!(
        redis.command("XLEN s"),
        ":1",
        "the stream survived the kill"
    );
}

mod store {
    //! The shared store's scripts against a real Redis, from several
    //! connections at once, as several instances use it.

    use std::time::Duration;

    use super::common::redis::Redis;
    use whipcode::api::judge0::queue::Refusal;
    use whipcode::api::judge0::shared::{Entry, Shared, SharedBounds};
    use whipcode::api::judge0::view::View;

    fn view(status: u64, filler: usize) -> View {
        serde_json::from_value(serde_json::json!({
            "status_id": status, "stdout": "x".repeat(filler), "token": "t",
        }))
        .unwrap()
    }

    fn entry(token: &str, filler: usize) -> Entry {
        Entry {
            token: token.into(),
            job: "{}".into(),
            view: view(1, filler),
        }
    }

    async fn connect(redis: &Redis, bounds: SharedBounds) -> Shared {
        Shared::connect(&redis.url(), "test:", bounds)
            .await
            .unwrap()
    }

    const BOUNDS: SharedBounds = SharedBounds {
        capacity: 3,
        records: 100,
        bytes: 1 << 20,
        keep: Duration::from_secs(60),
    };

    #[tokio::test]
    #[ignore = "needs redis-server (./task test installs it)"]
    async fn the_queue_bound_holds_whichever_connection_admits() {
        let redis = Redis::start();
        let (a, b) = (connect(&redis, BOUNDS).await, connect(&redis, BOUNDS).await);
        let ids = a.admit(&[entry("1", 0), entry("2", 0)]).await.unwrap();
        assert_eq!(ids.len(), 2);
        assert_eq!(
            b.admit(&[entry("3", 0), entry("4", 0)]).await,
            Err(Refusal::Full)
        );
        assert_eq!(
            b.depth().await.unwrap(),
            2,
            "none of a refused batch is queued"
        );
        b.admit(&[entry("3", 0)]).await.unwrap();
        assert_eq!(a.admit(&[entry("4", 0)]).await, Err(Refusal::Full));
        // A result written frees its place in the queue, for everyone.
        assert!(b.finish("1", &view(3, 0), Some(&ids[0])).await.unwrap());
        a.admit(&[entry("4", 0)]).await.unwrap();
        assert_eq!(a.depth().await.unwrap(), 3);
        assert_eq!(b.read("4").await.unwrap().map(|v| v.status_id()), Some(1));
    }

    #[tokio::test]
    #[ignore = "needs redis-server (./task test installs it)"]
    async fn the_first_final_result_wins_and_results_expire_after_the_keep_time() {
        let redis = Redis::start();
        let short = SharedBounds {
            keep: Duration::from_millis(300),
            ..BOUNDS
        };
        let (a, b) = (connect(&redis, short).await, connect(&redis, short).await);
        let ids = a.admit(&[entry("t", 0)]).await.unwrap();
        assert!(a.finish("t", &view(3, 1), Some(&ids[0])).await.unwrap());
        assert!(!b.finish("t", &view(11, 2), Some(&ids[0])).await.unwrap());
        let kept = b.read("t").await.unwrap().unwrap();
        assert_eq!(kept.status_id(), 3, "the first result stays");
        assert_eq!(a.depth().await.unwrap(), 0);
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(a.read("t").await.unwrap(), None, "gone after the keep time");
    }

    #[tokio::test]
    #[ignore = "needs redis-server (./task test installs it)"]
    async fn the_byte_bound_forgets_the_oldest_results_but_never_for_what_cannot_fit() {
        let redis = Redis::start();
        let small = SharedBounds {
            capacity: 10,
            bytes: 3000,
            ..BOUNDS
        };
        let (a, b) = (connect(&redis, small).await, connect(&redis, small).await);
        let ids = a.admit(&[entry("old", 1000)]).await.unwrap();
        assert!(a
            .finish("old", &view(3, 1000), Some(&ids[0]))
            .await
            .unwrap());
        // More than the bound even with every result forgotten: refused,
        // and the old result stays.
        assert_eq!(b.admit(&[entry("huge", 3000)]).await, Err(Refusal::Full));
        assert!(b.read("old").await.unwrap().is_some());
        // What fits once the old result goes: it goes.
        b.admit(&[entry("big", 2000)]).await.unwrap();
        assert_eq!(a.read("old").await.unwrap(), None);
        assert!(a.read("big").await.unwrap().is_some());
    }

    /// The accounts, as Redis holds them: bytes, finished bytes.
    fn accounts(redis: &Redis) -> (String, String) {
        (
            redis.command("GET test:bytes"),
            redis.command("GET test:finished-bytes"),
        )
    }

    #[tokio::test]
    #[ignore = "needs redis-server (./task test installs it)"]
    async fn a_late_second_result_after_the_keep_time_changes_nothing_and_the_bounds_still_refuse_cleanly(
    ) {
        let redis = Redis::start();
        let short = SharedBounds {
            capacity: 10,
            bytes: 3000,
            keep: Duration::from_millis(300),
            ..BOUNDS
        };
        let a = connect(&redis, short).await;
        let ids = a.admit(&[entry("t", 500)]).await.unwrap();
        assert!(a.finish("t", &view(3, 500), Some(&ids[0])).await.unwrap());
        let after_first = accounts(&redis);
        tokio::time::sleep(Duration::from_millis(500)).await;
        // The result expired; a late copy (a buffered or taken-over run's)
        // comes in: it is not written again, and nothing is counted twice.
        assert!(!a.finish("t", &view(11, 500), Some(&ids[0])).await.unwrap());
        assert_eq!(a.read("t").await.unwrap(), None, "not brought back");
        assert_eq!(accounts(&redis), after_first);
        // Near the bound: a clean refusal, never a script error, and
        // whatever fits still goes in.
        a.admit(&[entry("p", 1500)]).await.unwrap();
        assert_eq!(a.admit(&[entry("q", 1500)]).await, Err(Refusal::Full));
        a.admit(&[entry("r", 500)]).await.unwrap();
    }

    #[tokio::test]
    #[ignore = "needs redis-server (./task test installs it)"]
    async fn a_wait_true_result_makes_room_by_forgetting_the_oldest_results() {
        let redis = Redis::start();
        let small = SharedBounds {
            capacity: 10,
            bytes: 3000,
            ..BOUNDS
        };
        let a = connect(&redis, small).await;
        let ids = a.admit(&[entry("old", 1000)]).await.unwrap();
        assert!(a
            .finish("old", &view(3, 1000), Some(&ids[0]))
            .await
            .unwrap());
        assert!(a.finish("waited", &view(3, 2000), None).await.unwrap());
        assert_eq!(a.read("old").await.unwrap(), None, "the oldest made room");
        assert!(a.read("waited").await.unwrap().is_some());
        // One that cannot fit even then is not kept, and forgets no one.
        assert!(!a.finish("huge", &view(3, 4000), None).await.unwrap());
        assert!(a.read("waited").await.unwrap().is_some());
    }

    #[tokio::test]
    #[ignore = "needs redis-server (./task test installs it)"]
    async fn an_admission_redis_runs_after_the_instance_gave_up_is_not_made() {
        let redis = Redis::start();
        let a = connect(&redis, BOUNDS).await;
        // Redis holds every write for longer than an instance waits.
        redis.command("CLIENT PAUSE 6000 WRITE");
        let refused = a.admit(&[entry("slow", 0)]).await;
        assert!(
            matches!(refused, Err(Refusal::Unavailable(_))),
            "{refused:?}"
        );
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(redis.command("XLEN test:queue"), ":0", "never queued");
        assert_eq!(a.read("slow").await.unwrap(), None);
        a.admit(&[entry("next", 0)]).await.unwrap();
    }
}

mod take {
    //! Workers of several instances taking from the shared queue.

    use std::time::Duration;

    use super::common::redis::Redis;
    use whipcode::api::judge0::shared::{Entry, Shared, SharedBounds};
    use whipcode::api::judge0::view::View;

    const BOUNDS: SharedBounds = SharedBounds {
        capacity: 10,
        records: 100,
        bytes: 1 << 20,
        keep: Duration::from_secs(60),
    };

    fn entry(token: &str) -> Entry {
        let view: View = serde_json::from_value(serde_json::json!({"status_id": 1})).unwrap();
        Entry {
            token: token.into(),
            job: format!("job of {token}"),
            view,
        }
    }

    #[tokio::test]
    #[ignore = "needs redis-server (./task test installs it)"]
    async fn an_entry_its_taker_goes_quiet_on_is_taken_over_and_a_renewed_one_is_not() {
        let redis = Redis::start();
        let url = redis.url();
        let a = Shared::connect(&url, "test:", BOUNDS).await.unwrap();
        let b = Shared::connect(&url, "test:", BOUNDS).await.unwrap();
        a.admit(&[entry("1"), entry("2")]).await.unwrap();
        let claim = Duration::from_millis(400);
        let one = a.take("instance-a", claim).await.unwrap().unwrap();
        assert_eq!((one.token.as_str(), one.job.as_str()), ("1", "job of 1"));
        let two = a.take("instance-a", claim).await.unwrap().unwrap();
        assert_eq!(two.token, "2");
        assert_eq!(
            b.take("instance-b", claim).await.unwrap(),
            None,
            "each entry goes to one"
        );
        // a renews its hold on 2 and goes quiet on 1 (as if it died running it).
        for _ in 0..4 {
            tokio::time::sleep(Duration::from_millis(150)).await;
            a.renew("instance-a", &two.id).await.unwrap();
        }
        let over = b.take("instance-b", claim).await.unwrap().unwrap();
        assert_eq!(
            (&over.id, &over.token, &over.job),
            (&one.id, &one.token, &one.job),
            "the quiet one is taken over, job and all"
        );
        assert_eq!((one.deliveries, over.deliveries), (1, 2));
        assert_eq!(
            b.take("instance-b", claim).await.unwrap(),
            None,
            "the renewed one is not"
        );
        let done: View = serde_json::from_value(serde_json::json!({"status_id": 3})).unwrap();
        assert!(b.finish("1", &done, Some(&over.id)).await.unwrap());
        assert!(
            !a.finish("1", &done, Some(&one.id)).await.unwrap(),
            "a's late result loses"
        );
        assert!(a.finish("2", &done, Some(&two.id)).await.unwrap());
        assert_eq!(a.depth().await.unwrap(), 0);
    }

    #[tokio::test]
    #[ignore = "needs redis-server (./task test installs it)"]
    async fn the_consumers_of_instances_gone_are_forgotten_but_not_one_holding_an_entry() {
        let redis = Redis::start();
        let a = Shared::connect(&redis.url(), "test:", BOUNDS)
            .await
            .unwrap();
        a.admit(&[entry("1"), entry("2"), entry("3")])
            .await
            .unwrap();
        let claim = Duration::from_secs(60);
        let done: View = serde_json::from_value(serde_json::json!({"status_id": 3})).unwrap();
        let held = a.take("holder", claim).await.unwrap().unwrap();
        for (consumer, token) in [("gone", "2"), ("me", "3")] {
            let taken = a.take(consumer, claim).await.unwrap().unwrap();
            assert_eq!(taken.token, token);
            assert!(a.finish(token, &done, Some(&taken.id)).await.unwrap());
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let removed = a
            .forget_gone_consumers(Duration::from_millis(200), "me")
            .await
            .unwrap();
        assert_eq!(
            removed, 1,
            "only the quiet one that holds nothing, not this one"
        );
        let left = redis.command("XINFO CONSUMERS test:queue workers");
        assert!(left.contains("holder") && left.contains("me"), "{left}");
        assert!(!left.contains("gone"), "{left}");
        assert!(a.finish("1", &done, Some(&held.id)).await.unwrap());
    }

    #[tokio::test]
    #[ignore = "needs redis-server (./task test installs it)"]
    async fn a_quiet_entry_behind_ten_live_ones_is_taken_over() {
        let redis = Redis::start();
        let url = redis.url();
        let bounds = SharedBounds {
            capacity: 20,
            ..BOUNDS
        };
        let a = Shared::connect(&url, "test:", bounds).await.unwrap();
        let entries: Vec<Entry> = (0..12).map(|i| entry(&i.to_string())).collect();
        a.admit(&entries).await.unwrap();
        let claim = Duration::from_millis(400);
        let mut live = Vec::new();
        for _ in 0..11 {
            live.push(a.take("live", claim).await.unwrap().unwrap());
        }
        let quiet = a.take("dead", claim).await.unwrap().unwrap();
        for _ in 0..4 {
            tokio::time::sleep(Duration::from_millis(150)).await;
            for entry in &live {
                a.renew("live", &entry.id).await.unwrap();
            }
        }
        let over = a.take("taker", claim).await.unwrap().unwrap();
        assert_eq!(over.token, quiet.token);
    }

    #[tokio::test]
    #[ignore = "needs redis-server (./task test installs it)"]
    async fn an_entry_let_go_by_a_stopping_instance_is_taken_over_at_once() {
        let redis = Redis::start();
        let a = Shared::connect(&redis.url(), "test:", BOUNDS)
            .await
            .unwrap();
        a.admit(&[entry("1")]).await.unwrap();
        let claim = Duration::from_secs(60);
        let taken = a.take("stopping", claim).await.unwrap().unwrap();
        assert_eq!(a.take("other", claim).await.unwrap(), None);
        a.release("stopping", &taken.id, claim).await.unwrap();
        let over = a.take("other", claim).await.unwrap().unwrap();
        assert_eq!((over.token.as_str(), over.deliveries), ("1", 2));
    }
}
