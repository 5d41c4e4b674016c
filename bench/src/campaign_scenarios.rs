//! Campaign scenarios: days of simulated traffic for a brand and two competitors,
//! replayed through the real storage, scoring and detection on PostgreSQL, with
//! injected events: calls to boycott the brand, a positive post going viral, an
//! organic outcry, a brigade of fresh accounts posting near-duplicate calls, and a
//! boycott of a competitor (which must alert nobody). Prints, per event, the time to
//! its alert (simulated), the alerts it raised and their coordination scores, then the
//! alerts on calm days.
//!
//! Detection runs as production runs it, after each batch the brand stores (batches of
//! 30 simulated seconds), at the batch's time. Targets: every event alerted within 2
//! minutes of its start, the brigade's coordination score above every organic event's,
//! no alert on calm days.
//!
//! ```sh
//! cargo build --release -p vigie-bench
//! target/release/campaign-scenarios [days]   # default 14
//! ```

use chrono::{DateTime, Datelike, Duration, Utc};
use sea_orm::{ActiveModelTrait, EntityTrait, Set};
use std::collections::BTreeMap;
use vigie_bench::{Env, hourly_rate, scenario_brand};
use vigie_domain::Network;
use vigie_domain::System;
use vigie_domain::competition::{self, CompetitorInput};
use vigie_domain::crises::{self, Metrics};
use vigie_domain::demo::Rng;
use vigie_domain::entities::alert;
use vigie_domain::mentions::store::{self, NewAuthor, NewMention, Provenance};
use vigie_domain::sources::{self, NewSource, SourceKind};

const BRAND: &str = "Florea";
const RIVALS: [&str; 2] = ["Herbalia", "Lumen"];

const PRAISE: &[&str] = &[
    "J'adore la crème {b}, ma peau revit",
    "Commande {b} reçue en deux jours, merci !",
    "Love my new {b} face cream, so soft",
    "Just tried the {b} solid shampoo, pretty good honestly",
    "{b} haul today, can't wait to try everything",
    "Quelqu'un a testé le déodorant {b} ? Des avis ?",
];
const COMPLAINTS: &[&str] = &[
    "Toujours pas reçu ma commande {b}, ça fait une semaine",
    "{b} c'est devenu trop cher pour ce que c'est",
    "My {b} order is late again, a bit annoying",
    "Waited 40 minutes on the {b} hotline today",
];
const COMPARISONS: &[&str] = &[
    "{b} ou {r} pour le shampoing solide ? J'hésite",
    "Switched from {r} to {b}, no regrets",
    "{r} is cheaper than {b} but the smell is worse",
];
/// Calls to boycott, each in its author's own words: an opener, a call, a reason and
/// a tail, drawn apart.
const CALL: [&[&str]; 4] = [
    &["Franchement,", "Bon,", "Honestly,", "Sérieusement :", "Ok so", "Je suis écœurée :"],
    &[
        "boycottez {b}",
        "stop buying {b}",
        "n'achetez plus {b}",
        "don't buy {b} anymore",
        "arrêtez d'acheter {b}",
        "signez la pétition contre {b}",
    ],
    &[
        "ils testent encore sur les animaux",
        "they still test on animals",
        "après ce reportage sur leurs usines",
        "after what we learned about their suppliers",
        "tant qu'ils mentent sur leurs ingrédients",
        "until they change",
    ],
    &["#Boycott{B}", "", "#AnimalTesting", "🐰", "RT svp"],
];
const VIRAL: [&[&str]; 3] = [
    &[
        "This {b} ad made me cry,",
        "Bravo {b},",
        "Love what {b} did for the hospital,",
        "{b} just won me over,",
        "Quelle belle initiative de {b},",
    ],
    &[
        "what a beautiful campaign",
        "la plus belle campagne de l'année",
        "great brand",
        "amazing and kind",
        "je les aime encore plus",
    ],
    &["❤️", "👏", "", "🙌", "merci !"],
];
const OUTCRY: [&[&str]; 3] = [
    &[
        "{b} charged my card three times",
        "Triple prélèvement chez {b}",
        "{b} a débité ma carte deux fois",
        "My bank shows four {b} charges for one order",
        "{b} overcharged me today",
        "Site {b} en panne et commande débitée deux fois",
    ],
    &[
        "and support never answers",
        "service client injoignable",
        "no refund in sight, terrible",
        "c'est honteux",
        "absolutely disgusting",
        "je suis furieuse",
    ],
    &["", "third time this year", "merci de rembourser", "fix this now", "scandaleux"],
];

