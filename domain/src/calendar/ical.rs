//! The iCal feed of a brand's calendar (RFC 5545), behind a revocable share token: the
//! posts in review, approved, scheduled, published or on hold, in the brand's time zone
//! with its `VTIMEZONE` (the zone's transitions over the feed's years, computed from the
//! IANA database), so Google Calendar, Outlook and Apple Calendar place them right.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Offset, TimeZone, Utc};
use chrono_tz::{OffsetComponents, Tz};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use std::collections::HashMap;
use uuid::Uuid;

use super::ContentStatus;
use crate::entities::{brand, content_item, report_share};
use crate::shares::{self, NewShare};
use crate::{Actor, Error, Result, Services, now};

/// The kind of share row that carries a calendar feed.
pub const KIND: &str = "calendar";

/// Creates a feed token for a brand that lives `days` (staff); returns the share and the
/// token, shown once.
pub async fn create_share(
    services: &Services,
    actor: &Actor,
    brand_id: Uuid,
    days: i64,
) -> Result<(report_share::Model, String)> {
    actor.require_staff()?;
    let expires_at = shares::expiry_in("expiresInDays", days)?;
    let brand = actor.brand(&services.db, brand_id).await?;
    let share = NewShare {
        agency_id: actor.agency_id,
        brand_id: brand.id,
        kind: KIND,
        prefix: "vgc_",
        period: None,
        sections: Vec::new(),
        expires_at: Some(expires_at),
        created_by: Some(actor.user_id),
    };
    shares::create(&services.db, share).await
}

/// The link of a feed token.
pub fn url(services: &Services, token: &str) -> String {
    services.config.public_link(&format!("calendar/{token}.ics"))
}

/// Revokes a feed token (staff).
pub async fn revoke_share(services: &Services, actor: &Actor, id: Uuid) -> Result<report_share::Model> {
    shares::revoke(services, actor, id, KIND, "calendar share").await
}

/// The feed for a token; unknown, revoked and expired tokens are all "not found".
pub async fn feed(services: &Services, token: &str) -> Result<String> {
    let db = &services.db;
    let share = shares::open(db, token, KIND, "calendar").await?;
    let brand = brand::Entity::find_by_id(share.brand_id).one(db).await?.ok_or(Error::NotFound("calendar"))?;
    let at = now();
    let items = content_item::Entity::find()
        .filter(content_item::Column::BrandId.eq(brand.id))
        .filter(content_item::Column::Status.is_in(["in_review", "approved", "scheduled", "published", "on_hold"]))
        .filter(content_item::Column::ScheduledAt.gte(at - Duration::days(90)))
        .filter(content_item::Column::ScheduledAt.lt(at + Duration::days(366)))
        .order_by_asc(content_item::Column::ScheduledAt)
        .limit(2_000)
        .all(db)
        .await?;
    let ids: Vec<Uuid> = items.iter().map(|i| i.id).collect();
    let (links, _) = super::links_of(db, &ids).await?;
    let names: HashMap<Uuid, String> =
        super::pillars(db, &[brand.id]).await?.into_iter().map(|p| (p.id, p.name)).collect();
    let pillars_of = |id: &Uuid| -> Vec<String> {
        links.get(id).into_iter().flatten().filter_map(|p| names.get(p).cloned()).collect()
    };
    Ok(render(&brand, &items, &pillars_of, at))
}

/// Escapes a TEXT value.
fn text(value: &str) -> String {
    // A lone CR would end the content line for some readers: every line break, CR, LF
    // or both, becomes the escaped `\n`; other control characters but tabs go.
    let escaped =
        value.replace('\\', "\\\\").replace(';', "\\;").replace(',', "\\,").replace("\r\n", "\n").replace('\r', "\n");
    escaped.replace('\n', "\\n").chars().filter(|c| *c == '\t' || !c.is_control()).collect()
}

/// Folds a content line at 75 octets (continuations start with a space), CRLF-ended.
fn fold(line: &str, out: &mut String) {
    let mut count = 0;
    for c in line.chars() {
        let len = c.len_utf8();
        if count + len > 75 {
            out.push_str("\r\n ");
            count = 1;
        }
        out.push(c);
        count += len;
    }
    out.push_str("\r\n");
}

fn utc(at: DateTime<Utc>) -> String {
    at.format("%Y%m%dT%H%M%SZ").to_string()
}

fn offset(seconds: i32) -> String {
    let sign = if seconds < 0 { '-' } else { '+' };
    let s = seconds.abs();
    format!("{sign}{:02}{:02}", s / 3600, (s % 3600) / 60)
}

/// The zone's offset (seconds east of UTC), whether it is summer time, and its name.
fn zone_at(zone: Tz, at: DateTime<Utc>) -> (i32, bool, String) {
    let o = zone.offset_from_utc_datetime(&at.naive_utc());
    (o.fix().local_minus_utc(), !o.dst_offset().is_zero(), o.to_string())
}

