//! CSV downloads, one per report section (RFC 4180: quoted fields, CRLF).

use super::{Report, Section};

fn field(value: &str) -> String {
    // A text cell starting like a formula would run as one in a spreadsheet (CSV
    // injection): a leading apostrophe keeps it text. Numbers such as -0.5 pass as they are.
    let value = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) && value.parse::<f64>().is_err() {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if value.contains([',', '"', '\n', '\r']) { format!("\"{}\"", value.replace('"', "\"\"")) } else { value }
}

fn line(out: &mut String, cells: &[String]) {
    out.push_str(&cells.iter().map(|c| field(c)).collect::<Vec<_>>().join(","));
    out.push_str("\r\n");
}

/// The CSV of one section (by its name), if the report has it.
pub fn section(report: &Report, name: &str) -> Option<String> {
    let section = Section::parse(name).filter(|section| report.has(*section))?;
    let mut out = String::new();
    match section {
        Section::Mentions => {
            line(
                &mut out,
                &["day".into(), "mentions".into(), "negative".into(), "positive".into(), "mean_sentiment".into()],
            );
            for d in &report.days {
                line(
                    &mut out,
                    &[
                        d.day.to_string(),
                        d.mentions.to_string(),
                        d.negative.to_string(),
                        d.positive.to_string(),
                        d.mean_sentiment.map(|s| format!("{s:.3}")).unwrap_or_default(),
                    ],
                );
            }
        }
        Section::Influencers => {
            line(
                &mut out,
                &[
                    "handle",
                    "network",
                    "score",
                    "tier",
                    "stance",
                    "followers",
                    "reach",
                    "engagement",
                    "relevance",
                    "activity",
                    "authenticity_penalty",
                ]
                .map(String::from),
            );
            for i in &report.influencers {
                let c = &i.components;
                line(
                    &mut out,
                    &[
                        i.handle.clone(),
                        i.network.clone(),
                        format!("{:.1}", i.score),
                        i.tier.clone(),
                        i.stance.clone(),
                        c.followers.to_string(),
                        format!("{:.1}", c.reach),
                        format!("{:.1}", c.engagement),
                        format!("{:.1}", c.relevance),
                        format!("{:.1}", c.activity),
                        format!("{:.1}", c.authenticity_penalty),
                    ],
                );
            }
        }
        Section::Sla => {
            line(
                &mut out,
                &[
                    "group",
                    "key",
                    "tickets",
                    "answered",
                    "within_target",
                    "breached",
                    "share_within_target",
                    "median_minutes",
                    "p90_minutes",
                ]
                .map(String::from),
            );
            let sla = report.sla.as_ref()?;
            let rows = std::iter::once(("overall", "all".to_owned(), &sla.overall))
                .chain(sla.by_network.iter().map(|(k, f)| ("network", k.clone(), f)))
                .chain(sla.by_priority.iter().map(|(k, f)| ("priority", k.clone(), f)));
            for (group, key, f) in rows {
                let opt = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
                line(
                    &mut out,
                    &[
                        group.into(),
                        key,
                        f.tickets.to_string(),
                        f.answered.to_string(),
                        f.within_target.to_string(),
                        f.breached.to_string(),
                        f.share_within_target.map(|s| format!("{s:.3}")).unwrap_or_default(),
                        opt(f.median_first_response_minutes),
                        opt(f.p90_first_response_minutes),
                    ],
                );
            }
        }
        Section::Alerts => {
            line(
                &mut out,
                &["opened_at", "kind", "severity", "status", "resolved_at", "resolution_note"].map(String::from),
            );
            for a in &report.alerts {
                line(
                    &mut out,
                    &[
                        a.opened_at.to_rfc3339(),
                        a.kind.clone(),
                        a.severity.clone(),
                        a.status.clone(),
                        a.resolved_at.map(|r| r.to_rfc3339()).unwrap_or_default(),
                        a.resolution_note.clone().unwrap_or_default(),
                    ],
                );
            }
        }
        Section::Competition => {
            line(
                &mut out,
                &[
                    "period",
                    "entity",
                    "mentions",
                    "positive",
                    "negative",
                    "reach",
                    "share",
                    "reach_share",
                    "net_sentiment",
                    "positive_rate",
                    "positive_share",
                ]
                .map(String::from),
            );
            let share = &report.competition.as_ref()?.share;
            let periods = share.periods.iter().map(|p| (p.start.format("%Y-%m-%d").to_string(), &p.voices));
            for (period, voices) in periods.chain(std::iter::once(("total".to_owned(), &share.total))) {
                let ratio = |r: Option<f64>| r.map(|r| format!("{r:.3}")).unwrap_or_default();
                for v in voices {
                    line(
                        &mut out,
                        &[
                            period.clone(),
                            share.name_of(v.entity).to_owned(),
                            v.mentions.to_string(),
                            v.positive.to_string(),
                            v.negative.to_string(),
                            v.reach.to_string(),
                            ratio(v.share),
                            ratio(v.reach_share),
                            ratio(v.net_sentiment),
                            ratio(v.positive_rate),
                            ratio(v.positive_share),
                        ],
                    );
                }
            }
        }
        Section::Csr => {
            line(&mut out, &["pillar", "posts", "share", "target_share", "gap", "silent"].map(String::from));
            for p in &report.csr.as_ref()?.pillars {
                line(
                    &mut out,
                    &[
                        p.pillar.name.clone(),
                        p.posts.to_string(),
                        format!("{:.3}", p.share),
                        format!("{:.3}", p.target_share),
                        format!("{:.3}", p.gap),
                        p.silent.to_string(),
                    ],
                );
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn fields_are_quoted_when_needed() {
        assert_eq!(super::field("plain"), "plain");
        assert_eq!(super::field("a,b"), "\"a,b\"");
        assert_eq!(super::field("say \"hi\"\n"), "\"say \"\"hi\"\"\n\"");
        assert_eq!(super::field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(super::field("@handle"), "'@handle");
        assert_eq!(super::field("-0.250"), "-0.250");
    }
}
