//! The report page: one self-contained HTML document (inline CSS, inline SVG charts, no
//! script, font or image from elsewhere), readable on a phone and printable.

use std::fmt::Write;

use super::{Report, Section};

fn esc(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn pct(share: Option<f64>) -> String {
    share.map_or_else(|| "—".to_owned(), |s| format!("{:.0} %", 100.0 * s))
}

/// Daily volume as bars (negative mentions in red at their base) with the mean
/// sentiment as a line on a −1…1 scale.
fn volume_chart(report: &Report) -> String {
    let (w, h, pad) = (640.0, 220.0, 28.0);
    let n = report.days.len().max(1) as f64;
    let max = report.days.iter().map(|d| d.mentions).max().unwrap_or(0).max(1) as f64;
    let bar = (w - 2.0 * pad) / n;
    let mut svg = format!(
        "<svg class=\"chart\" id=\"chart-volume\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"Mentions per day and mean sentiment\" xmlns=\"http://www.w3.org/2000/svg\">"
    );
    let _ = write!(svg, "<line x1=\"{pad}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" class=\"axis\"/>", h - pad, w - pad, h - pad);
    let mut points = Vec::new();
    for (i, d) in report.days.iter().enumerate() {
        let x = pad + i as f64 * bar;
        let height = (h - 2.0 * pad) * d.mentions as f64 / max;
        let negative = (h - 2.0 * pad) * d.negative as f64 / max;
        let _ = write!(
            svg,
            "<rect class=\"bar\" x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{height:.1}\"><title>{}: {} mentions, {} negative</title></rect>",
            h - pad - height,
            (bar - 1.0).max(1.0),
            d.day,
            d.mentions,
            d.negative
        );
        if d.negative > 0 {
            let _ = write!(
                svg,
                "<rect class=\"bar-negative\" x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{negative:.1}\"/>",
                h - pad - negative,
                (bar - 1.0).max(1.0)
            );
        }
        if let Some(s) = d.mean_sentiment {
            let y = pad + (1.0 - (s + 1.0) / 2.0) * (h - 2.0 * pad);
            points.push(format!("{:.1},{y:.1}", x + bar / 2.0));
        }
    }
    if points.len() > 1 {
        let _ = write!(svg, "<polyline class=\"sentiment\" points=\"{}\"/>", points.join(" "));
    }
    let _ = write!(svg, "<text x=\"{pad}\" y=\"{}\" class=\"label\">{}</text>", pad - 8.0, max as i64);
    if let (Some(first), Some(last)) = (report.days.first(), report.days.last()) {
        let _ = write!(svg, "<text x=\"{pad}\" y=\"{}\" class=\"label\">{}</text>", h - 8.0, first.day);
        let _ = write!(svg, "<text x=\"{}\" y=\"{}\" class=\"label end\">{}</text>", w - pad, h - 8.0, last.day);
    }
    svg.push_str("</svg>");
    svg
}

/// Horizontal bars, each with a target tick: `(label, value 0–1, target 0–1)`.
fn bars(id: &str, rows: &[(String, f64, Option<f64>)]) -> String {
    let (w, row_h, label_w) = (640.0, 28.0, 190.0);
    let h = row_h * rows.len().max(1) as f64 + 8.0;
    let span = w - label_w - 60.0;
    let mut svg = format!(
        "<svg class=\"chart\" id=\"{id}\" viewBox=\"0 0 {w} {h}\" role=\"img\" xmlns=\"http://www.w3.org/2000/svg\">"
    );
    for (i, (label, value, target)) in rows.iter().enumerate() {
        let y = 4.0 + i as f64 * row_h;
        let width = span * value.clamp(0.0, 1.0);
        let _ = write!(svg, "<text x=\"0\" y=\"{:.1}\" class=\"label\">{}</text>", y + 18.0, esc(label));
        let _ = write!(svg, "<rect class=\"track\" x=\"{label_w}\" y=\"{y:.1}\" width=\"{span}\" height=\"20\"/>");
        let _ = write!(svg, "<rect class=\"bar\" x=\"{label_w}\" y=\"{y:.1}\" width=\"{width:.1}\" height=\"20\"/>");
        if let Some(t) = target {
            let x = label_w + span * t.clamp(0.0, 1.0);
            let _ = write!(
                svg,
                "<line class=\"target\" x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\"/>",
                y - 2.0,
                y + 22.0
            );
        }
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" class=\"label\">{:.0}</text>",
            label_w + span + 8.0,
            y + 18.0,
            100.0 * value
        );
    }
    svg.push_str("</svg>");
    svg
}

