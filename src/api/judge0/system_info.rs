//! `GET /system_info`: Judge0 answers with `lscpu` and `free -h` as one
//! JSON object of strings. This server reads the same from `/proc`
//! (starting no program for it), under the same keys.

use std::collections::BTreeMap;

use axum::extract::{Request, State};
use axum::Json;

use super::error::Judge0Error;
use crate::api::intake::keyed;
use crate::api::state::AppState;

/// The machine this server runs on.
#[utoipa::path(get, path = "/system_info", tag = "judge0",
    responses((status = 200, description = "lscpu's and free's figures, by their names", body = BTreeMap<String, String>)), security(("master_key" = []), ("auth_token" = [])))]
pub async fn system_info(
    State(state): State<AppState>,
    request: Request,
) -> Result<Json<BTreeMap<String, String>>, Judge0Error> {
    keyed(&state, &request.into_parts().0).await?;
    let read = |path| async move { tokio::fs::read_to_string(path).await.unwrap_or_default() };
    let mut info = cpu(&read("/proc/cpuinfo").await);
    info.extend(memory(&read("/proc/meminfo").await));
    Ok(Json(info))
}

/// lscpu's keys, from `/proc/cpuinfo`.
fn cpu(cpuinfo: &str) -> BTreeMap<String, String> {
    let field = |name: &str| {
        cpuinfo.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            (key.trim() == name).then(|| value.trim().to_owned())
        })
    };
    let count = cpuinfo
        .lines()
        .filter(|l| l.split(':').next().is_some_and(|k| k.trim() == "processor"))
        .count();
    let mut info = BTreeMap::from([
        ("Architecture".to_owned(), std::env::consts::ARCH.to_owned()),
        ("CPU(s)".to_owned(), count.to_string()),
    ]);
    for (ours, theirs) in [
        ("Vendor ID", "vendor_id"),
        ("Model name", "model name"),
        ("CPU MHz", "cpu MHz"),
    ] {
        if let Some(value) = field(theirs) {
            info.insert(ours.to_owned(), value);
        }
    }
    info
}

/// free -h's `Mem` and `Swap` totals, from `/proc/meminfo`.
fn memory(meminfo: &str) -> BTreeMap<String, String> {
    let kib = |name: &str| {
        meminfo.lines().find_map(|line| {
            let rest = line.strip_prefix(name)?.strip_prefix(':')?;
            rest.split_whitespace().next()?.parse::<u64>().ok()
        })
    };
    [("Mem", "MemTotal"), ("Swap", "SwapTotal")]
        .into_iter()
        .filter_map(|(ours, theirs)| Some((ours.to_owned(), human(kib(theirs)?))))
        .collect()
}

/// KiB as `free -h` prints them: `23Gi`, `512Mi`, `0B`.
fn human(kib: u64) -> String {
    if kib == 0 {
        return "0B".to_owned();
    }
    let mut value = kib as f64;
    for unit in ["Ki", "Mi", "Gi", "Ti"] {
        if value < 1024.0 || unit == "Ti" {
            return if value < 10.0 && value.fract() != 0.0 {
                format!("{value:.1}{unit}")
            } else {
                format!("{value:.0}{unit}")
            };
        }
        value /= 1024.0;
    }
    unreachable!("the last unit returns")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lscpu_and_free_keys_are_read_from_proc() {
        let cpuinfo =
            "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Some CPU @ 2.20GHz\n\
                       cpu MHz\t\t: 2200.000\n\nprocessor\t: 1\nvendor_id\t: GenuineIntel\n";
        let info = cpu(cpuinfo);
        assert_eq!(info["CPU(s)"], "2");
        assert_eq!(info["Vendor ID"], "GenuineIntel");
        assert_eq!(info["Model name"], "Some CPU @ 2.20GHz");
        assert_eq!(info["Architecture"], std::env::consts::ARCH);
        let memory =
            memory("MemTotal:       24576000 kB\nMemFree: 1 kB\nSwapTotal:             0 kB\n");
        assert_eq!(memory["Mem"], "23Gi");
        assert_eq!(memory["Swap"], "0B");
        assert_eq!(human(1536), "1.5Mi");
        assert_eq!(human(512), "512Ki");
    }
}