/// A text drawn part by part.
fn compose(rng: &mut Rng, parts: &[&[&str]]) -> String {
    let words: Vec<String> =
        parts.iter().map(|list| fill(rng.pick(list), "")).filter(|part| !part.is_empty()).collect();
    words.join(" ")
}

/// The brigade's one message, lightly edited per copy.
const BRIGADE: &str = "Boycott {b} now! They lie to all of us, share this everywhere #Boycott{B}";

/// An injected event.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Event {
    Boycott,
    Viral,
    Outcry,
    Brigade,
    RivalBoycott,
}

impl Event {
    fn name(self) -> &'static str {
        match self {
            Event::Boycott => "boycott calls",
            Event::Viral => "positive post going viral",
            Event::Outcry => "organic outcry",
            Event::Brigade => "brigade of fresh accounts",
            Event::RivalBoycott => "boycott of a competitor",
        }
    }
    /// The alert kinds that catch it (none: it must raise nothing).
    fn kinds(self) -> &'static [&'static str] {
        match self {
            Event::Boycott => &[crises::MOBILISATION],
            Event::Viral => &[crises::POSITIVE_SPIKE],
            Event::Outcry => &[crises::NEGATIVE_SPIKE],
            Event::Brigade => &[crises::MOBILISATION, crises::NEGATIVE_SPIKE],
            Event::RivalBoycott => &[],
        }
    }
}

/// How long after an event its alerts count for it.
const SPAN: Duration = Duration::hours(3);
/// Detection batches.
const STEP: Duration = Duration::seconds(30);
/// The latency target.
const TARGET: Duration = Duration::minutes(2);

struct Post {
    at: DateTime<Utc>,
    text: String,
    followers: i64,
    author: String,
    named: bool,
    created: Option<DateTime<Utc>>,
    shares: i64,
}

fn post(at: DateTime<Utc>, text: String, followers: i64, author: String) -> Post {
    Post { at, text, followers, author, named: true, created: Some(at - Duration::days(900)), shares: 0 }
}

fn fill(template: &str, rival: &str) -> String {
    template.replace("{b}", BRAND).replace("{B}", BRAND).replace("{r}", rival)
}

/// Every post of the run and the events' start times.
fn traffic(rng: &mut Rng, start: DateTime<Utc>, days: i64) -> (Vec<Post>, Vec<(Event, DateTime<Utc>)>) {
    let mut posts = Vec::new();
    let mut hour = start;
    let end = start + Duration::days(days);
    let user = |rng: &mut Rng| format!("user{}", rng.next_u64() % 20_000);
    while hour < end {
        for _ in 0..rng.poisson(hourly_rate(hour, 240.0)) {
            let at = hour + Duration::seconds((rng.unit() * 3600.0) as i64);
            let roll = rng.unit();
            let list = if roll < 0.7 {
                PRAISE
            } else if roll < 0.9 {
                COMPLAINTS
            } else {
                COMPARISONS
            };
            let rival = RIVALS[rng.next_u64() as usize % 2];
            let followers = (300.0 * (rng.unit() * 8.0).exp() / 10.0) as i64;
            let text = fill(rng.pick(list), rival);
            posts.push(post(at, text, followers, user(rng)));
        }
        // The competitors' own traffic, in the brand's sources (sector searches).
        for rival in RIVALS {
            for _ in 0..rng.poisson(hourly_rate(hour, 300.0)) {
                let at = hour + Duration::seconds((rng.unit() * 3600.0) as i64);
                let list = if rng.unit() < 0.75 { PRAISE } else { COMPLAINTS };
                let text = rng.pick(list).replace("{b}", rival);
                posts.push(post(at, text, 200, user(rng)));
            }
        }
        hour += Duration::hours(1);
    }
    let day = |d: i64, h: i64, m: i64| start + Duration::days(d) + Duration::hours(h) + Duration::minutes(m);
    let mut events = Vec::new();
    // Boycott calls: thirty people in their own words over two hours, front-loaded.
    let t0 = day(3, 14, 7);
    events.push((Event::Boycott, t0));
    for i in 0..30 {
        let at = t0 + Duration::seconds(((i as f64).powf(2.0) * 8.0 + rng.unit() * 20.0) as i64);
        let text = compose(rng, &CALL);
        posts.push(Post { shares: 5 * i, ..post(at, text, 400 + 37 * i, format!("activist{i}")) });
    }
    // A post going viral in the brand's favour, then the crowd.
    let t0 = day(5, 11, 3);
    events.push((Event::Viral, t0));
    let celebrity = fill("Watch this: {b} paid for a children's hospital wing, wonderful people", "");
    posts.push(Post { shares: 12_000, ..post(t0, celebrity, 350_000, "celebrity".into()) });
    for i in 0..80 {
        let at = t0 + Duration::seconds(((i as f64).powf(1.5) * 3.0 + rng.unit() * 10.0) as i64);
        let text = compose(rng, &VIRAL);
        posts.push(post(at, text, 150 + 23 * i as i64, format!("fan{i}")));
    }
    // An organic outcry: sixty customers, their own words, front-loaded.
    let t0 = day(7, 20, 11);
    events.push((Event::Outcry, t0));
    for i in 0..60 {
        let at = t0 + Duration::seconds(((i as f64).powf(1.5) * 3.0 + rng.unit() * 10.0) as i64);
        let text = compose(rng, &OUTCRY);
        posts.push(post(at, text, 80 + 13 * i as i64, format!("customer{i}")));
    }
    // A boycott of a competitor: must not alert the brand.
    let t0 = day(9, 10, 0);
    events.push((Event::RivalBoycott, t0));
    for i in 0..30 {
        let at = t0 + Duration::seconds(((i as f64).powf(2.0) * 8.0) as i64);
        let text = compose(rng, &CALL).replace(BRAND, RIVALS[0]);
        posts.push(post(at, text, 500, format!("rivalfoe{i}")));
    }
    // A brigade: forty accounts made three days before, no profile, posting copies of
    // one message in bursts of the same seconds.
    let t0 = day(11, 9, 0);
    events.push((Event::Brigade, t0));
    for burst in 0..3i64 {
        for i in 0..40i64 {
            let at = t0 + Duration::minutes(burst * 7) + Duration::seconds(i % 8);
            let edit = ["", "!", " !!", " now", " 😡"][(i as usize + burst as usize) % 5];
            posts.push(Post {
                at,
                text: format!("{}{edit}", fill(BRIGADE, "")),
                followers: 2 + i % 5,
                author: format!("freshacct{i}"),
                named: false,
                created: Some(t0 - Duration::days(3)),
                shares: 0,
            });
        }
    }
    posts.sort_by_key(|p| p.at);
    (posts, events)
}

