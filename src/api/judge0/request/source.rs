//! A submission's files: `source_code`, written as the language's source
//! file, beside what `additional_files` (a base64 zip) unpacks to. Judge0's
//! "Multi-file program" (89; `judge0.project` in the map) has no
//! `source_code`: every file comes from the archive, its `run` script (the
//! language's source) and optional `compile` script among them, as Judge0
//! 1.13.1 takes it (`app/models/submission.rb`: `source_code` absent and
//! `additional_files` present for a project).

use super::errors::Errors;
use crate::api::judge0::files;
use crate::api::lenient::Lenient;
use crate::api::request::base64;
use crate::languages::Language;

/// A job's files, the entry first.
pub(super) type Files = Vec<(String, Vec<u8>)>;

/// The job's files of a submission in `language` (`None` when it is
/// unknown, already an error); `None` when `errors` has any, this
/// function's on `source_code` and `additional_files` among them. The
/// archive takes from `budget`, what is left of the request's unpacking
/// budget.
pub(super) fn job_files(
    language: Option<&Language>,
    source_code: Option<&Vec<u8>>,
    additional_files: &Lenient<String>,
    max_files: usize,
    budget: &mut u64,
    errors: &mut Errors,
) -> Option<Files> {
    let project = language.is_some_and(is_project);
    let archive = unpack(additional_files, budget, errors);
    check_presence(project, source_code, archive.is_some(), errors);
    let language = language?;
    let archive = archive.unwrap_or_default();
    check_names(language, project, &archive, max_files, errors);
    if !errors.is_empty() {
        return None;
    }
    if project {
        return Some(entry_first(&language.source, archive));
    }
    let mut files = Vec::with_capacity(archive.len() + 1);
    files.push((language.source.clone(), source_code?.clone()));
    files.extend(archive);
    Some(files)
}

/// Judge0's `is_project`: the language's files all come from the archive.
pub(super) fn is_project(language: &Language) -> bool {
    language.judge0.as_ref().is_some_and(|j| j.project)
}

/// `additional_files` unpacked (taken from `budget`); `None` when it is
/// absent or blank (Judge0 skips a blank value) or wrong (an error added).
fn unpack(value: &Lenient<String>, budget: &mut u64, errors: &mut Errors) -> Option<Files> {
    let text = match value {
        Lenient::Absent => return None,
        Lenient::Read(s) if s.trim().is_empty() => return None,
        Lenient::Read(s) => s,
        Lenient::Invalid(_) => {
            errors.add(
                "additional_files",
                "must be a string (a base64 zip archive)",
            );
            return None;
        }
    };
    let unpacked = base64(text)
        .map_err(|_| "is not valid base64".to_owned())
        .and_then(|zip| files::unpack(&zip, *budget));
    match unpacked {
        Ok(files) => {
            let size: u64 = files.iter().map(|(_, c)| c.len() as u64).sum();
            *budget = budget.saturating_sub(size);
            Some(files)
        }
        Err(why) => {
            errors.add("additional_files", why);
            None
        }
    }
}

/// Judge0's presence rules: a project's `source_code` must be blank and its
/// `additional_files` given; any other language's `source_code` given.
fn check_presence(
    project: bool,
    source_code: Option<&Vec<u8>>,
    archive: bool,
    errors: &mut Errors,
) {
    let blank = source_code.is_none_or(|code| code.iter().all(u8::is_ascii_whitespace));
    if project && !blank {
        errors.add("source_code", "must be blank");
    }
    if project && !archive {
        errors.add("additional_files", "can't be blank");
    }
    if !project && source_code.is_none() {
        errors.add("source_code", "can't be blank");
    }
}

/// No archive's file collides with another or with the source file, and
/// there are at most `max_files` files in all.
fn check_names(
    language: &Language,
    project: bool,
    archive: &Files,
    max_files: usize,
    errors: &mut Errors,
) {
    let mut tree = whipcode_runner::FileTree::new();
    if !project {
        let _ = tree.insert(&language.source);
    }
    let conflict = archive.iter().find_map(|(name, _)| {
        tree.insert(name).err().map(|why| match why {
            whipcode_runner::Conflict::Duplicate if !project && *name == language.source => {
                format!("{name:?} is the source file's own name")
            }
            why => format!("{name:?} {why}"),
        })
    });
    if let Some(conflict) = conflict {
        errors.add("additional_files", conflict);
    }
    let count = archive.len() + usize::from(!project);
    if count > max_files {
        let with = if project { "" } else { "with the source, " };
        errors.add(
            "additional_files",
            format!("has {} files; {with}at most {max_files}", archive.len()),
        );
    }
}

