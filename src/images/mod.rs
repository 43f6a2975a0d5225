//! `--build-images`: every image the language map names, built from its
//! recipe with no container registry: roots by debootstrap from Debian's
//! mirror, the rest with `podman build` on top of them.
//!
//! Each image is labelled with a hash of its recipe and of the ids of the
//! images it builds on, so an unchanged image is skipped and a rebuilt parent
//! rebuilds its children. After a build, the recipe's `version` command runs
//! in the image and its first line becomes the `whipcode.version` label.
//! Independent images build in parallel; a failure stops only the images
//! that build on it. Superseded project images are removed afterwards.

//!
//! - [`outcome`]: what a build is asked and what became of each image.
//! - [`schedule`]: builds in dependency order, a few at once, with progress.
//! - [`plan`]: a recipe's Containerfile and hash.
//! - [`build`]: building one image.
//! - [`fetch`]: files recipes fetch, checked by SHA-256 (again on every use).
//! - [`logs`]: build logs in a private directory, never written through a link.
//! - [`store`]: what podman holds: labels, ids, pruning, disk use.

pub mod build;
pub mod fetch;
pub mod logs;
pub mod outcome;
pub mod plan;
pub mod schedule;
pub mod store;

use std::sync::Arc;
use std::time::Instant;

use crate::languages::{Language, LanguageMap};
use crate::sandbox::podman::Podman;
pub use outcome::{BuildError, BuildOptions, ImageError, Outcome};
use schedule::schedule;
use store::{prune, report_disk};

/// Builds the images of `languages` (and what they build on), `jobs` at a time.
pub fn build_all(
    podman: &Podman,
    map: &LanguageMap,
    languages: &[Arc<Language>],
    options: &BuildOptions,
) -> Result<(), ImageError> {
    logs::prepare_dir(&options.log_dir).map_err(ImageError::LogDir)?;
    let mut wanted: Vec<String> = languages.iter().map(|l| l.image.clone()).collect();
    wanted.sort_unstable();
    wanted.dedup();
    let order = map.build_order(&wanted).map_err(ImageError::Plan)?;
    let started = Instant::now();
    let outcomes = schedule(podman, map, &order, options);
    let failed: Vec<String> = order
        .iter()
        .filter(|name| {
            matches!(
                outcomes.get(*name),
                Some(Outcome::Failed { .. } | Outcome::Blocked { .. })
            )
        })
        .cloned()
        .collect();
    println!(
        "{} image(s) in {:.0} s: {} built, {} up to date, {} failed",
        order.len(),
        started.elapsed().as_secs_f64(),
        outcomes
            .values()
            .filter(|o| matches!(o, Outcome::Built { .. }))
            .count(),
        outcomes
            .values()
            .filter(|o| **o == Outcome::UpToDate)
            .count(),
        failed.len()
    );
    prune(podman, map, options.prune_unlisted);
    report_disk(podman);
    if failed.is_empty() {
        Ok(())
    } else {
        Err(ImageError::Failed(failed))
    }
}
