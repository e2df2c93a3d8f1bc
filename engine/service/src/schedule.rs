//! Scan triggers and when they fire.
//!
//! A trigger is `manual` (only run through the API), `once` (at a time),
//! `recurring` (every N hours, days, weeks or months, at chosen hours and
//! minutes, on chosen week days or month days, between a start and an
//! optional end, in a named time zone) or `cron` (a five-field cron
//! expression in a time zone).
//!
//! Times are computed in the trigger's time zone: a daily 02:30 stays at 02:30
//! local time across DST changes. On the spring-forward day a time that does
//! not exist runs at the same distance after the gap (02:30 → 03:30 in
//! Europe/Berlin); on the fall-back day a time that happens twice runs once,
//! at its first occurrence. A month day that a month lacks (31 in April) is
//! skipped in that month; `-1` means the last day of every month.

use jiff::civil::{Date, DateTime, Weekday};
use jiff::tz::TimeZone;
use jiff::{Span, Timestamp, ToSpan};
use serde::{Deserialize, Serialize};

/// A scan's trigger, as given to the API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Trigger {
    pub kind: TriggerKind,
    /// `once`: when (RFC 3339, e.g. `2026-12-01T02:00:00Z`, or a local time
    /// `2026-12-01T02:00` in `time_zone`). Omitted: now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    /// `recurring`: the unit of the interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<Interval>,
    /// `recurring`: every how many units (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<u32>,
    /// `recurring` (days, weeks, months): hours of the day (0-23); default: the start's hour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hours: Option<Vec<u8>>,
    /// `recurring`: minutes of the hour (0-59); default: the start's minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minutes: Option<Vec<u8>>,
    /// `recurring` weekly: `monday` … `sunday`; default: the start's week day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub week_days: Option<Vec<WeekDay>>,
    /// `recurring` monthly: 1-31, or -1 for the last day; default: the start's day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub month_days: Option<Vec<i8>>,
    /// `cron`: five fields (minute hour day-of-month month day-of-week).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
    /// `recurring`, `cron`: first possible run (RFC 3339 or local time); default: when the scan is created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    /// `recurring`, `cron`: no run after this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
    /// IANA time zone (default `UTC`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TriggerKind {
    Manual,
    Once,
    Recurring,
    Cron,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Interval {
    Hours,
    Days,
    Weeks,
    Months,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WeekDay {
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
    Sunday,
}

impl WeekDay {
    fn jiff(self) -> Weekday {
        match self {
            WeekDay::Monday => Weekday::Monday,
            WeekDay::Tuesday => Weekday::Tuesday,
            WeekDay::Wednesday => Weekday::Wednesday,
            WeekDay::Thursday => Weekday::Thursday,
            WeekDay::Friday => Weekday::Friday,
            WeekDay::Saturday => Weekday::Saturday,
            WeekDay::Sunday => Weekday::Sunday,
        }
    }
}

impl Trigger {
    pub fn manual() -> Self {
        Trigger {
            kind: TriggerKind::Manual,
            at: None,
            interval: None,
            every: None,
            hours: None,
            minutes: None,
            week_days: None,
            month_days: None,
            expression: None,
            start: None,
            end: None,
            time_zone: None,
        }
    }

    /// Checks the trigger and fills in what defaults to "now" (a `once`
    /// trigger's time, a recurrence's start), so that the stored trigger
    /// means the same thing tomorrow. Errors name the field.
    pub fn normalize(mut self, now: Timestamp) -> Result<(Trigger, Schedule), String> {
        let now_min = now.round(jiff::Unit::Minute).unwrap_or(now);
        let misplaced = |field: &str, value: bool| {
            if value { Err(format!("trigger.{field} is not used by a '{}' trigger", self.kind_str())) } else { Ok(()) }
        };
        match self.kind {
            TriggerKind::Manual | TriggerKind::Once => {
                misplaced("interval", self.interval.is_some())?;
                misplaced("every", self.every.is_some())?;
                misplaced("hours", self.hours.is_some())?;
                misplaced("minutes", self.minutes.is_some())?;
                misplaced("week_days", self.week_days.is_some())?;
                misplaced("month_days", self.month_days.is_some())?;
                misplaced("expression", self.expression.is_some())?;
                misplaced("start", self.start.is_some())?;
                misplaced("end", self.end.is_some())?;
            }
            TriggerKind::Recurring => {
                misplaced("at", self.at.is_some())?;
                misplaced("expression", self.expression.is_some())?;
            }
            TriggerKind::Cron => {
                misplaced("at", self.at.is_some())?;
                for (f, set) in [
                    ("interval", self.interval.is_some()),
                    ("every", self.every.is_some()),
                    ("hours", self.hours.is_some()),
                    ("minutes", self.minutes.is_some()),
                    ("week_days", self.week_days.is_some()),
                    ("month_days", self.month_days.is_some()),
                ] {
                    misplaced(f, set)?;
                }
            }
        }
        if self.kind == TriggerKind::Manual {
            misplaced("at", self.at.is_some())?;
        }
        let tz_name = self.time_zone.clone().unwrap_or_else(|| "UTC".into());
        let tz = TimeZone::get(&tz_name).map_err(|_| format!("trigger.time_zone: unknown time zone '{tz_name}'"))?;
        let schedule = match self.kind {
            TriggerKind::Manual => Schedule::Manual,
            TriggerKind::Once => {
                let at = match &self.at {
                    Some(text) => parse_time("trigger.at", text, &tz)?,
                    None => now_min,
                };
                if at < now - 60.seconds() {
                    return Err(format!("trigger.at: {at} is in the past"));
                }
                self.at = Some(at.to_string());
                Schedule::Once(at)
            }
            TriggerKind::Recurring => {
                let interval = self.interval.ok_or("trigger.interval is required for a 'recurring' trigger")?;
                let every = self.every.unwrap_or(1);
                if every == 0 || every > 1000 {
                    return Err("trigger.every must be 1-1000".into());
                }
                let start = match &self.start {
                    Some(text) => parse_time("trigger.start", text, &tz)?,
                    None => now_min,
                };
                let end = self.end.as_deref().map(|t| parse_time("trigger.end", t, &tz)).transpose()?;
                if let Some(end) = end {
                    if end <= now {
                        return Err(format!("trigger.end: {end} is in the past"));
                    }
                    if end <= start {
                        return Err("trigger.end must be after trigger.start".into());
                    }
                }
                let start_z = start.to_zoned(tz.clone());
                if interval == Interval::Hours && self.hours.is_some() {
                    return Err("trigger.hours is not used with interval 'hours' (use every and minutes)".into());
                }
                if interval != Interval::Weeks && self.week_days.is_some() {
                    return Err("trigger.week_days is only used with interval 'weeks'".into());
                }
                if interval != Interval::Months && self.month_days.is_some() {
                    return Err("trigger.month_days is only used with interval 'months'".into());
                }
                let hours = sorted("trigger.hours", self.hours.clone().unwrap_or(vec![start_z.hour() as u8]), 0, 23)?;
                let minutes =
                    sorted("trigger.minutes", self.minutes.clone().unwrap_or(vec![start_z.minute() as u8]), 0, 59)?;
                let week_days: Vec<Weekday> = match &self.week_days {
                    Some(days) if days.is_empty() => return Err("trigger.week_days is empty".into()),
                    Some(days) => days.iter().map(|d| d.jiff()).collect(),
                    None => vec![start_z.weekday()],
                };
                let month_days = match &self.month_days {
                    Some(days) if days.is_empty() => return Err("trigger.month_days is empty".into()),
                    Some(days) => {
                        if let Some(bad) = days.iter().find(|d| !(**d == -1 || (1..=31).contains(*d))) {
                            return Err(format!("trigger.month_days: {bad} is not 1-31 or -1 (last day)"));
                        }
                        days.clone()
                    }
                    None => vec![start_z.day()],
                };
                self.every = Some(every);
                self.start = Some(start.to_string());
                self.time_zone = Some(tz_name);
                Schedule::Recurring(Recurrence {
                    tz,
                    interval,
                    every,
                    hours,
                    minutes,
                    week_days,
                    month_days,
                    start,
                    end,
                })
            }
            TriggerKind::Cron => {
                let text = self.expression.clone().ok_or("trigger.expression is required for a 'cron' trigger")?;
                let cron = Cron::parse(&text).map_err(|e| format!("trigger.expression: {e}"))?;
                let start = match &self.start {
                    Some(text) => parse_time("trigger.start", text, &tz)?,
                    None => now_min,
                };
                let end = self.end.as_deref().map(|t| parse_time("trigger.end", t, &tz)).transpose()?;
                if let Some(end) = end
                    && end <= now
                {
                    return Err(format!("trigger.end: {end} is in the past"));
                }
                self.start = Some(start.to_string());
                self.time_zone = Some(tz_name);
                Schedule::Cron { cron, tz, start, end }
            }
        };
        Ok((self, schedule))
    }

    /// The schedule of a stored (normalized) trigger.
    pub fn schedule(&self) -> Result<Schedule, String> {
        // A stored trigger is normalized: `once` in the past is fine here.
        let mut t = self.clone();
        let far_past = Timestamp::MIN;
        if t.kind == TriggerKind::Once {
            let tz = TimeZone::get(t.time_zone.as_deref().unwrap_or("UTC")).map_err(|e| e.to_string())?;
            let at = parse_time("trigger.at", t.at.as_deref().unwrap_or_default(), &tz)?;
            return Ok(Schedule::Once(at));
        }
        t.end = None;
        let (_, mut schedule) = t.normalize(far_past)?;
        if let (Schedule::Recurring(r), Some(end)) = (&mut schedule, &self.end) {
            r.end = Some(parse_time("trigger.end", end, &r.tz)?);
        }
        if let (Schedule::Cron { tz, end: e, .. }, Some(end)) = (&mut schedule, &self.end) {
            *e = Some(parse_time("trigger.end", end, tz)?);
        }
        Ok(schedule)
    }

    fn kind_str(&self) -> &'static str {
        match self.kind {
            TriggerKind::Manual => "manual",
            TriggerKind::Once => "once",
            TriggerKind::Recurring => "recurring",
            TriggerKind::Cron => "cron",
        }
    }
}