/// A project's files with its entry (`run`) first, where the archive has
/// it; without it the run fails as Judge0's does (`/bin/bash: run: No such
/// file or directory`), since the steps name the script, not the entry.
fn entry_first(entry: &str, mut files: Files) -> Files {
    if let Some(at) = files.iter().position(|(name, _)| name == entry) {
        let file = files.remove(at);
        files.insert(0, file);
    }
    files
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::judge0::files::REQUEST_BUDGET;
    use base64::Engine as _;
    use serde_json::Value;
    use std::io::Write as _;

    fn zip64(entries: &[(&str, &[u8])]) -> Value {
        let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (name, content) in entries {
            out.start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            out.write_all(content).unwrap();
        }
        let zip = out.finish().unwrap().into_inner();
        Value::String(base64::engine::general_purpose::STANDARD.encode(zip))
    }

    fn language(judge0_id: u32) -> std::sync::Arc<Language> {
        let map = crate::languages::LanguageMap::load(None).unwrap();
        let found = map
            .iter()
            .find(|l| {
                l.judge0
                    .as_ref()
                    .is_some_and(|j| j.ids.contains(&judge0_id))
            })
            .unwrap()
            .clone();
        found
    }

    fn files_of(judge0_id: u32, source: Option<&str>, body: Value) -> Result<Files, Errors> {
        let mut errors = Errors::default();
        let source = source.map(|s| s.as_bytes().to_vec());
        let language = language(judge0_id);
        let archive = serde_json::from_value(body["additional_files"].clone()).unwrap();
        let mut budget = REQUEST_BUDGET;
        job_files(
            Some(&language),
            source.as_ref(),
            &archive,
            64,
            &mut budget,
            &mut errors,
        )
        .ok_or(errors)
    }

    #[test]
    fn a_multi_file_programs_files_come_from_its_archive_with_run_first() {
        let archive = zip64(&[
            ("main.c", b"int main(){}"),
            ("run", b"./a.out"),
            ("compile", b"gcc main.c"),
        ]);
        let files = files_of(89, None, serde_json::json!({"additional_files": archive})).unwrap();
        let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["run", "main.c", "compile"]);
        let run_only = zip64(&[("data.txt", b"1")]);
        let files = files_of(
            89,
            Some(" "),
            serde_json::json!({"additional_files": run_only}),
        )
        .unwrap();
        assert_eq!(
            files.len(),
            1,
            "no run script: Judge0's run fails, not its validation"
        );
    }

    #[test]
    fn a_multi_file_program_has_no_source_code_and_needs_its_archive() {
        let archive = zip64(&[("run", b"echo hi")]);
        let errors = files_of(
            89,
            Some("echo hi"),
            serde_json::json!({"additional_files": archive}),
        )
        .unwrap_err();
        assert_eq!(errors.get("source_code"), ["must be blank"]);
        for missing in [Value::Null, Value::String(" ".into())] {
            let errors =
                files_of(89, None, serde_json::json!({"additional_files": missing})).unwrap_err();
            assert_eq!(errors.get("additional_files"), ["can't be blank"]);
        }
        let errors = files_of(43, None, serde_json::json!({})).unwrap_err();
        assert_eq!(
            errors.get("source_code"),
            ["can't be blank"],
            "other languages need one"
        );
    }

    #[test]
    fn a_single_files_source_comes_first_beside_the_archive() {
        let archive = zip64(&[("data.txt", b"1")]);
        let files = files_of(
            44,
            Some("ELF"),
            serde_json::json!({"additional_files": archive}),
        )
        .unwrap();
        assert_eq!(files[0], ("a.out".to_owned(), b"ELF".to_vec()));
        assert_eq!(files[1].0, "data.txt");
        let clash = zip64(&[("a.out", b"x")]);
        let errors = files_of(
            44,
            Some("ELF"),
            serde_json::json!({"additional_files": clash}),
        )
        .unwrap_err();
        assert!(errors.get("additional_files")[0].contains("source file's own name"));
    }
}
