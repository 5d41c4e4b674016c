//! The report page and the sections digests embed: this module turns a [`Report`] into
//! what the templates print (`domain/templates/report/`) — chart geometry, figures and
//! the brand's language — and the templates do the markup, escaping every value.

use minijinja::context;
use serde::Serialize;

use super::{Report, Section};
use crate::platform::i18n;

/// A number for an SVG attribute, to a tenth.
fn at(value: f64) -> String {
    format!("{value:.1}")
}

/// A share in [0, 1] as a percentage in `lang`, or a dash.
pub fn percent(lang: &str, share: Option<f64>) -> String {
    share.map_or_else(
        || "—".to_owned(),
        |s| i18n::text(lang, "percent", context! { value => format!("{:.0}", 100.0 * s) }),
    )
}

/// A number to a tenth, with the decimal mark of `lang` (`3,4` in French).
pub fn decimal(lang: &str, value: f64) -> String {
    let text = format!("{value:.1}");
    if lang == "fr" { text.replace('.', ",") } else { text }
}

#[derive(Serialize)]
struct VolumeBar {
    x: String,
    y: String,
    width: String,
    height: String,
    negative: i64,
    negative_y: String,
    negative_height: String,
    title: String,
}

#[derive(Serialize)]
struct VolumeChart {
    label: String,
    w: f64,
    h: f64,
    pad: f64,
    right: f64,
    base: f64,
    top_label: f64,
    bottom_label: f64,
    max: i64,
    bars: Vec<VolumeBar>,
    points: String,
    first_day: Option<String>,
    last_day: Option<String>,
}

/// Daily volume as bars (negative mentions in red at their base) with the mean
/// sentiment as a line on a −1…1 scale.
fn volume_chart(report: &Report, lang: &str) -> VolumeChart {
    let (w, h, pad) = (640.0, 220.0, 28.0);
    let n = report.days.len().max(1) as f64;
    let max = report.days.iter().map(|d| d.mentions).max().unwrap_or(0).max(1);
    let scale = (h - 2.0 * pad) / max as f64;
    let bar = (w - 2.0 * pad) / n;
    let mut points = Vec::new();
    let bars = report
        .days
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let x = pad + i as f64 * bar;
            let (height, negative) = (scale * d.mentions as f64, scale * d.negative as f64);
            if let Some(s) = d.mean_sentiment {
                points.push(format!("{:.1},{:.1}", x + bar / 2.0, pad + (1.0 - (s + 1.0) / 2.0) * (h - 2.0 * pad)));
            }
            VolumeBar {
                x: at(x),
                y: at(h - pad - height),
                width: at((bar - 1.0).max(1.0)),
                height: at(height),
                negative: d.negative,
                negative_y: at(h - pad - negative),
                negative_height: at(negative),
                title: i18n::text(
                    lang,
                    "report.mentions.bar",
                    context! { day => d.day.to_string(), count => d.mentions, negative => d.negative },
                ),
            }
        })
        .collect();
    VolumeChart {
        label: i18n::text(lang, "report.mentions.chart", ()),
        w,
        h,
        pad,
        right: w - pad,
        base: h - pad,
        top_label: pad - 8.0,
        bottom_label: h - 8.0,
        max,
        bars,
        points: if points.len() > 1 { points.join(" ") } else { String::new() },
        first_day: report.days.first().map(|d| d.day.to_string()),
        last_day: report.days.last().map(|d| d.day.to_string()),
    }
}

#[derive(Serialize)]
struct BarRow {
    label: String,
    y: String,
    text_y: String,
    width: String,
    target_x: Option<String>,
    tick_top: String,
    tick_bottom: String,
    value: String,
}

#[derive(Serialize)]
struct BarChart {
    id: &'static str,
    w: f64,
    h: f64,
    label_w: f64,
    span: f64,
    value_x: f64,
    rows: Vec<BarRow>,
}

/// Horizontal bars, each with an optional target tick: `(label, value 0–1, target 0–1)`.
fn bars(id: &'static str, rows: impl IntoIterator<Item = (String, f64, Option<f64>)>) -> BarChart {
    let (w, row_h, label_w) = (640.0, 28.0, 190.0);
    let span = w - label_w - 60.0;
    let rows: Vec<BarRow> = rows
        .into_iter()
        .enumerate()
        .map(|(i, (label, value, target))| {
            let y = 4.0 + i as f64 * row_h;
            BarRow {
                label,
                y: at(y),
                text_y: at(y + 18.0),
                width: at(span * value.clamp(0.0, 1.0)),
                target_x: target.map(|t| at(label_w + span * t.clamp(0.0, 1.0))),
                tick_top: at(y - 2.0),
                tick_bottom: at(y + 22.0),
                value: format!("{:.0}", 100.0 * value),
            }
        })
        .collect();
    BarChart { id, w, h: row_h * rows.len().max(1) as f64 + 8.0, label_w, span, value_x: label_w + span + 8.0, rows }
}

/// One line on how often each kind of alert was judged right: "Alert precision:
/// negative spikes none judged; value gaps 2 confirmed of 3 judged (67%)". Crises and
/// value gaps are always named; the other kinds when some opened.
pub fn precision_summary(precision: &[crate::crises::KindPrecision], lang: &str) -> String {
    use crate::crises::{NEGATIVE_SPIKE, VALUE_GAP};
    let parts: Vec<String> = precision
        .iter()
        .filter(|p| p.opened > 0 || [NEGATIVE_SPIKE, VALUE_GAP].contains(&p.kind))
        .map(|p| {
            let kind = i18n::text(lang, &format!("alert.kinds.{}", p.kind), ());
            match p.precision {
                Some(share) => i18n::text(
                    lang,
                    "report.precision.judged",
                    context! { kind, confirmed => p.confirmed, judged => p.judged, share => percent(lang, Some(share)) },
                ),
                None => i18n::text(lang, "report.precision.none", context! { kind }),
            }
        })
        .collect();
    format!("{} {}", i18n::text(lang, "report.precision", ()), parts.join("; "))
}

