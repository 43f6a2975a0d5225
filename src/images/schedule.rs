//! Running builds in dependency order, a few at once, with progress output.

use std::collections::{BTreeMap, HashMap};
use std::io::{IsTerminal, Write};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use super::build::build_one;
use super::outcome::{BuildOptions, Outcome};
use super::store::image_id;
use crate::languages::LanguageMap;
use crate::naming::image_ref;
use crate::sandbox::podman::Podman;

/// Runs builds in dependency order, at most `jobs` at once, printing progress.
pub(super) fn schedule(
    podman: &Podman,
    map: &LanguageMap,
    order: &[String],
    options: &BuildOptions,
) -> BTreeMap<String, Outcome> {
    let total = order.len();
    let mut outcomes: BTreeMap<String, Outcome> = BTreeMap::new();
    let mut ids: HashMap<String, String> = HashMap::new();
    let mut running: BTreeMap<String, Instant> = BTreeMap::new();
    let (tx, rx) = mpsc::channel::<(String, Outcome, Option<String>)>();
    let tty = std::io::stdout().is_terminal();
    let progress = Progress { total, tty };

    while outcomes.len() < total {
        // Start whatever is ready, up to the job limit.
        for name in order {
            if running.len() >= options.jobs.max(1) {
                break;
            }
            if outcomes.contains_key(name) || running.contains_key(name) {
                continue;
            }
            let recipe = Arc::clone(map.recipe(name).expect("validated"));
            let deps = recipe.depends_on();
            if let Some(bad) = deps.iter().find(|d| {
                matches!(
                    outcomes.get(*d),
                    Some(Outcome::Failed { .. } | Outcome::Blocked { .. })
                )
            }) {
                let outcome = Outcome::Blocked { on: bad.clone() };
                progress.line(outcomes.len() + 1, name, &outcome);
                outcomes.insert(name.clone(), outcome);
                continue;
            }
            if !deps.iter().all(|d| ids.contains_key(d)) {
                continue;
            }
            let dep_ids: Vec<(String, String)> =
                deps.iter().map(|d| (d.clone(), ids[d].clone())).collect();
            let (podman, tx, name_owned) = (podman.clone(), tx.clone(), name.clone());
            let dirs = (options.log_dir.clone(), options.download_dir.clone());
            running.insert(name.clone(), Instant::now());
            std::thread::spawn(move || {
                let outcome = build_one(&podman, &name_owned, &recipe, &dep_ids, &dirs.0, &dirs.1);
                let id = match outcome {
                    Outcome::UpToDate | Outcome::Built { .. } => {
                        image_id(&podman, &image_ref(&name_owned))
                    }
                    _ => None,
                };
                let _ = tx.send((name_owned, outcome, id));
            });
        }
        if running.is_empty() {
            continue;
        }
        progress.status(outcomes.len(), &running);
        let Ok((name, mut outcome, id)) = rx.recv_timeout(Duration::from_secs(1)) else {
            continue;
        };
        running.remove(&name);
        match id {
            Some(id) => {
                ids.insert(name.clone(), id);
            }
            None if !matches!(outcome, Outcome::Failed { .. }) => {
                outcome = Outcome::Failed {
                    log: options.log_dir.join(format!("{name}.log")),
                };
            }
            None => {}
        }
        progress.line(outcomes.len() + 1, &name, &outcome);
        outcomes.insert(name, outcome);
    }
    progress.clear();
    outcomes
}

/// Progress output: a line per finished image, and on a terminal a status
/// line below naming what is building.
struct Progress {
    total: usize,
    tty: bool,
}

impl Progress {
    fn line(&self, done: usize, name: &str, outcome: &Outcome) {
        let what = match outcome {
            Outcome::UpToDate => "up to date".to_owned(),
            Outcome::Built { seconds } => format!("built in {seconds} s"),
            Outcome::Failed { log } => format!("FAILED (log: {})", log.display()),
            Outcome::Blocked { on } => format!("FAILED: {on} failed"),
        };
        self.clear();
        println!("[{done:>2}/{}] {name:<14} {what}", self.total);
    }

    fn status(&self, done: usize, running: &BTreeMap<String, Instant>) {
        if !self.tty {
            return;
        }
        let width = 24;
        let filled = done * width / self.total.max(1);
        let names: Vec<String> = running
            .iter()
            .map(|(n, t)| format!("{n} {}s", t.elapsed().as_secs()))
            .collect();
        print!(
            "\r\x1b[2K[{}{}] {done}/{}  building: {}",
            "#".repeat(filled),
            "-".repeat(width - filled),
            self.total,
            names.join(", ")
        );
        let _ = std::io::stdout().flush();
    }

    fn clear(&self) {
        if self.tty {
            print!("\r\x1b[2K");
        }
    }
}
