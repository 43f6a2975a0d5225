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
