//! Programs as their users write them, on real podman: Python with its
//! scientific stack (NumPy, pandas, SciPy) as a language of its own,
//! through whipcode's API and Piston's, listed by both.
// The podman lock is a std mutex held for the whole test on purpose: one podman test at a time.
#![allow(clippy::await_holding_lock)]

mod common;

use common::{Service, KEY};
use serde_json::{json, Value};

const PYTHON_SCI: u32 = 29;

#[tokio::test(flavor = "multi_thread")]
async fn python_with_numpy_pandas_and_scipy_runs_through_both_apis() {
    let Some(_podman) = common::podman_test() else {
        return;
    };
    let svc = Service::start(&[]);
    let program = "import numpy as np\nimport pandas as pd\nfrom scipy import stats\n\
                   frame = pd.DataFrame({'x': np.arange(10), 'y': np.arange(10) * 2.0})\n\
                   slope = stats.linregress(frame.x, frame.y).slope\n\
                   print(frame.y.sum(), round(slope, 6))\n";
    let body = svc.run_ok(PYTHON_SCI, program, json!({})).await;
    assert_eq!(body["stdout"], "90.0 2.0\n", "{body}");

    // Piston's API, by an alias, and its runtimes list.
    let url = format!("{}/api/v2/execute", svc.url);
    let request = json!({"language": "numpy", "version": "3.x", "files": [{"content": program}]});
    let (status, answer) = common::post_json(&url, Some(KEY), &request).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["language"], "python-scientific");
    assert_eq!(answer["run"]["stdout"], "90.0 2.0\n", "{answer}");
    let runtimes: Value = common::get_json(&format!("{}/api/v2/runtimes", svc.url), KEY).await;
    let listed = runtimes
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["language"] == "python-scientific")
        .unwrap_or_else(|| panic!("not listed: {runtimes}"));
    assert_eq!(listed["aliases"], json!(["numpy", "pandas", "scipy"]));

    // whipcode's own listing names the libraries' versions.
    let languages: Value = common::get_json(&format!("{}/languages", svc.url), KEY).await;
    let entry = languages["languages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["id"] == PYTHON_SCI)
        .unwrap_or_else(|| panic!("not listed: {languages}"));
    let version = entry["version"].as_str().unwrap_or_default();
    assert!(
        version.contains("NumPy") && version.contains("pandas") && version.contains("SciPy"),
        "{entry}"
    );
    svc.stop_and_check_clean();
}
