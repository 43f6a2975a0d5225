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
}