fn sorted(field: &str, mut values: Vec<u8>, min: u8, max: u8) -> Result<Vec<u8>, String> {
    if values.is_empty() {
        return Err(format!("{field} is empty"));
    }
    if let Some(bad) = values.iter().find(|v| **v < min || **v > max) {
        return Err(format!("{field}: {bad} is not {min}-{max}"));
    }
    values.sort_unstable();
    values.dedup();
    Ok(values)
}

/// An instant (`2026-12-01T02:00:00Z`, `…+01:00`) or a local time in `tz` (`2026-12-01T02:00`).
fn parse_time(field: &str, text: &str, tz: &TimeZone) -> Result<Timestamp, String> {
    if let Ok(ts) = text.parse::<Timestamp>() {
        return Ok(ts);
    }
    let dt: DateTime = text.parse().map_err(|_| format!("{field}: '{text}' is not an RFC 3339 time"))?;
    dt.to_zoned(tz.clone()).map(|z| z.timestamp()).map_err(|e| format!("{field}: {e}"))
}

/// A checked trigger, ready to compute run times.
#[derive(Debug, Clone)]
pub enum Schedule {
    Manual,
    Once(Timestamp),
    Recurring(Recurrence),
    Cron { cron: Cron, tz: TimeZone, start: Timestamp, end: Option<Timestamp> },
}