fn verdict(ok: bool) -> &'static str {
    if ok { "PASS" } else { "FAIL" }
}

fn mention(id: String, post: &Post) -> NewMention {
    NewMention {
        external_id: id.clone(),
        network: "mastodon".into(),
        url: Some(format!("https://mastodon.example/@u/{id}")),
        text: post.text.clone(),
        lang: None,
        published_at: post.at,
        author: NewAuthor {
            handle: post.author.clone(),
            display_name: post.named.then(|| format!("{} (name)", post.author)),
            profile_url: None,
            followers: Some(post.followers),
            following: Some(150),
            verified: false,
            account_created_at: post.created,
            authoritative: true,
        },
        likes: post.shares,
        shares: post.shares,
        replies: 0,
        views: 0,
        in_reply_to: None,
        in_reply_to_author: None,
        direct: false,
        rating: None,
    }
}

#[tokio::main]
async fn main() {
    vigie_domain::platform::telemetry::init_logs();
    let days = std::env::args().nth(1).map(|a| a.parse::<i64>().expect("days")).unwrap_or(14);
    let env = Env::start(&[]).await;
    let services = &env.services;
    // A Monday midnight (UTC) far enough back: the traffic's daily and weekly rhythm,
    // hence every post, is the same at every run.
    let back = (vigie_domain::now() - Duration::days(days + 7)).date_naive();
    let monday = back - Duration::days(i64::from(back.weekday().num_days_from_monday()));
    let start = monday.and_time(chrono::NaiveTime::MIN).and_utc();
    let end = start + Duration::days(days);
    let mut rng = Rng::new(0xB0_1C07);

    let brand = scenario_brand(&env, BRAND).await;
    for rival in RIVALS {
        let input = CompetitorInput { name: rival.into(), keywords: Vec::new(), handles: Vec::new() };
        competition::create(services, &env.actor, brand.id, input).await.expect("competitor");
    }
    let source = sources::create(
        services,
        &env.actor,
        NewSource {
            brand_id: brand.id,
            network: Network::Mastodon,
            kind: SourceKind::Search,
            target: "cosmétique".into(),
            endpoint: None,
            connection_id: None,
            poll_interval_secs: None,
            enabled: Some(false),
        },
    )
    .await
    .expect("source");
    let (posts, events) = traffic(&mut rng, start, days);
    println!("{BRAND} and {}: {} posts over {days} days", RIVALS.join(", "), posts.len());

    // Replay; alerts resolve an hour after they open, as an agency on call would.
    let mut opened: Vec<alert::Model> = Vec::new();
    let mut next = 0;
    let mut at = start;
    let clock = std::time::Instant::now();
    while at < end {
        at += STEP;
        let from = next;
        while next < posts.len() && posts[next].at < at {
            next += 1;
        }
        if from < next {
            let batch = (from..next).map(|i| mention(format!("p{i}"), &posts[i])).collect();
            store::store(System::for_tests(), services, &brand, &source, batch, Provenance::Collected)
                .await
                .expect("store");
            for id in crises::detect::detect_at(System::for_tests(), services, brand.id, at).await.expect("detect") {
                if !opened.iter().any(|a| a.id == id) {
                    opened.push(alert::Entity::find_by_id(id).one(&services.db).await.expect("alert").expect("alert"));
                }
            }
        }
        for a in opened.iter().filter(|a| a.resolved_at.is_none() && a.opened_at + Duration::hours(1) <= at) {
            let mut model: alert::ActiveModel = a.clone().into();
            model.status = Set("resolved".into());
            model.resolved_at = Set(Some(at));
            model.open_key = Set(None);
            model.update(&services.db).await.expect("resolve");
        }
        for a in opened.iter_mut().filter(|a| a.resolved_at.is_none() && a.opened_at + Duration::hours(1) <= at) {
            a.resolved_at = Some(at);
        }
    }
    println!("replayed in {:.0} s\n", clock.elapsed().as_secs_f64());

    // The latest coordination of each alert.
    let mut scores = BTreeMap::new();
    for a in &opened {
        let stored = alert::Entity::find_by_id(a.id).one(&services.db).await.expect("alert").expect("alert");
        let metrics: Metrics = serde_json::from_value(stored.metrics).unwrap_or_default();
        scores.insert(a.id, metrics.coordination.map_or(0.0, |c| c.score));
    }
    let explained = |a: &alert::Model| {
        events
            .iter()
            .any(|(e, t0)| e.kinds().contains(&a.kind.as_str()) && a.opened_at >= *t0 && a.opened_at <= *t0 + SPAN)
    };
    println!("| injected event | alert | time to alert (simulated) | alerts raised | coordination score |");
    println!("|---|---|---|---|---|");
    let (mut all_in_time, mut brigade, mut organic_max) = (true, 0.0f64, 0.0f64);
    for (event, t0) in &events {
        let raised: Vec<&alert::Model> =
            opened.iter().filter(|a| a.opened_at >= *t0 && a.opened_at <= *t0 + SPAN).collect();
        let caught: Vec<&&alert::Model> = raised.iter().filter(|a| event.kinds().contains(&a.kind.as_str())).collect();
        let first = caught.iter().map(|a| a.opened_at - *t0).min();
        let score = caught.iter().map(|a| scores[&a.id]).fold(0.0, f64::max);
        let ok = if event.kinds().is_empty() { raised.is_empty() } else { first.is_some_and(|f| f <= TARGET) };
        all_in_time &= ok;
        match event {
            Event::Brigade => brigade = score,
            Event::RivalBoycott => {}
            _ => organic_max = organic_max.max(score),
        }
        let kinds: Vec<&str> = raised.iter().map(|a| a.kind.as_str()).collect();
        println!(
            "| {} | {} | {} | {} | {score:.1} |",
            event.name(),
            if event.kinds().is_empty() { "none expected".to_owned() } else { event.kinds().join(" or ") },
            first.map_or_else(|| "—".to_owned(), |f| format!("{} s", f.num_seconds())),
            if kinds.is_empty() { "none".to_owned() } else { kinds.join(", ") },
        );
    }
    let calm: Vec<&alert::Model> = opened.iter().filter(|a| !explained(a)).collect();
    for a in &calm {
        let summary = a.explanation["summary"].as_str().unwrap_or_default();
        println!("  alert on a calm day: {} at {}: {summary}", a.kind, a.opened_at);
    }
    println!("\nalerts on calm days: {}", calm.len());
    println!(
        "\ntargets: every event alerted within 2 min (and none for the competitor's boycott): {}; brigade scored above every organic event ({brigade:.1} > {organic_max:.1}): {}; no alert on calm days: {}",
        verdict(all_in_time),
        verdict(brigade > organic_max),
        verdict(calm.is_empty())
    );
    env.finish().await;
}
