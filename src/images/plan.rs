//! What an image's build is: the Containerfile a recipe becomes, and the
//! hash over the recipe and its parents' ids that tells whether an image is
//! up to date.

use sha2::{Digest, Sha256};

use crate::languages::Recipe;
use crate::naming::image_ref;

/// Debian's mirror, for debootstrap roots.
pub(super) const MIRROR: &str = "http://deb.debian.org/debian";
/// The host's copy of Debian's archive keys: debootstrap checks the
/// mirror's signatures against it, and refuses an unsigned release.
pub(super) const KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";

/// Lines of apt cleanup every package install ends with (the `*.bin` caches
/// alone are ~76 MB per image).
const APT_CLEAN: &str =
    "rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb /var/cache/apt/*.bin";

/// The Containerfile of a `from` + `packages` or `containerfile` recipe,
/// image placeholders expanded. `None` for debootstrap roots.
pub fn containerfile(recipe: &Recipe) -> Option<String> {
    if let Some(text) = &recipe.containerfile {
        let mut out = text.clone();
        for dep in recipe.depends_on() {
            out = out.replace(&format!("{{image:{dep}}}"), &image_ref(&dep));
        }
        return Some(out);
    }
    let from = recipe.from.as_ref()?;
    let mut text = format!("FROM {}\n", image_ref(from));
    if !recipe.packages.is_empty() {
        text.push_str(&format!(
            "RUN apt-get update \\\n && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends {} \\\n && {APT_CLEAN}\n",
            recipe.packages.join(" ")
        ));
    }
    Some(text)
}

/// The hash an image is labelled with: its recipe, and what it builds on.
pub fn recipe_hash(recipe: &Recipe, dep_ids: &[(String, String)]) -> String {
    let mut hasher = Sha256::new();
    let mut part = |s: &str| {
        hasher.update((s.len() as u64).to_le_bytes());
        hasher.update(s.as_bytes());
    };
    match &recipe.debootstrap {
        Some(suite) => {
            part("debootstrap --variant=minbase");
            part(suite);
            part(MIRROR);
        }
        None => part(&containerfile(recipe).unwrap_or_default()),
    }
    for fetch in &recipe.fetch {
        part(&fetch.file);
        part(&fetch.url);
        part(&fetch.sha256);
    }
    part(recipe.version.as_deref().unwrap_or(""));
    for (name, id) in dep_ids {
        part(name);
        part(id);
    }
    hex::encode(hasher.finalize())
}
#[cfg(test)]
mod tests {
    use super::*;

    fn recipe(text: &str) -> Recipe {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn a_packages_recipe_installs_them_on_its_parent_and_cleans_apt() {
        let r = recipe("from = \"base\"\npackages = [\"gcc\", \"libc6-dev\"]\n");
        let c = containerfile(&r).unwrap();
        assert!(c.starts_with("FROM localhost/whipcode-base:latest\n"));
        assert!(c.contains("--no-install-recommends gcc libc6-dev"));
        assert!(c.contains("/var/cache/apt/*.bin"));
        let bare = containerfile(&recipe("from = \"base\"\n")).unwrap();
        assert_eq!(bare.lines().count(), 1, "no packages, no RUN");
    }

    #[test]
    fn containerfile_placeholders_name_dependencies() {
        let r = recipe(
            "containerfile = \"FROM {image:base} AS fetch\\nRUN x\\nFROM {image:javascript}\\nCOPY --from=fetch /a /a\\n\"\n",
        );
        assert_eq!(r.depends_on(), vec!["base", "javascript"]);
        let c = containerfile(&r).unwrap();
        assert!(c.contains("FROM localhost/whipcode-base:latest AS fetch"));
        assert!(c.contains("FROM localhost/whipcode-javascript:latest\n"));
    }

    #[test]
    fn the_hash_covers_the_recipe_the_version_command_and_the_parents_ids() {
        let r = recipe("from = \"base\"\npackages = [\"perl\"]\n");
        let ids = |id: &str| vec![("base".to_owned(), id.to_owned())];
        let h = recipe_hash(&r, &ids("1"));
        assert_ne!(h, recipe_hash(&r, &ids("2")), "parent rebuilt");
        let other = recipe("from = \"base\"\npackages = [\"perl\", \"x\"]\n");
        assert_ne!(h, recipe_hash(&other, &ids("1")), "packages changed");
        let versioned = recipe("from = \"base\"\npackages = [\"perl\"]\nversion = \"perl -v\"\n");
        assert_ne!(h, recipe_hash(&versioned, &ids("1")), "version command");
        assert_eq!(h, recipe_hash(&r, &ids("1")), "stable");
    }
}
