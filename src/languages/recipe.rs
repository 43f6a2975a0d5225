//! An image's recipe: a debootstrap root, or packages or a Containerfile on
//! top of another image, with the files the host fetches for it.

use serde::Deserialize;

use super::error::{ImageNameError, RecipeError};

/// A file the host downloads into a Containerfile's build context, checked
/// against its SHA-256 (build containers may not reach the network the way
/// the host does, and a pinned checksum keeps the download honest).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fetch {
    pub url: String,
    pub sha256: String,
    /// Name in the build context, for `COPY`.
    pub file: String,
}

/// How an image is made. Exactly one of three forms:
/// - `debootstrap = "SUITE"`: a minimal Debian root from the mirror;
/// - `from = "IMAGE"` plus `packages`: Debian packages on another image;
/// - `containerfile`: a whole Containerfile, naming the images it builds on
///   as `{image:NAME}`.
///
/// A Containerfile may `COPY` files listed in `fetch`. `version` is a shell
/// command run in the finished image; its first line is recorded in the
/// image's labels as the toolchain version.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    #[serde(default)]
    pub debootstrap: Option<String>,
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub packages: Vec<String>,
    #[serde(default)]
    pub containerfile: Option<String>,
    #[serde(default)]
    pub fetch: Vec<Fetch>,
    #[serde(default)]
    pub version: Option<String>,
}

/// The `{image:NAME}` placeholder of Containerfiles.
const IMAGE_PLACEHOLDER: &str = "{image:";

impl Recipe {
    /// Names of the images this one is built on.
    pub fn depends_on(&self) -> Vec<String> {
        let mut deps: Vec<String> = self.from.iter().cloned().collect();
        if let Some(text) = &self.containerfile {
            let mut rest = text.as_str();
            while let Some(at) = rest.find(IMAGE_PLACEHOLDER) {
                rest = &rest[at + IMAGE_PLACEHOLDER.len()..];
                if let Some(end) = rest.find('}') {
                    deps.push(rest[..end].to_owned());
                    rest = &rest[end..];
                }
            }
        }
        deps.sort();
        deps.dedup();
        deps
    }

    pub(super) fn validate(&self) -> Result<(), RecipeError> {
        let forms = [
            self.debootstrap.is_some(),
            self.from.is_some(),
            self.containerfile.is_some(),
        ];
        if forms.iter().filter(|f| **f).count() != 1 {
            return Err(RecipeError::Forms);
        }
        if !self.packages.is_empty() && self.from.is_none() {
            return Err(RecipeError::PackagesWithoutFrom);
        }
        if !self.fetch.is_empty() && self.containerfile.is_none() {
            return Err(RecipeError::FetchWithoutContainerfile);
        }
        for fetch in &self.fetch {
            let hex =
                fetch.sha256.len() == 64 && fetch.sha256.bytes().all(|b| b.is_ascii_hexdigit());
            let plain = !fetch.file.is_empty()
                && !fetch.file.starts_with('.')
                && fetch
                    .file
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
            if !fetch.url.starts_with("https://") || !hex || !plain {
                return Err(RecipeError::Fetch(fetch.file.clone()));
            }
        }
        for package in &self.packages {
            if !package
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.:=~/".contains(c))
            {
                return Err(RecipeError::Package(package.clone()));
            }
        }
        if let Some(suite) = &self.debootstrap {
            if !suite.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                return Err(RecipeError::Suite(suite.clone()));
            }
        }
        for dep in self.depends_on() {
            check_image_name(&dep)?;
        }
        Ok(())
    }
}

pub(super) fn check_image_name(name: &str) -> Result<(), ImageNameError> {
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(ImageNameError(name.to_owned()))
    }
}
