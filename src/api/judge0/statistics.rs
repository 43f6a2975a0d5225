//! `GET /statistics`: Judge0 counts the submissions in its database by
//! day, language and status. This server keeps no database: it counts the
//! submissions finished since it started (`since`, a field Judge0 lacks),
//! each flavour's apart (their ids mean other languages), plus those queued
//! and running now (both flavours': they share one queue), in Judge0's shape.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde_json::{json, Value};
use time::{Date, Duration, OffsetDateTime};

use super::flavor::Flavor;
use super::response::timestamp;
use super::verdict::Status;

/// The days Judge0's answer lists before today.
const DAYS: i64 = 30;

/// Finished submissions, counted as they finish.
#[derive(Debug)]
pub struct Statistics {
    since: OffsetDateTime,
    /// Judge0 CE's, then Extra CE's.
    counts: Mutex<[Counts; 2]>,
}

#[derive(Debug, Default)]
struct Counts {
    by_day: BTreeMap<Date, u64>,
    /// By Judge0 language id: its name and count.
    by_language: BTreeMap<u32, (String, u64)>,
    by_status: BTreeMap<u32, u64>,
}

/// What is pending now, which Judge0 counts under statuses 1 and 2.
#[derive(Debug, Clone, Copy, Default)]
pub struct Pending {
    pub queued: u64,
    pub running: u64,
}

impl Default for Statistics {
    fn default() -> Self {
        Statistics {
            since: OffsetDateTime::now_utc(),
            counts: Mutex::default(),
        }
    }
}

impl Statistics {
    fn counts(&self) -> std::sync::MutexGuard<'_, [Counts; 2]> {
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A submission of `flavor`'s `language_id` (`name`) finished as
    /// `status` at `now`.
    pub fn record(
        &self,
        flavor: Flavor,
        language_id: u32,
        name: &str,
        status: Status,
        now: OffsetDateTime,
    ) {
        let mut all = self.counts();
        let counts = &mut all[flavor as usize];
        *counts.by_day.entry(now.date()).or_default() += 1;
        let oldest = now.date() - Duration::days(DAYS);
        counts.by_day.retain(|day, _| *day >= oldest);
        let language = counts
            .by_language
            .entry(language_id)
            .or_insert_with(|| (name.to_owned(), 0));
        language.1 += 1;
        *counts.by_status.entry(status.id()).or_default() += 1;
    }

    /// Judge0's answer for `flavor` at `now`, with what is `pending`.
    pub fn shown(&self, flavor: Flavor, pending: Pending, now: OffsetDateTime) -> Value {
        let all = self.counts();
        let counts = &all[flavor as usize];
        let today = now.date();
        let finished: u64 = counts.by_status.values().sum();
        let pending_total = pending.queued + pending.running;
        let last_30_days: serde_json::Map<String, Value> = (1..=DAYS)
            .map(|back| today - Duration::days(back))
            .map(|day| {
                (
                    day.to_string(),
                    json!(counts.by_day.get(&day).copied().unwrap_or(0)),
                )
            })
            .collect();
        let mut languages: Vec<(u64, Value)> = counts
            .by_language
            .iter()
            .map(|(id, (name, n))| {
                (
                    *n,
                    json!({"language": {"id": id, "name": name}, "count": n}),
                )
            })
            .collect();
        let mut statuses: Vec<(u64, Value)> = counts
            .by_status
            .iter()
            .map(|(id, n)| (*id, *n))
            .chain([
                (Status::InQueue.id(), pending.queued),
                (Status::Processing.id(), pending.running),
            ])
            .filter(|(_, n)| *n > 0)
            .filter_map(|(id, n)| {
                let status = Status::ALL.iter().find(|s| s.id() == id)?;
                Some((
                    n,
                    json!({"status": {"id": id, "name": status.description()}, "count": n}),
                ))
            })
            .collect();
        // Most first, as Judge0 sorts them.
        languages.sort_by_key(|l| std::cmp::Reverse(l.0));
        statuses.sort_by_key(|s| std::cmp::Reverse(s.0));
        let at = timestamp(now);
        json!({
            "created_at": at,
            "cached_until": at,
            "since": timestamp(self.since),
            "submissions": {
                "total": finished + pending_total,
                "today": counts.by_day.get(&today).copied().unwrap_or(0) + pending_total,
                "last_30_days": last_30_days,
            },
            "languages": languages.into_iter().map(|(_, v)| v).collect::<Vec<_>>(),
            "statuses": statuses.into_iter().map(|(_, v)| v).collect::<Vec<_>>(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finished_and_pending_submissions_are_counted_in_judge0s_shape() {
        let stats = Statistics::default();
        let now = OffsetDateTime::now_utc();
        stats.record(Flavor::Ce, 71, "Python (3.11.2)", Status::Accepted, now);
        stats.record(Flavor::Ce, 71, "Python (3.11.2)", Status::WrongAnswer, now);
        stats.record(
            Flavor::Ce,
            50,
            "C (12.2.0)",
            Status::Accepted,
            now - Duration::days(1),
        );
        stats.record(
            Flavor::Ce,
            50,
            "C (12.2.0)",
            Status::Accepted,
            now - Duration::days(40),
        );
        stats.record(Flavor::ExtraCe, 10, "Python for ML", Status::Accepted, now);
        let pending = Pending {
            queued: 2,
            running: 1,
        };
        let shown = stats.shown(Flavor::Ce, pending, now);
        assert_eq!(shown["submissions"]["total"], 7);
        assert_eq!(shown["submissions"]["today"], 5);
        let days = shown["submissions"]["last_30_days"].as_object().unwrap();
        assert_eq!(days.len(), 30);
        let yesterday = (now.date() - Duration::days(1)).to_string();
        assert_eq!(days[&yesterday], 1);
        assert_eq!(shown["languages"][0]["count"], 2, "{shown}");
        assert_eq!(shown["languages"].as_array().unwrap().len(), 2);
        let statuses = shown["statuses"].as_array().unwrap();
        assert_eq!(statuses[0]["status"]["name"], "Accepted");
        assert_eq!(statuses[0]["count"], 3);
        let queued = statuses.iter().find(|s| s["status"]["id"] == 1).unwrap();
        assert_eq!(queued["count"], 2);
        let extra = stats.shown(Flavor::ExtraCe, Pending::default(), now);
        assert_eq!(
            extra["languages"][0]["language"]["id"], 10,
            "each flavour apart"
        );
        assert_eq!(extra["submissions"]["total"], 1);
    }
}
