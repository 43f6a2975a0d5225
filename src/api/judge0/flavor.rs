//! Judge0's two flavours. Judge0 CE and Judge0 Extra CE are the same API
//! with other lists of languages under other ids; the official SDK tells
//! them apart by `GET /about`'s version (`1.13.1`, `1.13.1-extra`) and
//! picks the flavour whose ids have the language it is asked for. Each base
//! path serves one (`--judge0-path`, `--judge0-extra-path`) over the same
//! queue and store.

use axum::extract::Request;

use crate::languages::{Judge0Ids, Language};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Ce,
    ExtraCe,
}

impl Flavor {
    /// The Judge0 release this flavour's API is, as `/about` and
    /// `/version` give it: the SDK looks its alias table up by it.
    pub fn version(self) -> &'static str {
        match self {
            Flavor::Ce => "1.13.1",
            Flavor::ExtraCe => "1.13.1-extra",
        }
    }

    /// `language`'s ids in this flavour; `None`: not offered here.
    pub fn ids(self, language: &Language) -> Option<&Judge0Ids> {
        match self {
            Flavor::Ce => language.judge0.as_ref(),
            Flavor::ExtraCe => language.judge0_extra.as_ref(),
        }
    }

    /// Whether `id` means `language` in this flavour.
    pub fn means(self, language: &Language, id: u32) -> bool {
        self.ids(language).is_some_and(|ids| ids.ids.contains(&id))
    }

    /// The flavour of the base path `request` came under (set on each
    /// path's routes; Judge0 CE when none is, as in a test of one handler).
    pub fn of(request: &Request) -> Flavor {
        request
            .extensions()
            .get::<Flavor>()
            .copied()
            .unwrap_or(Flavor::Ce)
    }
}
