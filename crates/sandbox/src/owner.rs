//! The server process that owns containers, as their labels name it: its
//! pid, its start time and the boot's id, which together tell whether that
//! process still runs.

use std::collections::HashMap;

use crate::naming::{OWNER_BOOT_LABEL, OWNER_PID_LABEL, OWNER_START_LABEL};

/// A server process, as its containers' labels name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pid: u32,
    /// Clock ticks after boot when it started (field 22 of /proc/PID/stat).
    started: u64,
    boot: String,
}

impl Owner {
    /// This process.
    pub fn current() -> Owner {
        let pid = std::process::id();
        Owner {
            pid,
            started: start_time(pid).unwrap_or(0),
            boot: boot_id(),
        }
    }

    pub fn labels(&self) -> Vec<(&'static str, String)> {
        vec![
            (OWNER_PID_LABEL, self.pid.to_string()),
            (OWNER_START_LABEL, self.started.to_string()),
            (OWNER_BOOT_LABEL, self.boot.clone()),
        ]
    }

    pub fn from_labels(labels: &HashMap<String, String>) -> Option<Owner> {
        Some(Owner {
            pid: labels.get(OWNER_PID_LABEL)?.parse().ok()?,
            started: labels.get(OWNER_START_LABEL)?.parse().ok()?,
            boot: labels.get(OWNER_BOOT_LABEL)?.clone(),
        })
    }

    /// One line: pid, start time, boot id.
    pub fn to_line(&self) -> String {
        format!("{} {} {}\n", self.pid, self.started, self.boot)
    }

    pub fn from_line(line: &str) -> Option<Owner> {
        let mut parts = line.split_whitespace();
        Some(Owner {
            pid: parts.next()?.parse().ok()?,
            started: parts.next()?.parse().ok()?,
            boot: parts.next()?.to_owned(),
        })
    }

    /// Still running: the same boot, and a process with this pid that
    /// started at the same tick (so not a later process given the pid).
    pub fn is_alive(&self) -> bool {
        self.boot == boot_id() && start_time(self.pid) == Some(self.started)
    }
}

/// When process `pid` started, unless it is gone or a zombie.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start at 3.
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace();
    if fields.next()? == "Z" {
        return None;
    }
    fields.nth(18)?.parse().ok()
}

fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_gone_or_reused_pid_is_not() {
        let me = Owner::current();
        assert!(me.is_alive());
        let reused = Owner {
            started: me.started + 1,
            ..me.clone()
        };
        assert!(!reused.is_alive(), "same pid, other start: another process");
        let other_boot = Owner {
            boot: "another-boot".into(),
            ..me.clone()
        };
        assert!(!other_boot.is_alive());
        let labels: HashMap<String, String> = me
            .labels()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        assert_eq!(Owner::from_labels(&labels), Some(me.clone()));
        assert_eq!(Owner::from_line(&me.to_line()), Some(me));
    }
}