/// `VTIMEZONE` with every transition from January of `first` to December of `last`.
fn vtimezone(zone: Tz, first: i32, last: i32) -> Vec<String> {
    let start =
        Utc.from_utc_datetime(&NaiveDate::from_ymd_opt(first, 1, 1).expect("date").and_hms_opt(0, 0, 0).expect("time"));
    let end = Utc
        .from_utc_datetime(&NaiveDate::from_ymd_opt(last + 1, 1, 1).expect("date").and_hms_opt(0, 0, 0).expect("time"));
    let mut lines = vec!["BEGIN:VTIMEZONE".to_owned(), format!("TZID:{}", zone.name())];
    let component = |lines: &mut Vec<String>, at: DateTime<Utc>, from: i32, to: (i32, bool, String)| {
        let kind = if to.1 { "DAYLIGHT" } else { "STANDARD" };
        let local = (at + Duration::seconds(i64::from(from))).format("%Y%m%dT%H%M%S");
        lines.push(format!("BEGIN:{kind}"));
        lines.push(format!("DTSTART:{local}"));
        lines.push(format!("TZOFFSETFROM:{}", offset(from)));
        lines.push(format!("TZOFFSETTO:{}", offset(to.0)));
        lines.push(format!("TZNAME:{}", to.2));
        lines.push(format!("END:{kind}"));
    };
    let initial = zone_at(zone, start);
    component(&mut lines, start, initial.0, initial.clone());
    let mut day = start;
    let mut current = initial.0;
    while day < end {
        let next = day + Duration::days(1);
        let after = zone_at(zone, next);
        if after.0 != current {
            // Narrow the change down to the second.
            let (mut lo, mut hi) = (day, next);
            while hi - lo > Duration::seconds(1) {
                let mid = lo + (hi - lo) / 2;
                if zone_at(zone, mid).0 == current { lo = mid } else { hi = mid }
            }
            component(&mut lines, hi, current, zone_at(zone, hi));
            current = after.0;
        }
        day = next;
    }
    lines.push("END:VTIMEZONE".into());
    lines
}

/// Renders the feed.
pub fn render(
    brand: &brand::Model,
    items: &[content_item::Model],
    pillars_of: &dyn Fn(&Uuid) -> Vec<String>,
    at: DateTime<Utc>,
) -> String {
    let zone: Tz = brand.time_zone.parse().unwrap_or(chrono_tz::UTC);
    let first = items.iter().map(|i| i.scheduled_at.year()).min().unwrap_or(at.year()).min(at.year());
    let last = items.iter().map(|i| i.scheduled_at.year()).max().unwrap_or(at.year()).max(at.year());
    let mut lines = vec![
        "BEGIN:VCALENDAR".to_owned(),
        "VERSION:2.0".into(),
        "PRODID:-//Vigie//CSR calendar//EN".into(),
        "CALSCALE:GREGORIAN".into(),
        "METHOD:PUBLISH".into(),
        format!("X-WR-CALNAME:{}", text(&format!("{} — CSR calendar", brand.name))),
        format!("X-WR-TIMEZONE:{}", zone.name()),
    ];
    lines.extend(vtimezone(zone, first, last));
    for item in items {
        let status = ContentStatus::parse(&item.status);
        let pillars = pillars_of(&item.id);
        let local = item.scheduled_at.with_timezone(&zone).format("%Y%m%dT%H%M%S");
        let mut description = format!("{} on {}", status.as_str().replace('_', " "), item.channel);
        if !pillars.is_empty() {
            description.push_str(&format!("\nPillars: {}", pillars.join(", ")));
        }
        if !item.body.is_empty() {
            description.push_str(&format!("\n\n{}", item.body.chars().take(1_000).collect::<String>()));
        }
        lines.push("BEGIN:VEVENT".into());
        lines.push(format!("UID:{}@vigie", item.id));
        lines.push(format!("DTSTAMP:{}", utc(at)));
        lines.push(format!("LAST-MODIFIED:{}", utc(item.updated_at)));
        lines.push(format!("DTSTART;TZID={}:{local}", zone.name()));
        lines.push("DURATION:PT30M".into());
        lines.push(format!("SUMMARY:{}", text(&format!("[{}] {}", item.channel, item.title))));
        lines.push(format!("DESCRIPTION:{}", text(&description)));
        if !pillars.is_empty() {
            lines.push(format!("CATEGORIES:{}", pillars.iter().map(|p| text(p)).collect::<Vec<_>>().join(",")));
        }
        let confirmed = matches!(status, ContentStatus::Approved | ContentStatus::Scheduled | ContentStatus::Published);
        lines.push(format!("STATUS:{}", if confirmed { "CONFIRMED" } else { "TENTATIVE" }));
        if let Some(url) = &item.published_url {
            lines.push(format!("URL:{url}"));
        }
        lines.push("END:VEVENT".into());
    }
    lines.push("END:VCALENDAR".into());
    let mut out = String::new();
    for line in lines {
        fold(&line, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_fold_at_75_octets_on_character_boundaries() {
        let mut out = String::new();
        fold(&format!("SUMMARY:{}", "é".repeat(60)), &mut out);
        for line in out.split("\r\n").filter(|l| !l.is_empty()) {
            assert!(line.len() <= 75, "{line}");
        }
        assert_eq!(out.replace("\r\n ", "").trim_end(), format!("SUMMARY:{}", "é".repeat(60)));
        assert_eq!(text("a;b,c\\d\ne"), "a\\;b\\,c\\\\d\\ne");
        assert_eq!(text("a\rDTSTART:1\r\nb\u{7}"), "a\\nDTSTART:1\\nb", "a lone CR cannot start a property");
    }

    #[test]
    fn paris_changes_clocks_twice_a_year() {
        let tz: Tz = "Europe/Paris".parse().unwrap();
        let lines = vtimezone(tz, 2026, 2026).join("\n");
        assert!(
            lines.contains("BEGIN:DAYLIGHT\nDTSTART:20260329T020000\nTZOFFSETFROM:+0100\nTZOFFSETTO:+0200"),
            "{lines}"
        );
        assert!(
            lines.contains("BEGIN:STANDARD\nDTSTART:20261025T030000\nTZOFFSETFROM:+0200\nTZOFFSETTO:+0100"),
            "{lines}"
        );
        let utc_lines = vtimezone(chrono_tz::UTC, 2026, 2026);
        assert_eq!(utc_lines.iter().filter(|l| l.starts_with("BEGIN:STANDARD")).count(), 1);
    }
}
