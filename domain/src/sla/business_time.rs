//! Business-time arithmetic: a due time is found by walking the brand's opening
//! intervals in its IANA time zone, skipping closed days and holidays, and counting
//! real elapsed time inside each interval. Intervals are turned into UTC instants
//! before they are measured, so a day when the clocks change is as long as it really
//! is (23 or 25 hours), and a local time that does not exist (the spring gap) moves to
//! the first instant after it.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use std::collections::BTreeSet;

/// Minutes in a day: an interval may end at 24:00.
pub const DAY_MINUTES: u32 = 24 * 60;

/// When a brand answers: opening intervals per weekday, holidays, or always.
#[derive(Clone, Debug)]
pub struct Schedule {
    pub zone: Tz,
    /// Open at every instant (24/7): business time is real time.
    pub always_open: bool,
    /// Per weekday, Monday first: `(start, end)` in minutes from local midnight, sorted,
    /// not overlapping, `start < end ≤ 1440`.
    pub week: [Vec<(u32, u32)>; 7],
    /// Local dates on which the brand is closed all day.
    pub holidays: BTreeSet<NaiveDate>,
}

/// How far ahead a due time is looked for before giving up (a schedule with no
/// opening at all is refused when saved; this bounds a pathological one).
const HORIZON_DAYS: i64 = 800;

impl Schedule {
    /// Open every instant.
    pub fn always(zone: Tz) -> Self {
        Schedule { zone, always_open: true, week: Default::default(), holidays: BTreeSet::new() }
    }

    /// The UTC instant of a local date and minute of day; a time in the spring gap
    /// moves to the end of the gap, an ambiguous one (autumn) takes the first.
    fn instant(&self, date: NaiveDate, minute: u32) -> DateTime<Utc> {
        let local: NaiveDateTime = date.and_hms_opt(0, 0, 0).expect("midnight") + Duration::minutes(i64::from(minute));
        let mut probe = local;
        for _ in 0..=180 {
            if let Some(at) = self.zone.from_local_datetime(&probe).earliest() {
                return at.with_timezone(&Utc);
            }
            probe += Duration::minutes(1);
        }
        Utc.from_utc_datetime(&local)
    }

