//! A submission as a shared store keeps it: every attribute, as Judge0
//! shows them with `fields=*` and `base64_encoded=true`. Any instance can
//! then answer any `fields` in either encoding from this alone, without
//! the submission (its job, its files) or the instance that ran it; the
//! texts are base64, so bytes that are not UTF-8 survive JSON.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::error::Judge0Error;
use super::fields::{Fields, ALL};
use super::response::{text, Shown, TEXT};
use super::verdict::Status;

/// Every attribute of one submission, texts in base64.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct View(Map<String, Value>);

impl View {
    /// What `shown` shows of every attribute.
    pub fn of(shown: &Shown) -> View {
        // In base64 no text can be refused: the render cannot fail.
        match shown.render(&Fields(ALL.to_vec()), true) {
            Ok(Value::Object(all)) => View(all),
            _ => View(Map::new()),
        }
    }

    /// The `fields` asked for, as [`Shown::render`] writes them: a text
    /// decoded again without `base64_encoded` (a 400 when it is not UTF-8).
    pub fn render(&self, fields: &Fields, base64_encoded: bool) -> Result<Value, Judge0Error> {
        let mut out = Map::new();
        for &field in &fields.0 {
            let kept = self.0.get(field).cloned().unwrap_or(Value::Null);
            let value = match kept {
                Value::String(b64) if !base64_encoded && TEXT.contains(&field) => {
                    text(Some(&decode64(&b64)), false)?
                }
                other => other,
            };
            out.insert(field.to_owned(), value);
        }
        Ok(Value::Object(out))
    }

    /// Its status id (Judge0's 1–14).
    pub fn status_id(&self) -> u64 {
        self.0.get("status_id").and_then(Value::as_u64).unwrap_or(0)
    }

    /// Whether it holds a verdict (a status past In Queue and Processing).
    pub fn is_final(&self) -> bool {
        self.status_id() > u64::from(Status::Processing.id())
    }

    /// The same submission shown as `status` (Processing, once a worker
    /// takes it).
    pub fn with_status(mut self, status: Status) -> View {
        self.0.insert("status_id".into(), status.id().into());
        let shown = serde_json::to_value(status.shown()).unwrap_or(Value::Null);
        self.0.insert("status".into(), shown);
        self
    }
}

impl View {
    /// The body of its callback: Judge0's default fields, texts in base64,
    /// as Judge0 sends it.
    pub fn callback_body(&self) -> Vec<u8> {
        let fields = Fields(super::fields::DEFAULT.to_vec());
        self.render(&fields, true)
            .map(|v| v.to_string().into_bytes())
            .unwrap_or_default()
    }

    /// A submission known by its token alone (its view lost: a Redis that
    /// kept nothing), to be finished as [`View::refused`].
    pub fn of_token(token: &str) -> View {
        let mut view = Map::new();
        view.insert("token".into(), token.into());
        View(view)
    }

    /// The same submission finished at `finished_at` as Judge0's Internal
    /// Error, saying `why` (one that could not be run).
    pub fn refused(self, why: &str, finished_at: &str) -> View {
        let mut view = self.with_status(Status::InternalError);
        let message = base64::engine::general_purpose::STANDARD.encode(why);
        view.0.insert("message".into(), message.into());
        view.0.insert("finished_at".into(), finished_at.into());
        view
    }
}

/// Ruby's `encode64` read back (its newlines dropped); what cannot be
/// read, nothing (a view is only ever written by [`View::of`]).
fn decode64(text: &str) -> Vec<u8> {
    let plain: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(plain)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::super::response::Verdict;
    use super::*;

    fn submission(body: Value) -> super::super::request::Submission {
        let state = crate::api::state::AppState::for_tests();
        let config = super::super::config::Config::of(&state, None);
        super::super::request::prepare(
            &state,
            super::super::flavor::Flavor::Ce,
            &config,
            &body,
            false,
            &mut { super::super::files::REQUEST_BUDGET },
        )
        .unwrap()
    }

    #[test]
    fn a_view_answers_every_fields_and_encoding_as_the_submission_does() {
        let body = serde_json::json!({
            "language_id": 71, "source_code": "print('é')", "stdin": "in\n",
            "expected_output": "é\n", "cpu_time_limit": 2.5, "number_of_runs": 2,
        });
        let submission = submission(body);
        let mut verdict = Verdict::pending(Status::WrongAnswer);
        verdict.stdout = Some("x".repeat(100).into_bytes());
        verdict.stderr = Some(b"\xff\xfe not UTF-8".to_vec());
        verdict.time = Some(0.0123);
        verdict.memory = Some(2048);
        verdict.exit_code = Some(0);
        let shown = Shown {
            token: "t-1",
            submission: &submission,
            verdict: &verdict,
            language_name: "Python (3.11)",
            created_at: "2026-12-07T21:00:00.000Z",
            finished_at: Some("2026-12-07T21:00:01.000Z"),
        };
        // Through JSON, as a store keeps it.
        let kept: View =
            serde_json::from_str(&serde_json::to_string(&View::of(&shown)).unwrap()).unwrap();
        let asked = [
            "*",
            "",
            "stdout,status,token",
            "source_code,expected_output,time",
        ];
        for fields in asked {
            let fields = Fields::parse(Some(fields)).unwrap();
            for base64 in [true, false] {
                let direct = shown.render(&fields, base64).map_err(|e| format!("{e:?}"));
                let viewed = kept.render(&fields, base64).map_err(|e| format!("{e:?}"));
                assert_eq!(viewed, direct, "fields {:?}, base64 {base64}", fields.0);
            }
        }
        assert!(kept.is_final());
        let pending = kept.clone().with_status(Status::Processing);
        assert!(!pending.is_final());
        let status = Fields::parse(Some("status_id,status")).unwrap();
        assert_eq!(
            pending.render(&status, false).unwrap(),
            serde_json::json!({"status_id": 2, "status": {"id": 2, "description": "Processing"}})
        );
    }
}
