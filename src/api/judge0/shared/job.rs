//! What a submission is in the shared queue: the body as its client sent
//! it, with what the request said around it (the flavour of its base path,
//! `base64_encoded`), its callback URL as checked when it was accepted, and
//! the language name and creation time its view shows. The instance that
//! runs it prepares it again, through the same checks that accepted it.
//!
//! Not the prepared job: that holds this instance's entry of its language
//! map and the unpacked `additional_files` (up to 16 MiB, where the body
//! held at most `--max-bytes`), and preparing is deterministic for
//! instances of one configuration. An instance configured otherwise (a
//! language it lacks) finishes the submission as Judge0's Internal Error,
//! saying why. The callback URL is checked again against the sending
//! instance's `--callback-allow` when it is sent, as every callback is.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::api::judge0::config::Config;
use crate::api::judge0::files::REQUEST_BUDGET;
use crate::api::judge0::flavor::Flavor;
use crate::api::judge0::request::{prepare, Submission};
use crate::api::state::AppState;

/// A submission as the shared queue carries it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// `ce` or `extra-ce`: whose language ids the body's are.
    pub flavor: String,
    pub base64_encoded: bool,
    /// One submission's body, as received.
    pub body: Value,
    pub callback_url: Option<String>,
    pub language_name: String,
    pub created_at: String,
}

impl Job {
    /// `body`, received under `flavor`'s base path with `base64_encoded`,
    /// accepted as `submission` (its callback URL checked), shown as of
    /// `language_name`, created at `created_at`.
    pub fn new(
        (flavor, base64_encoded): (Flavor, bool),
        body: Value,
        submission: &Submission,
        language_name: &str,
        created_at: &str,
    ) -> Job {
        Job {
            flavor: match flavor {
                Flavor::Ce => "ce",
                Flavor::ExtraCe => "extra-ce",
            }
            .to_owned(),
            base64_encoded,
            body,
            callback_url: submission.callback_url.as_ref().map(|u| u.to_string()),
            language_name: language_name.to_owned(),
            created_at: created_at.to_owned(),
        }
    }

    /// Whether it brings `additional_files` (an archive to unpack).
    pub fn has_archive(&self) -> bool {
        self.body
            .get("additional_files")
            .is_some_and(|files| !files.is_null())
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn from_json(text: &str) -> Result<Job, String> {
        serde_json::from_str(text).map_err(|e| format!("a queued submission cannot be read: {e}"))
    }

    /// The submission again, as this instance prepares it; why not, as the
    /// message of an Internal Error.
    pub fn prepare(&self, state: &AppState, config: &Config) -> Result<Submission, String> {
        let flavor = match self.flavor.as_str() {
            "extra-ce" => Flavor::ExtraCe,
            _ => Flavor::Ce,
        };
        let mut budget = REQUEST_BUDGET;
        let mut body = self.body.clone();
        // Checked when it was accepted; sent only where this instance allows.
        if let Value::Object(fields) = &mut body {
            fields.remove("callback_url");
        }
        let mut submission = prepare(
            state,
            flavor,
            config,
            &body,
            self.base64_encoded,
            &mut budget,
        )
        .map_err(|e| format!("this instance cannot run this submission: {e:?}"))?;
        submission.callback_url = self.callback_url.as_deref().and_then(|u| u.parse().ok());
        Ok(submission)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::judge0::fields::Fields;
    use crate::api::judge0::response::{Shown, Verdict};
    use crate::api::judge0::verdict::Status;

    fn shown(submission: &Submission) -> Value {
        let verdict = Verdict::pending(Status::InQueue);
        Shown {
            token: "t",
            submission,
            verdict: &verdict,
            language_name: "",
            created_at: "",
            finished_at: None,
        }
        .render(&Fields::parse(Some("*")).unwrap(), true)
        .unwrap()
    }

    #[test]
    fn a_queued_job_prepares_again_into_the_submission_that_was_accepted() {
        let state = AppState::for_tests();
        let config = Config::of(&state, None);
        let body = serde_json::json!({
            "language_id": 71, "source_code": "cHJpbnQoaW5wdXQoKSk=", "stdin": "aGk=",
            "cpu_time_limit": 2, "number_of_runs": 3, "command_line_arguments": "a b",
        });
        let mut budget = REQUEST_BUDGET;
        let mut accepted = prepare(&state, Flavor::Ce, &config, &body, true, &mut budget).unwrap();
        accepted.callback_url = Some("http://10.0.0.9:8080/hook".parse().unwrap());
        let job = Job::new((Flavor::Ce, true), body, &accepted, "Python", "2026-12-07");
        let again = Job::from_json(&job.to_json())
            .unwrap()
            .prepare(&state, &config)
            .unwrap();
        assert_eq!(shown(&again), shown(&accepted));
        assert_eq!(again.job.files, accepted.job.files);
        assert_eq!(again.job.stdin, accepted.job.stdin);
        assert_eq!(again.job.runs, 3);
        assert_eq!(again.callback_url, accepted.callback_url);
        assert_eq!(
            (job.language_name.as_str(), job.created_at.as_str()),
            ("Python", "2026-12-07")
        );
    }

    #[test]
    fn a_job_this_instance_cannot_prepare_says_why() {
        let state = AppState::for_tests();
        let config = Config::of(&state, None);
        let job = Job {
            flavor: "ce".into(),
            base64_encoded: false,
            body: serde_json::json!({"language_id": 99999, "source_code": "x"}),
            callback_url: None,
            language_name: String::new(),
            created_at: String::new(),
        };
        let why = job.prepare(&state, &config).unwrap_err();
        assert!(why.contains("cannot run"), "{why}");
        assert!(Job::from_json("{").is_err());
    }
}
