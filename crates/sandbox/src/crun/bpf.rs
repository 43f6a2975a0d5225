//! The seccomp profile compiled to BPF once, at startup, with libseccomp
//! (Debian's, through the `libseccomp` crate), and handed to crun
//! precompiled (its `run.oci.seccomp_bpf_data` annotation) instead of crun
//! compiling the profile's rules at every container's start: measured
//! here, 26 → 9.5 ms of CPU per `crun run` of `/bin/true` (Debian's crun
//! 1.8.1 keeps no cache of compiled filters). libseccomp, not a pure-Rust
//! compiler: it is what crun itself uses, so the filter is the one crun
//! would build, including the copies of socket rules onto the i386
//! `socketcall` multiplexer that the profile relies on.
//!
//! The JSON profile stays the one source: this compiles its OCI form the
//! way crun 1.8.1 does (`libcrun_generate_seccomp`): rules whose action is
//! the default's are skipped, names the kernel does not know are skipped,
//! a rule comparing one argument twice becomes one rule per comparison.

use std::collections::HashSet;
use std::str::FromStr;

use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use serde_json::Value;

/// Why the profile could not be compiled.
#[derive(Debug, thiserror::Error)]
pub enum BpfError {
    /// The profile holds what this compiler does not read (our own data:
    /// a malformed profile is refused rather than compiled with zeros).
    #[error("malformed profile: {0}")]
    Malformed(String),
    #[error("libseccomp, {what}: {source}")]
    Seccomp {
        what: String,
        #[source]
        source: libseccomp::error::SeccompError,
    },
    #[error("exporting the filter: {0}")]
    Export(#[from] std::io::Error),
}

impl BpfError {
    fn seccomp(
        what: impl Into<String>,
    ) -> impl FnOnce(libseccomp::error::SeccompError) -> BpfError {
        let what = what.into();
        move |source| BpfError::Seccomp { what, source }
    }