#[derive(Debug, Clone)]
pub struct Recurrence {
    tz: TimeZone,
    interval: Interval,
    every: u32,
    hours: Vec<u8>,
    minutes: Vec<u8>,
    week_days: Vec<Weekday>,
    month_days: Vec<i8>,
    start: Timestamp,
    end: Option<Timestamp>,
}

/// How far ahead a schedule is searched (a monthly trigger on day 31 every
/// 12 months may wait years; none waits longer than this).
const HORIZON_DAYS: i64 = 366 * 8;

impl Schedule {
    /// The first run time strictly after `after`, if any.
    pub fn next_after(&self, after: Timestamp) -> Option<Timestamp> {
        match self {
            Schedule::Manual => None,
            Schedule::Once(at) => (*at > after).then_some(*at),
            Schedule::Recurring(r) => r.next_after(after),
            Schedule::Cron { cron, tz, start, end } => {
                let after = after.max(*start - 1.second());
                let t = cron.next_after(after, tz)?;
                end.is_none_or(|e| t <= e).then_some(t)
            }
        }
    }

    /// The first run time at or after `from` (when a scan is created).
    pub fn first_at_or_after(&self, from: Timestamp) -> Option<Timestamp> {
        self.next_after(from - 1.nanosecond())
    }
}

/// What the scheduler does with a scan whose next run time was `due`, at
/// `now`: run it once if it is due (however many times it would have run
/// while the service was down), and the next run time after `now`.
pub fn advance(schedule: &Schedule, due: Option<Timestamp>, now: Timestamp) -> (bool, Option<Timestamp>) {
    match due {
        Some(due) if due <= now => (true, schedule.next_after(now)),
        other => (false, other),
    }
}