    /// The open intervals of a local date, as UTC instants.
    fn open_on(&self, date: NaiveDate) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        if self.holidays.contains(&date) {
            return Vec::new();
        }
        self.week[date.weekday().num_days_from_monday() as usize]
            .iter()
            .map(|&(start, end)| (self.instant(date, start), self.instant(date, end)))
            .filter(|(start, end)| end > start)
            .collect()
    }

    /// The instant `minutes` of business time after `start`.
    pub fn add(&self, start: DateTime<Utc>, minutes: i64) -> Option<DateTime<Utc>> {
        if self.always_open {
            return Some(start + Duration::minutes(minutes));
        }
        let mut remaining = Duration::minutes(minutes);
        let mut date = start.with_timezone(&self.zone).date_naive();
        for _ in 0..HORIZON_DAYS {
            for (open, close) in self.open_on(date) {
                let from = open.max(start);
                if from >= close {
                    continue;
                }
                let available = close - from;
                if remaining <= available {
                    return Some(from + remaining);
                }
                remaining -= available;
            }
            date = date.succ_opt()?;
        }
        None
    }

    /// Business minutes between two instants (0 when `to` is not after `from`).
    pub fn minutes_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
        if to <= from {
            return 0;
        }
        if self.always_open {
            return (to - from).num_minutes();
        }
        let mut total = Duration::zero();
        let mut date = from.with_timezone(&self.zone).date_naive();
        let last = to.with_timezone(&self.zone).date_naive();
        while date <= last {
            for (open, close) in self.open_on(date) {
                let (a, b) = (open.max(from), close.min(to));
                if b > a {
                    total += b - a;
                }
            }
            let Some(next) = date.succ_opt() else { break };
            date = next;
        }
        total.num_minutes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn office(zone: Tz) -> Schedule {
        let day = vec![(9 * 60, 17 * 60)];
        Schedule {
            zone,
            always_open: false,
            week: [day.clone(), day.clone(), day.clone(), day.clone(), day, vec![], vec![]],
            holidays: BTreeSet::new(),
        }
    }

    fn at(zone: Tz, local: &str) -> DateTime<Utc> {
        let naive = NaiveDateTime::parse_from_str(local, "%Y-%m-%d %H:%M").unwrap();
        zone.from_local_datetime(&naive).earliest().unwrap().with_timezone(&Utc)
    }

    fn local(zone: Tz, instant: DateTime<Utc>) -> String {
        instant.with_timezone(&zone).format("%a %Y-%m-%d %H:%M %Z").to_string()
    }

    #[test]
    fn due_times_in_business_time() {
        let paris: Tz = "Europe/Paris".parse().unwrap();
        let new_york: Tz = "America/New_York".parse().unwrap();
        let (paris_office, ny_office) = (office(paris), office(new_york));
        let mut split = office(paris);
        split.week[0] = vec![(9 * 60, 12 * 60), (14 * 60, 18 * 60)];
        let mut christmas = office(paris);
        christmas.holidays.insert(NaiveDate::from_ymd_opt(2026, 12, 25).unwrap());
        christmas.holidays.insert(NaiveDate::from_ymd_opt(2026, 12, 28).unwrap());
        let mut weekend = office(paris);
        weekend.week[5] = vec![(0, DAY_MINUTES)];
        weekend.week[6] = vec![(0, DAY_MINUTES)];
        let cases: Vec<(&str, &Schedule, &str, i64, &str)> = vec![
            ("Friday 16:45 + 30 min → Monday 09:15", &paris_office, "2026-11-27 16:45", 30, "Mon 2026-11-30 09:15 CET"),
            ("inside the day", &paris_office, "2026-11-25 10:00", 90, "Wed 2026-11-25 11:30 CET"),
            ("before opening", &paris_office, "2026-11-25 06:00", 30, "Wed 2026-11-25 09:30 CET"),
            ("after closing", &paris_office, "2026-11-25 20:00", 30, "Thu 2026-11-26 09:30 CET"),
            ("on a Saturday", &paris_office, "2026-11-28 11:00", 60, "Mon 2026-11-30 10:00 CET"),
            ("exactly at closing", &paris_office, "2026-11-25 16:00", 60, "Wed 2026-11-25 17:00 CET"),
            ("two days of work", &paris_office, "2026-11-25 09:00", 16 * 60, "Thu 2026-11-26 17:00 CET"),
            ("lunch break", &split, "2026-11-30 11:30", 60, "Mon 2026-11-30 14:30 CET"),
            ("holidays skipped", &christmas, "2026-12-24 16:30", 60, "Tue 2026-12-29 09:30 CET"),
            (
                "spring forward: a night shift loses an hour",
                &weekend,
                "2026-03-28 23:00",
                4 * 60,
                "Sun 2026-03-29 04:00 CEST",
            ),
            ("autumn back: the Sunday has 25 hours", &weekend, "2026-10-24 23:00", 4 * 60, "Sun 2026-10-25 02:00 CET"),
            ("across the DST change, office hours", &paris_office, "2026-03-27 16:30", 60, "Mon 2026-03-30 09:30 CEST"),
            ("another zone", &ny_office, "2026-11-27 16:45", 30, "Mon 2026-11-30 09:15 EST"),
        ];
        for (name, schedule, start, minutes, expected) in cases {
            let due = schedule.add(at(schedule.zone, start), minutes).unwrap();
            assert_eq!(local(schedule.zone, due), expected, "{name}");
            assert_eq!(schedule.minutes_between(at(schedule.zone, start), due), minutes, "{name}: round trip");
        }
    }

    #[test]
    fn always_open_is_real_time_even_across_dst() {
        let paris: Tz = "Europe/Paris".parse().unwrap();
        let always = Schedule::always(paris);
        let due = always.add(at(paris, "2026-03-28 23:00"), 4 * 60).unwrap();
        assert_eq!(local(paris, due), "Sun 2026-03-29 04:00 CEST");
        assert_eq!(always.minutes_between(at(paris, "2026-03-28 23:00"), due), 240);
    }

    #[test]
    fn a_closed_schedule_has_no_due_time() {
        let paris: Tz = "Europe/Paris".parse().unwrap();
        let closed = Schedule { zone: paris, always_open: false, week: Default::default(), holidays: BTreeSet::new() };
        assert_eq!(closed.add(Utc::now(), 30), None);
    }
}