/// What the report templates print, with `csv_base` the report's link (CSV links are
/// left out without it).
pub fn view(report: &Report, csv_base: Option<&str>) -> minijinja::Value {
    let lang = report.brand.language.as_str();
    let has = |section| report.has(section);
    let mentions = has(Section::Mentions).then(|| {
        context! {
            total => report.days.iter().map(|d| d.mentions).sum::<i64>(),
            negative => report.days.iter().map(|d| d.negative).sum::<i64>(),
            chart => volume_chart(report, lang),
            ratings => report.ratings.as_ref().map(|r| context! {
                reviews => r.reviews,
                mean => decimal(lang, r.mean),
                by_stars => r.by_stars.iter().enumerate().map(|(i, n)| format!("{}★ {n}", i + 1)).collect::<Vec<_>>().join(" · "),
            }),
        }
    });
    let influencers = has(Section::Influencers).then(|| {
        let rows: Vec<minijinja::Value> = report
            .influencers
            .iter()
            .map(|i| {
                let c = &i.components;
                context! {
                    handle => i.handle, network => i.network, score => format!("{:.0}", i.score),
                    tier => i.tier, stance => i.stance,
                    reach => format!("{:.0}", c.reach), engagement => format!("{:.0}", c.engagement),
                    relevance => format!("{:.0}", c.relevance), activity => format!("{:.0}", c.activity),
                }
            })
            .collect();
        let chart = bars(
            "chart-influencers",
            report.influencers.iter().map(|i| (format!("@{}", i.handle), i.score / 100.0, None)),
        );
        context! { rows, chart }
    });
    let sla = report.sla.as_ref().map(|sla| {
        let f = &sla.overall;
        let minutes =
            |m: Option<i64>| m.map_or_else(|| "—".to_owned(), |m| i18n::text(lang, "minutes", context! { value => m }));
        let chart = bars(
            "chart-sla",
            sla.by_network.iter().map(|(network, f)| (network.clone(), f.share_within_target.unwrap_or(0.0), None)),
        );
        context! {
            within_target => percent(lang, f.share_within_target),
            median => minutes(f.median_first_response_minutes),
            p90 => minutes(f.p90_first_response_minutes),
            tickets => f.tickets,
            chart,
        }
    });
    let alerts = has(Section::Alerts).then(|| {
        let rows: Vec<minijinja::Value> = report
            .alerts
            .iter()
            .map(|a| {
                let explanation: crate::crises::Explanation =
                    serde_json::from_value(a.explanation.clone()).unwrap_or_default();
                context! {
                    opened => a.opened_at.format("%Y-%m-%d %H:%M").to_string(),
                    kind => a.kind, severity => a.severity, status => a.status,
                    what => a.resolution_note.clone().unwrap_or_else(|| explanation.summary_in(lang)),
                }
            })
            .collect();
        context! { rows, precision => precision_summary(&report.precision, lang) }
    });
    let csr = report.csr.as_ref().map(|csr| {
        let chart =
            bars("chart-csr", csr.pillars.iter().map(|p| (p.pillar.name.clone(), p.share, Some(p.target_share))));
        context! { posts => csr.posts, held => csr.held.len(), chart }
    });
    let competition = report.competition.as_ref().map(|c| {
        let share = &c.share;
        let chart = bars(
            "chart-share-of-voice",
            share.total.iter().map(|v| (share.name_of(v.entity).to_owned(), v.share.unwrap_or(0.0), None)),
        );
        let rows: Vec<minijinja::Value> = share
            .total
            .iter()
            .map(|v| {
                context! {
                    name => share.name_of(v.entity), mentions => v.mentions,
                    share => percent(lang, v.share), reach_share => percent(lang, v.reach_share),
                    net => v.net_sentiment.map_or_else(|| "—".to_owned(), |n| decimal(lang, n)),
                    positive_rate => percent(lang, v.positive_rate),
                }
            })
            .collect();
        let prospects: Vec<minijinja::Value> = c
            .prospects
            .iter()
            .map(|p| {
                context! {
                    handle => p.author.handle, network => p.author.network,
                    score => format!("{:.0}", p.influence.score), tier => p.influence.tier.as_str(),
                    competitors => p.competitors.iter().map(|(c, n)| format!("{} ({n})", c.name)).collect::<Vec<_>>().join(", "),
                }
            })
            .collect();
        context! { chart, rows, prospects }
    });
    context! {
        lang,
        brand => report.brand.name,
        period => format!("{} – {}", report.from.format("%Y-%m-%d"), report.to.format("%Y-%m-%d")),
        generated => report.generated_at.format("%Y-%m-%d %H:%M UTC").to_string(),
        csv_base,
        mentions, influencers, sla, alerts, csr, competition,
    }
}

/// Renders the page; `csv_base` is the report's link, to which `/<section>.csv` is added.
pub fn render(report: &Report, csv_base: &str) -> crate::Result<String> {
    i18n::render("report/page.html", view(report, Some(csv_base)))
}