impl Recurrence {
    fn next_after(&self, after: Timestamp) -> Option<Timestamp> {
        let after = after.max(self.start - 1.nanosecond());
        if self.end.is_some_and(|e| after >= e) {
            return None;
        }
        let found = match self.interval {
            Interval::Hours => self.next_hourly(after),
            _ => self.next_by_date(after),
        }?;
        self.end.is_none_or(|e| found <= e).then_some(found)
    }

    /// Every N hours from the start's hour: absolute hours, so a DST change
    /// does not shift the rhythm.
    fn next_hourly(&self, after: Timestamp) -> Option<Timestamp> {
        let start_z = self.start.to_zoned(self.tz.clone());
        let base = start_z.with().minute(0).second(0).subsec_nanosecond(0).build().ok()?.timestamp();
        let step = i64::from(self.every) * 3600;
        let k0 = ((after.as_second() - base.as_second()) / step - 1).max(0);
        for k in k0..k0 + 4 {
            for m in &self.minutes {
                let t = base.checked_add((k * step + i64::from(*m) * 60).seconds()).ok()?;
                if t > after && t >= self.start {
                    return Some(t);
                }
            }
        }
        None
    }

    fn next_by_date(&self, after: Timestamp) -> Option<Timestamp> {
        let anchor = self.start.to_zoned(self.tz.clone()).date();
        let from = after.to_zoned(self.tz.clone()).date().yesterday().ok()?.max(anchor);
        let mut day = from;
        for _ in 0..HORIZON_DAYS {
            if self.end.is_some_and(|e| day > e.to_zoned(self.tz.clone()).date()) {
                return None;
            }
            if self.day_matches(anchor, day) {
                for h in &self.hours {
                    for m in &self.minutes {
                        let local = day.at(*h as i8, *m as i8, 0, 0);
                        let Ok(z) = local.to_zoned(self.tz.clone()) else { continue };
                        let t = z.timestamp();
                        if t > after && t >= self.start {
                            return Some(t);
                        }
                    }
                }
            }
            day = day.tomorrow().ok()?;
        }
        None
    }

    fn day_matches(&self, anchor: Date, day: Date) -> bool {
        let every = i64::from(self.every);
        match self.interval {
            Interval::Hours => true,
            Interval::Days => days_between(anchor, day) % every == 0,
            Interval::Weeks => {
                let week = days_between(monday_of(anchor), monday_of(day)) / 7;
                week % every == 0 && self.week_days.contains(&day.weekday())
            }
            Interval::Months => {
                let months = (i64::from(day.year()) * 12 + i64::from(day.month()))
                    - (i64::from(anchor.year()) * 12 + i64::from(anchor.month()));
                months % every == 0
                    && self.month_days.iter().any(|d| *d == day.day() || (*d == -1 && day.day() == day.days_in_month()))
            }
        }
    }
}

fn days_between(a: Date, b: Date) -> i64 {
    a.until(b).map(|s: Span| i64::from(s.get_days())).unwrap_or(0)
}

fn monday_of(d: Date) -> Date {
    let back = d.weekday().to_monday_zero_offset();
    d.checked_sub(i64::from(back).days()).unwrap_or(d)
}

/// A five-field cron expression: minute, hour, day of month, month, day of
/// week; `*`, lists, ranges, steps, month and day names. When both day
/// fields are restricted, a day matching either runs (as in Vixie cron).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    minutes: u64,
    hours: u32,
    month_days: u32,
    months: u16,
    week_days: u8,
    any_month_day: bool,
    any_week_day: bool,
}

