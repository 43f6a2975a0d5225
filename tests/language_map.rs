//! Languages as data, against the real binary and podman: the listing, a toy
//! language that exists only in a map file, and a language whose image is
//! not installed.

// Each test has its own runtime on its own thread; the podman lock is meant to
// block the thread, serialising podman tests across the whole binary.
#![allow(clippy::await_holding_lock)]

mod common;

use std::path::{Path, PathBuf};

use common::{b64, Service, KEY};
use serde_json::{json, Value};

/// The built-in map plus `extra` entries, written into `dir`.
fn map_with(dir: &Path, extra: &str) -> PathBuf {
    let built_in =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("langmap.toml"))
            .unwrap();
    let path = dir.join("langmap.toml");
    std::fs::write(&path, format!("{built_in}\n{extra}")).unwrap();
    path
}

/// The ids of the built-in map's languages, in order.
fn built_in_ids() -> Vec<u64> {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("langmap.toml"))
        .unwrap();
    let map: toml::Table = text.parse().unwrap();
    let mut ids: Vec<u64> = map["language"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_integer().unwrap() as u64)
        .collect();
    ids.sort_unstable();
    ids
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn get_languages_lists_every_language_with_the_version_from_its_image() {
    let _podman = common::podman_test();
    let svc = Service::start(&[]);
    let url = format!("{}/languages", svc.url);
    let anonymous = reqwest::get(&url).await.unwrap();
    assert_eq!(anonymous.status().as_u16(), 401, "the key is required");

    let response = Service::client()
        .get(&url)
        .header("X-Master-Key", KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.unwrap();
    let languages = body["languages"].as_array().unwrap();
    let ids: Vec<u64> = languages
        .iter()
        .map(|l| l["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, built_in_ids(), "every language of the map, by id");
    // The test suite builds these four; their versions come from image labels.
    for (id, expected) in [
        (1, "Python 3"),
        (2, "Node.js v"),
        (3, "GNU bash"),
        (7, "gcc"),
    ] {
        let lang = &languages[id - 1];
        assert_eq!(lang["installed"], true, "{lang}");
        let version = lang["version"].as_str().unwrap_or_default();
        assert!(version.contains(expected), "{lang}");
    }
    for id in [26, 27] {
        let notice = languages[id - 1]["notice"].as_str().unwrap_or_default();
        assert!(notice.contains("end of life"), "{}", languages[id - 1]);
    }
    assert!(languages[0].get("notice").is_none());
    for lang in languages {
        if lang["installed"] == false {
            assert!(lang["version"].is_null(), "{lang}");
        }
    }
    svc.stop_and_check_clean();
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn a_toy_language_added_only_in_the_map_file_runs() {
    let _podman = common::podman_test();
    let dir = tempfile::tempdir().unwrap();
    // `tac` on the bash image: a "language" whose programs are printed backwards.
    let map = map_with(
        dir.path(),
        "[[language]]\nid = 100\nname = \"Toy\"\nimage = \"bash\"\nsource = \"program.toy\"\n\
         run = [\"tac\", \"{args}\", \"{source}\"]\nenv = { TOY = \"1\" }\n\
         selftest = { hello = \"Success!\" }\n",
    );
    let svc = Service::start(&["-m", map.to_str().unwrap()]);
    let body = svc.run_ok(100, "first\nsecond\n", json!({})).await;
    assert_eq!(body["stdout"], "second\nfirst\n", "{body}");
    assert_eq!(body["exit_code"], 0);
    let body = svc.run_ok(100, "a,b,c", json!({"args": "-s ,"})).await;
    assert_eq!(body["stdout"], "cb,a,", "{body}");
    let (status, refused) = svc
        .run(json!({"language_id": 100, "code": b64("x"), "env": {"TOY": "2"}}))
        .await;
    assert_eq!(status, 400, "the language's env is reserved: {refused}");
    svc.stop_and_check_clean();
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn a_language_whose_image_is_not_installed_is_503_naming_it() {
    let _podman = common::podman_test();
    let dir = tempfile::tempdir().unwrap();
    let map = map_with(
        dir.path(),
        "[[image]]\nname = \"never-built\"\nfrom = \"base\"\npackages = [\"hello\"]\n\n\
         [[language]]\nid = 101\nname = \"Unbuilt\"\nimage = \"never-built\"\nsource = \"x\"\n\
         run = [\"hello\"]\nselftest = { hello = \"x\" }\n",
    );
    let svc = Service::start(&["-m", map.to_str().unwrap()]);
    let (status, body) = svc.run(json!({"language_id": 101, "code": b64("x")})).await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("Unbuilt"),
        "{body}"
    );
    svc.stop_and_check_clean();
}