    fn malformed(what: impl Into<String>) -> BpfError {
        BpfError::Malformed(what.into())
    }
}

/// EPERM: the errno of a rule that names none (crun's default).
const EPERM: i32 = 1;

/// The raw BPF program for `profile` (OCI `linux.seccomp`).
pub fn compile(profile: &Value) -> Result<Vec<u8>, BpfError> {
    let default = action(&profile["defaultAction"], &profile["defaultErrnoRet"])?;
    let mut filter = ScmpFilterContext::new(default).map_err(BpfError::seccomp("a new filter"))?;
    for arch in profile["architectures"].as_array().into_iter().flatten() {
        let name = arch.as_str().unwrap_or_default();
        let arch = ScmpArch::from_str(name).map_err(BpfError::seccomp(name))?;
        filter.add_arch(arch).map_err(BpfError::seccomp(name))?;
    }
    for rule in profile["syscalls"].as_array().into_iter().flatten() {
        let act = action(&rule["action"], &rule["errnoRet"])?;
        if act == default {
            continue;
        }
        let compares = comparisons(rule)?;
        for name in rule["names"].as_array().into_iter().flatten() {
            let name = name
                .as_str()
                .ok_or_else(|| BpfError::malformed("a syscall name that is not a string"))?;
            let Ok(syscall) = ScmpSyscall::from_name(name) else {
                continue;
            };
            for set in &compares {
                filter
                    .add_rule_conditional(act, syscall, set)
                    .map_err(BpfError::seccomp(name))?;
            }
        }
    }
    export(&filter)
}

fn action(name: &Value, errno: &Value) -> Result<ScmpAction, BpfError> {
    match name.as_str() {
        Some("SCMP_ACT_ALLOW") => Ok(ScmpAction::Allow),
        Some("SCMP_ACT_ERRNO") => Ok(ScmpAction::Errno(
            errno.as_i64().map_or(EPERM, |e| e as i32),
        )),
        other => Err(BpfError::malformed(format!(
            "seccomp action {other:?} is not one this profile uses"
        ))),
    }
}

/// A rule's comparisons, as the sets of rules crun adds for it: one set
/// with all of them, or one a comparison when an argument is compared twice.
fn comparisons(rule: &Value) -> Result<Vec<Vec<ScmpArgCompare>>, BpfError> {
    let args = rule["args"].as_array().cloned().unwrap_or_default();
    if args.len() > 6 {
        return Err(BpfError::malformed("more than 6 comparisons in one rule"));
    }
    let mut compares = Vec::new();
    let mut indexes = HashSet::new();
    let mut repeated = false;
    for arg in &args {
        let index =
            arg["index"].as_u64().filter(|i| *i < 6).ok_or_else(|| {
                BpfError::malformed("a comparison without an argument index below 6")
            })? as u32;
        repeated |= !indexes.insert(index);
        let value = arg["value"]
            .as_u64()
            .ok_or_else(|| BpfError::malformed("a comparison without a value"))?;
        let two = match &arg["valueTwo"] {
            Value::Null => 0,
            v => v.as_u64().ok_or_else(|| {
                BpfError::malformed("a comparison whose valueTwo is not a number")
            })?,
        };
        let (op, datum) = match arg["op"].as_str() {
            Some("SCMP_CMP_NE") => (ScmpCompareOp::NotEqual, value),
            Some("SCMP_CMP_LT") => (ScmpCompareOp::Less, value),
            Some("SCMP_CMP_LE") => (ScmpCompareOp::LessOrEqual, value),
            Some("SCMP_CMP_EQ") => (ScmpCompareOp::Equal, value),
            Some("SCMP_CMP_GE") => (ScmpCompareOp::GreaterEqual, value),
            Some("SCMP_CMP_GT") => (ScmpCompareOp::Greater, value),
            // OCI's `value` is the mask, `valueTwo` the value compared.
            Some("SCMP_CMP_MASKED_EQ") => (ScmpCompareOp::MaskedEqual(value), two),
            other => return Err(BpfError::malformed(format!("seccomp operator {other:?}"))),
        };
        compares.push(ScmpArgCompare::new(index, op, datum));
    }
    Ok(if repeated {
        compares.into_iter().map(|c| vec![c]).collect()
    } else {
        vec![compares]
    })
}

/// The filter's BPF program (libseccomp 2.5 exports to a file descriptor).
fn export(filter: &ScmpFilterContext) -> Result<Vec<u8>, BpfError> {
    let mut file = tempfile::tempfile()?;
    filter
        .export_bpf(&file)
        .map_err(BpfError::seccomp("exporting"))?;
    use std::io::{Read, Seek};
    file.rewind()?;
    let mut program = Vec::new();
    file.read_to_end(&mut program)?;
    Ok(program)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_projects_profile_compiles_to_a_whole_program() {
        let profile = super::super::oci::seccomp(&crate::seccomp::profile());
        let program = compile(&profile).unwrap();
        assert!(
            !program.is_empty() && program.len().is_multiple_of(8),
            "{} bytes",
            program.len()
        );
    }

    #[test]
    fn a_malformed_comparison_is_refused_not_read_as_zero() {
        let rule = serde_json::json!({"args": [{"index": 0, "op": "SCMP_CMP_EQ"}]});
        assert!(comparisons(&rule).is_err(), "no value");
        let rule = serde_json::json!({"args": [{"index": 7, "value": 1, "op": "SCMP_CMP_EQ"}]});
        assert!(comparisons(&rule).is_err(), "no such argument");
    }

    #[test]
    fn an_action_the_profile_does_not_use_is_refused() {
        let bad = serde_json::json!({"defaultAction": "SCMP_ACT_TRACE", "architectures": [], "syscalls": []});
        assert!(compile(&bad).is_err());
    }

    #[test]
    fn a_masked_comparison_takes_the_mask_from_value_as_oci_says() {
        let rule = serde_json::json!({"args": [{"index": 0, "value": 0xff, "valueTwo": 3, "op": "SCMP_CMP_MASKED_EQ"}]});
        let sets = comparisons(&rule).unwrap();
        assert_eq!(
            sets,
            vec![vec![ScmpArgCompare::new(
                0,
                ScmpCompareOp::MaskedEqual(0xff),
                3
            )]]
        );
        let twice = serde_json::json!({"args": [
            {"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
            {"index": 0, "value": 2, "op": "SCMP_CMP_EQ"},
        ]});
        assert_eq!(
            comparisons(&twice).unwrap().len(),
            2,
            "one rule a comparison"
        );
    }
}