impl Cron {
    pub fn parse(text: &str) -> Result<Cron, String> {
        let fields: Vec<&str> = text.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(format!(
                "'{text}' has {} fields; expected 5 (minute hour day-of-month month day-of-week)",
                fields.len()
            ));
        }
        const MONTHS: &[&str] = &["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
        const DAYS: &[&str] = &["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
        let minutes = field(fields[0], "minute", 0, 59, &[], 0)?;
        let hours = field(fields[1], "hour", 0, 23, &[], 0)?;
        let month_days = field(fields[2], "day of month", 1, 31, &[], 0)?;
        let months = field(fields[3], "month", 1, 12, MONTHS, 1)?;
        let mut week_days = field(fields[4], "day of week", 0, 7, DAYS, 0)?;
        if week_days & (1 << 7) != 0 {
            week_days = (week_days | 1) & 0x7f;
        }
        Ok(Cron {
            minutes,
            hours: hours as u32,
            month_days: month_days as u32,
            months: months as u16,
            week_days: week_days as u8,
            any_month_day: fields[2] == "*" || fields[2] == "?",
            any_week_day: fields[4] == "*" || fields[4] == "?",
        })
    }

    fn day_matches(&self, d: Date) -> bool {
        if self.months & (1 << d.month()) == 0 {
            return false;
        }
        let dom = self.month_days & (1 << d.day()) != 0;
        let dow = self.week_days & (1 << d.weekday().to_sunday_zero_offset()) != 0;
        match (self.any_month_day, self.any_week_day) {
            (true, true) => true,
            (false, true) => dom,
            (true, false) => dow,
            (false, false) => dom || dow,
        }
    }

    pub fn next_after(&self, after: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        let mut day = after.to_zoned(tz.clone()).date().yesterday().ok()?;
        for _ in 0..HORIZON_DAYS {
            if self.day_matches(day) {
                for h in (0..24).filter(|h| self.hours & (1 << h) != 0) {
                    for m in (0..60).filter(|m| self.minutes & (1u64 << m) != 0) {
                        let Ok(z) = day.at(h as i8, m as i8, 0, 0).to_zoned(tz.clone()) else { continue };
                        if z.timestamp() > after {
                            return Some(z.timestamp());
                        }
                    }
                }
            }
            day = day.tomorrow().ok()?;
        }
        None
    }
}

/// One cron field as a bit set.
fn field(text: &str, name: &str, min: u32, max: u32, names: &[&str], name_base: u32) -> Result<u64, String> {
    let value = |s: &str| -> Result<u32, String> {
        if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(s)) {
            return Ok(i as u32 + name_base);
        }
        let v: u32 = s.parse().map_err(|_| format!("{name}: '{s}' is not a number"))?;
        if v < min || v > max {
            return Err(format!("{name}: {v} is not {min}-{max}"));
        }
        Ok(v)
    };
    let mut bits = 0u64;
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => {
                let step: u32 = s.parse().map_err(|_| format!("{name}: step '{s}' is not a number"))?;
                if step == 0 {
                    return Err(format!("{name}: a step of 0"));
                }
                (r, step)
            }
            None => (part, 1),
        };
        let (lo, hi) = if range == "*" || range == "?" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a)?, value(b)?)
        } else {
            let v = value(range)?;
            (v, if part.contains('/') { max } else { v })
        };
        if lo > hi {
            return Err(format!("{name}: range {lo}-{hi} is backwards"));
        }
        let mut v = lo;
        while v <= hi {
            bits |= 1 << v;
            v += step;
        }
    }
    Ok(bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn trigger(json: serde_json::Value) -> Trigger {
        serde_json::from_value(json).unwrap()
    }

    fn schedule(json: serde_json::Value, now: &str) -> Schedule {
        trigger(json).normalize(ts(now)).unwrap().1
    }

    fn runs(s: &Schedule, from: &str, n: usize) -> Vec<String> {
        let mut out = Vec::new();
        let mut t = ts(from);
        for _ in 0..n {
            let Some(next) = s.next_after(t) else { break };
            out.push(next.to_string());
            t = next;
        }
        out
    }

    #[test]
    fn daily_runs_keep_local_time_across_spring_forward_and_fall_back_in_berlin() {
        let s = schedule(
            serde_json::json!({"kind": "recurring", "interval": "days", "hours": [2], "minutes": [30],
                               "start": "2026-03-27T00:00", "time_zone": "Europe/Berlin"}),
            "2026-03-01T00:00:00Z",
        );
        // 29 March 2026: 02:00 CET jumps to 03:00 CEST; 02:30 does not exist and runs at 03:30 CEST.
        assert_eq!(
            runs(&s, "2026-03-27T00:00:00Z", 4),
            ["2026-03-27T01:30:00Z", "2026-03-28T01:30:00Z", "2026-03-29T01:30:00Z", "2026-03-30T00:30:00Z"]
        );
        // 25 October 2026: 03:00 CEST falls back to 02:00 CET; 02:30 happens twice and runs once (the first).
        assert_eq!(
            runs(&s, "2026-10-23T12:00:00Z", 4),
            ["2026-10-24T00:30:00Z", "2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z", "2026-10-27T01:30:00Z"]
        );
    }

    #[test]
    fn hourly_runs_follow_absolute_hours_through_dst() {
        let s = schedule(
            serde_json::json!({"kind": "recurring", "interval": "hours", "every": 1, "minutes": [0],
                               "start": "2026-10-25T00:00", "time_zone": "Europe/Berlin"}),
            "2026-10-01T00:00:00Z",
        );
        // The repeated local hour 02:00-03:00 is run twice: every real hour runs once.
        assert_eq!(
            runs(&s, "2026-10-24T23:30:00Z", 4),
            ["2026-10-25T00:00:00Z", "2026-10-25T01:00:00Z", "2026-10-25T02:00:00Z", "2026-10-25T03:00:00Z"]
        );
    }

    #[test]
    fn month_day_31_is_skipped_in_short_months_and_minus_one_is_the_last_day() {
        let s = schedule(
            serde_json::json!({"kind": "recurring", "interval": "months", "month_days": [31], "hours": [6], "minutes": [0],
                               "start": "2027-01-01T00:00:00Z"}),
            "2026-12-01T00:00:00Z",
        );
        assert_eq!(
            runs(&s, "2027-01-01T00:00:00Z", 3),
            ["2027-01-31T06:00:00Z", "2027-03-31T06:00:00Z", "2027-05-31T06:00:00Z"]
        );
        let s = schedule(
            serde_json::json!({"kind": "recurring", "interval": "months", "month_days": [-1], "hours": [6], "minutes": [0],
                               "start": "2027-01-01T00:00:00Z"}),
            "2026-12-01T00:00:00Z",
        );
        assert_eq!(
            runs(&s, "2027-01-01T00:00:00Z", 3),
            ["2027-01-31T06:00:00Z", "2027-02-28T06:00:00Z", "2027-03-31T06:00:00Z"]
        );
    }

    #[test]
    fn weekly_runs_on_chosen_days_every_other_week_until_the_end() {
        // 2026-11-02 is a Monday.
        let s = schedule(
            serde_json::json!({"kind": "recurring", "interval": "weeks", "every": 2, "week_days": ["monday", "friday"],
                               "hours": [9], "minutes": [0, 30], "start": "2026-11-02T00:00:00Z",
                               "end": "2026-11-30T00:00:00Z"}),
            "2026-11-01T00:00:00Z",
        );
        assert_eq!(
            runs(&s, "2026-11-01T00:00:00Z", 10),
            [
                "2026-11-02T09:00:00Z",
                "2026-11-02T09:30:00Z",
                "2026-11-06T09:00:00Z",
                "2026-11-06T09:30:00Z",
                "2026-11-16T09:00:00Z",
                "2026-11-16T09:30:00Z",
                "2026-11-20T09:00:00Z",
                "2026-11-20T09:30:00Z",
            ]
        );
    }

    #[test]
    fn cron_expressions_in_a_time_zone() {
        let s = schedule(
            serde_json::json!({"kind": "cron", "expression": "30 2 * * *", "time_zone": "Europe/Berlin"}),
            "2026-03-27T00:00:00Z",
        );
        assert_eq!(
            runs(&s, "2026-03-28T00:00:00Z", 2),
            ["2026-03-28T01:30:00Z", "2026-03-29T01:30:00Z"],
            "the 02:30 that does not exist runs at 03:30 CEST"
        );
        let s = schedule(
            serde_json::json!({"kind": "cron", "expression": "*/15 9-10 * * mon-fri"}),
            "2026-11-27T00:00:00Z",
        );
        // Friday 27 November 2026, then Monday.
        assert_eq!(runs(&s, "2026-11-27T10:40:00Z", 2), ["2026-11-27T10:45:00Z", "2026-11-30T09:00:00Z"]);
        assert!(Cron::parse("* * *").unwrap_err().contains("expected 5"));
        assert!(Cron::parse("61 * * * *").unwrap_err().contains("minute: 61"));
        // Day of month OR day of week when both are set: the 1st and every Sunday.
        let c = Cron::parse("0 0 1 * sun").unwrap();
        let utc = TimeZone::UTC;
        assert_eq!(c.next_after(ts("2026-11-25T00:00:00Z"), &utc).unwrap().to_string(), "2026-11-29T00:00:00Z");
        assert_eq!(c.next_after(ts("2026-11-29T00:00:00Z"), &utc).unwrap().to_string(), "2026-12-01T00:00:00Z");
    }

    #[test]
    fn missed_triggers_run_once_at_start_not_once_per_missed_slot() {
        let s = schedule(
            serde_json::json!({"kind": "recurring", "interval": "hours", "minutes": [0], "start": "2026-11-01T00:00:00Z"}),
            "2026-11-01T00:00:00Z",
        );
        // Down from 01:00 to 05:20: four slots missed, one run, the next at 06:00.
        let (run, next) = advance(&s, Some(ts("2026-11-01T01:00:00Z")), ts("2026-11-01T05:20:00Z"));
        assert!(run);
        assert_eq!(next.unwrap().to_string(), "2026-11-01T06:00:00Z");
        let (run, next) = advance(&s, next, ts("2026-11-01T05:21:00Z"));
        assert!(!run);
        assert_eq!(next.unwrap().to_string(), "2026-11-01T06:00:00Z");
        // A `once` trigger missed while down runs once and then never again.
        let once = Schedule::Once(ts("2026-11-01T01:00:00Z"));
        assert_eq!(advance(&once, Some(ts("2026-11-01T01:00:00Z")), ts("2026-11-02T00:00:00Z")), (true, None));
    }

    #[test]
    fn bad_triggers_are_refused_naming_the_field() {
        let now = ts("2026-11-25T12:00:00Z");
        let err = |j: serde_json::Value| trigger(j).normalize(now).unwrap_err();
        assert!(err(serde_json::json!({"kind": "once", "at": "2026-11-24T00:00:00Z"})).contains("trigger.at"));
        assert!(err(serde_json::json!({"kind": "once", "at": "tomorrow"})).contains("trigger.at"));
        assert!(err(serde_json::json!({"kind": "recurring"})).contains("trigger.interval"));
        assert!(
            err(serde_json::json!({"kind": "recurring", "interval": "days", "hours": [24]})).contains("trigger.hours")
        );
        assert!(
            err(serde_json::json!({"kind": "recurring", "interval": "days", "time_zone": "Mars/Olympus"}))
                .contains("trigger.time_zone")
        );
        assert!(
            err(serde_json::json!({"kind": "recurring", "interval": "days", "end": "2020-01-01T00:00:00Z"}))
                .contains("trigger.end")
        );
        assert!(err(serde_json::json!({"kind": "cron", "expression": "x * * * *"})).contains("trigger.expression"));
        assert!(serde_json::from_value::<Trigger>(serde_json::json!({"kind": "once", "when": 1})).is_err());
        // A stored trigger gives the same schedule back.
        let (stored, _) =
            trigger(serde_json::json!({"kind": "recurring", "interval": "days", "hours": [3]})).normalize(now).unwrap();
        let first = stored.schedule().unwrap().next_after(now).unwrap();
        assert_eq!(first.to_string(), "2026-11-26T03:00:00Z");
    }
}
