//! `fields`: which of a submission's attributes an answer carries. Judge0's
//! default set, `*` for all, or a comma list; an unknown name is a 400
//! naming it.

use super::error::Judge0Error;

/// Every attribute a submission has, in Judge0's order.
pub const ALL: [&str; 35] = [
    "source_code",
    "language_id",
    "stdin",
    "expected_output",
    "stdout",
    "status_id",
    "created_at",
    "finished_at",
    "time",
    "memory",
    "stderr",
    "token",
    "number_of_runs",
    "cpu_time_limit",
    "cpu_extra_time",
    "wall_time_limit",
    "memory_limit",
    "stack_limit",
    "max_processes_and_or_threads",
    "enable_per_process_and_thread_time_limit",
    "enable_per_process_and_thread_memory_limit",
    "max_file_size",
    "compile_output",
    "exit_code",
    "exit_signal",
    "message",
    "wall_time",
    "compiler_options",
    "command_line_arguments",
    "redirect_stderr_to_stdout",
    "callback_url",
    "additional_files",
    "enable_network",
    "status",
    "language",
];

/// What an answer carries when `fields` is not given.
pub const DEFAULT: [&str; 8] = [
    "token",
    "time",
    "memory",
    "stdout",
    "stderr",
    "compile_output",
    "message",
    "status",
];

/// The attributes to show, in the order asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fields(pub Vec<&'static str>);

impl Fields {
    /// From the `fields` query parameter.
    pub fn parse(raw: Option<&str>) -> Result<Fields, Judge0Error> {
        let Some(raw) = raw.filter(|r| !r.trim().is_empty()) else {
            return Ok(Fields(DEFAULT.to_vec()));
        };
        if raw.trim() == "*" {
            return Ok(Fields(ALL.to_vec()));
        }
        let mut chosen = Vec::new();
        let mut unknown = Vec::new();
        for name in raw.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match ALL.iter().find(|f| **f == name) {
                Some(field) if !chosen.contains(field) => chosen.push(*field),
                Some(_) => {}
                None => unknown.push(name.to_owned()),
            }
        }
        if !unknown.is_empty() {
            return Err(Judge0Error::Message(
                axum::http::StatusCode::BAD_REQUEST,
                format!("invalid fields: [{}]", unknown.join(", ")),
            ));
        }
        Ok(Fields(chosen))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_all_a_list_and_unknown_names() {
        assert_eq!(Fields::parse(None).unwrap().0, DEFAULT);
        assert_eq!(Fields::parse(Some("*")).unwrap().0.len(), ALL.len());
        assert_eq!(
            Fields::parse(Some("stdout, status_id,stdout")).unwrap().0,
            ["stdout", "status_id"]
        );
        let Err(Judge0Error::Message(status, message)) = Fields::parse(Some("stdout,nope,x"))
        else {
            panic!("accepted")
        };
        assert_eq!(status, 400);
        assert_eq!(message, "invalid fields: [nope, x]");
    }
}