/// The words of the page, in the brand's language (English or French).
pub struct Labels {
    pub report_for: &'static str,
    pub generated: &'static str,
    pub mentions_title: &'static str,
    pub mentions: &'static str,
    pub negative: &'static str,
    pub mentions_caption: &'static str,
    pub influencers_title: &'static str,
    pub influencer_headers: [&'static str; 8],
    pub sla_title: &'static str,
    pub within_target: &'static str,
    pub median: &'static str,
    pub p90: &'static str,
    pub solicitations: &'static str,
    pub sla_caption: &'static str,
    pub alerts_title: &'static str,
    pub alert_headers: [&'static str; 5],
    pub no_alert: &'static str,
    pub precision: &'static str,
    /// Negative spikes, value gaps.
    pub kinds: [&'static str; 2],
    pub judged_right: &'static str,
    pub judged: &'static str,
    pub none_judged: &'static str,
    pub csr_title: &'static str,
    pub posts: &'static str,
    pub held: &'static str,
    pub csr_caption: &'static str,
}

/// The labels of a language (`fr`, otherwise English).
pub fn labels(language: &str) -> Labels {
    if language == "fr" {
        Labels {
            report_for: "Rapport du",
            generated: "généré le",
            mentions_title: "Mentions et tonalité",
            mentions: "mentions",
            negative: "négatives",
            mentions_caption: "Barres : mentions par jour (UTC), les négatives en rouge ; ligne : tonalité moyenne (−1 à 1).",
            influencers_title: "Principaux influenceurs",
            influencer_headers: [
                "Auteur",
                "Score",
                "Palier",
                "Position",
                "Portée",
                "Engagement",
                "Pertinence",
                "Activité",
            ],
            sla_title: "Délais de réponse",
            within_target: "répondues dans les délais",
            median: "première réponse médiane",
            p90: "90e centile",
            solicitations: "sollicitations",
            sla_caption: "Minutes ouvrées ; part dans les délais par réseau.",
            alerts_title: "Alertes",
            alert_headers: ["Ouverte", "Type", "Gravité", "Statut", "Objet / résolution"],
            no_alert: "Aucune alerte sur la période.",
            precision: "Justesse des alertes :",
            kinds: ["pics négatifs", "écarts aux valeurs"],
            judged_right: "confirmées sur",
            judged: "jugées",
            none_judged: "aucune jugée",
            csr_title: "Couverture RSE",
            posts: "publications",
            held: "suspendues par une alerte",
            csr_caption: "Part des publications par pilier ; le trait foncé marque l'objectif.",
        }
    } else {
        Labels {
            report_for: "Report for",
            generated: "generated",
            mentions_title: "Mentions and sentiment",
            mentions: "mentions",
            negative: "negative",
            mentions_caption: "Bars: mentions per day (UTC), negative ones in red; line: mean sentiment (−1 to 1).",
            influencers_title: "Top influencers",
            influencer_headers: ["Author", "Score", "Tier", "Stance", "Reach", "Engagement", "Relevance", "Activity"],
            sla_title: "Response times",
            within_target: "answered within target",
            median: "median first response",
            p90: "90th percentile",
            solicitations: "solicitations",
            sla_caption: "Business minutes; share within target per network.",
            alerts_title: "Alerts",
            alert_headers: ["Opened", "Kind", "Severity", "Status", "What / resolution"],
            no_alert: "No alert in the period.",
            precision: "Alert precision:",
            kinds: ["negative spikes", "value gaps"],
            judged_right: "confirmed of",
            judged: "judged",
            none_judged: "none judged",
            csr_title: "CSR coverage",
            posts: "posts",
            held: "held by alerts",
            csr_caption: "Share of posts per pillar; the dark tick is the target.",
        }
    }
}

pub const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;color:#1d2433;background:#f6f7f9}\
main{max-width:720px;margin:0 auto;padding:16px}h1{font-size:1.5rem;margin:.2rem 0}h2{font-size:1.15rem;margin-top:2rem}\
section{background:#fff;border-radius:10px;padding:12px 16px;margin:12px 0;box-shadow:0 1px 2px #0001}\
.chart{width:100%;height:auto}.bar{fill:#3b7dd8}.bar-negative{fill:#d8453b}.track{fill:#eef1f5}.target{stroke:#1d2433;stroke-width:2}\
.sentiment{fill:none;stroke:#1f9d55;stroke-width:2}.axis{stroke:#9aa3b2}.label{font-size:11px;fill:#4a5468}.end{text-anchor:end}\
table{width:100%;border-collapse:collapse;font-size:.9rem}td,th{padding:4px 6px;border-bottom:1px solid #eef1f5;text-align:left}\
.figures{display:flex;flex-wrap:wrap;gap:12px}.figure{flex:1 1 120px}.figure b{display:block;font-size:1.4rem}\
.muted{color:#6b7385;font-size:.85rem}.scroll{overflow-x:auto}a{color:#2a62b5}@media print{body{background:#fff}section{box-shadow:none;break-inside:avoid}}";

/// One line on how often each kind of alert was judged right: "Alert precision:
/// negative spikes none judged; value gaps 2 confirmed of 3 judged (67 %)".
pub fn precision_summary(precision: &[crate::crises::KindPrecision], l: &Labels) -> String {
    let parts: Vec<String> = precision
        .iter()
        .map(|p| {
            let kind = if p.kind == crate::crises::VALUE_GAP { l.kinds[1] } else { l.kinds[0] };
            match p.precision {
                Some(share) => {
                    format!(
                        "{kind} {} {} {} {} ({:.0} %)",
                        p.confirmed,
                        l.judged_right,
                        p.judged,
                        l.judged,
                        100.0 * share
                    )
                }
                None => format!("{kind} {}", l.none_judged),
            }
        })
        .collect();
    format!("{} {}", l.precision, parts.join("; "))
}

/// Renders the page; `csv_base` is the report's link, to which `/<section>.csv` is added.
pub fn render(report: &Report, csv_base: &str) -> String {
    format!(
        "<!doctype html><html lang=\"{}\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex\"><title>{}</title><style>{STYLE}</style></head><body><main>{}</main></body></html>",
        esc(&report.brand.language),
        esc(&report.brand.name),
        sections(report, Some(csv_base))
    )
}

/// The report's heading and sections, without the document around them (emails embed
/// them); CSV links only when `csv_base` is given.
pub fn sections(report: &Report, csv_base: Option<&str>) -> String {
    let l = labels(&report.brand.language);
    let mut body = String::new();
    let period = format!("{} – {}", report.from.format("%Y-%m-%d"), report.to.format("%Y-%m-%d"));
    let csv = |section: &str| match csv_base {
        Some(base) => format!("<p class=\"muted\"><a href=\"{}/{section}.csv\">CSV</a></p>", esc(base)),
        None => String::new(),
    };
    if report.has(Section::Mentions) {
        let total: i64 = report.days.iter().map(|d| d.mentions).sum();
        let negative: i64 = report.days.iter().map(|d| d.negative).sum();
        let _ = write!(
            body,
            "<section id=\"mentions\"><h2>{}</h2><div class=\"figures\"><div class=\"figure\"><b>{total}</b>{}</div>\
             <div class=\"figure\"><b>{negative}</b>{}</div></div>{}<p class=\"muted\">{}</p>{}</section>",
            l.mentions_title,
            l.mentions,
            l.negative,
            volume_chart(report),
            l.mentions_caption,
            csv("mentions")
        );
    }
    if report.has(Section::Influencers) {
        let mut rows = String::new();
        for i in &report.influencers {
            let c = &i.components;
            let _ = write!(
                rows,
                "<tr><td>@{} <span class=\"muted\">{}</span></td><td>{:.0}</td><td>{}</td><td>{}</td><td>{:.0}</td><td>{:.0}</td><td>{:.0}</td><td>{:.0}</td></tr>",
                esc(&i.handle),
                esc(&i.network),
                i.score,
                esc(&i.tier),
                esc(&i.stance),
                c.reach,
                c.engagement,
                c.relevance,
                c.activity
            );
        }
        let chart: Vec<(String, f64, Option<f64>)> =
            report.influencers.iter().map(|i| (format!("@{}", i.handle), i.score / 100.0, None)).collect();
        let _ = write!(
            body,
            "<section id=\"influencers\"><h2>{}</h2>{}<div class=\"scroll\"><table><tr>{}</tr>{rows}</table></div>{}</section>",
            l.influencers_title,
            bars("chart-influencers", &chart),
            l.influencer_headers.iter().map(|h| format!("<th>{h}</th>")).collect::<String>(),
            csv("influencers")
        );
    }
    if let Some(sla) = &report.sla {
        let f = &sla.overall;
        let minutes = |m: Option<i64>| m.map_or_else(|| "—".to_owned(), |m| format!("{m} min"));
        let chart: Vec<(String, f64, Option<f64>)> = sla
            .by_network
            .iter()
            .map(|(network, f)| (network.clone(), f.share_within_target.unwrap_or(0.0), None))
            .collect();
        let _ = write!(
            body,
            "<section id=\"sla\"><h2>{}</h2><div class=\"figures\"><div class=\"figure\"><b>{}</b>{}</div>\
             <div class=\"figure\"><b>{}</b>{}</div><div class=\"figure\"><b>{}</b>{}</div>\
             <div class=\"figure\"><b>{}</b>{}</div></div>{}<p class=\"muted\">{}</p>{}</section>",
            l.sla_title,
            pct(f.share_within_target),
            l.within_target,
            minutes(f.median_first_response_minutes),
            l.median,
            minutes(f.p90_first_response_minutes),
            l.p90,
            f.tickets,
            l.solicitations,
            bars("chart-sla", &chart),
            l.sla_caption,
            csv("sla")
        );
    }
    if report.has(Section::Alerts) {
        let mut rows = String::new();
        for a in &report.alerts {
            let explanation: crate::crises::Explanation =
                serde_json::from_value(a.explanation.clone()).unwrap_or_default();
            let _ = write!(
                rows,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                a.opened_at.format("%Y-%m-%d %H:%M"),
                esc(&a.kind.replace('_', " ")),
                esc(&a.severity),
                esc(&a.status),
                esc(&a.resolution_note.clone().unwrap_or(explanation.summary))
            );
        }
        if report.alerts.is_empty() {
            let _ = write!(rows, "<tr><td colspan=\"5\" class=\"muted\">{}</td></tr>", l.no_alert);
        }
        let _ = write!(
            body,
            "<section id=\"alerts\"><h2>{}</h2><div class=\"scroll\"><table><tr>{}</tr>{rows}</table></div>\
             <p class=\"muted\">{}</p>{}</section>",
            l.alerts_title,
            l.alert_headers.iter().map(|h| format!("<th>{h}</th>")).collect::<String>(),
            esc(&precision_summary(&report.precision, &l)),
            csv("alerts")
        );
    }
    if let Some(csr) = &report.csr {
        let chart: Vec<(String, f64, Option<f64>)> =
            csr.pillars.iter().map(|p| (p.pillar.name.clone(), p.share, Some(p.target_share))).collect();
        let _ = write!(
            body,
            "<section id=\"csr\"><h2>{}</h2><div class=\"figures\"><div class=\"figure\"><b>{}</b>{}</div><div class=\"figure\"><b>{}</b>{}</div></div>{}<p class=\"muted\">{}</p>{}</section>",
            l.csr_title,
            csr.posts,
            l.posts,
            csr.held.len(),
            l.held,
            bars("chart-csr", &chart),
            l.csr_caption,
            csv("csr")
        );
    }
    format!(
        "<h1>{}</h1><p class=\"muted\">{} {period} · {} {}</p>{body}",
        esc(&report.brand.name),
        l.report_for,
        l.generated,
        report.generated_at.format("%Y-%m-%d %H:%M UTC")
    )
}
