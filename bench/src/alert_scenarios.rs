//! Alert scenarios: weeks of simulated traffic for several brands, replayed through the
//! real storage, scoring and detection on PostgreSQL, with injected events; prints, per
//! kind, the events caught, the time to alert (simulated) and the false alerts.
//!
//! Ordinary traffic has a day and night rhythm and quieter weekends: praise and
//! questions, complaints about delivery and price, complaints that touch the values'
//! keywords without accusing ("packaging arrivé cassé"), now and then a praise of a
//! value, a product launch (a positive surge) and an influencer campaign quoting the
//! brand's own claims. A few organic accusations a month stand for the brand's usual
//! critics. Injected events: a wave of greenwashing accusations, one accusation by a
//! macro influencer, and a negative spike from a delivery failure.
//!
//! Detection runs as production runs it, after each batch a brand stores (batches of
//! two simulated minutes), at the batch's simulated time. An alert opened within three
//! hours of an injected event counts for that event; any other is false. The agency
//! resolves each alert two hours after it opens, judging it confirmed or a false
//! alarm, so the precision the digest would show is printed too.
//!
//! ```sh
//! cargo build --release -p vigie-bench
//! target/release/alert-scenarios [weeks] [brands]   # defaults 8 4
//! ```

use chrono::{DateTime, Duration, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use std::collections::HashMap;
use vigie_bench::{Env, hourly_rate, scenario_brand};
use vigie_domain::Network;
use vigie_domain::System;
use vigie_domain::brands::{self, ValueInput};
use vigie_domain::crises::{self, verdicts};
use vigie_domain::demo::Rng;
use vigie_domain::entities::{alert, brand, mention, source};
use vigie_domain::mentions::store::{self, NewAuthor, NewMention, Provenance};
use vigie_domain::sources::{self, NewSource, SourceKind};

const PRAISE: &[&str] = &[
    "J'adore le shampoing solide {b}, vraiment efficace",
    "Commande {b} reçue en deux jours, merci !",
    "La crème de nuit {b} est top, ma peau revit",
    "Quelqu'un a testé le déodorant {b} ? Des avis ?",
    "{b} : nouvelle routine du matin, je valide",
    "Love my new {b} face cream, so soft",
    "Does {b} ship to Belgium?",
    "Just tried the {b} solid shampoo, pretty good honestly",
    "Shoutout to {b} customer service, quick and kind",
    "{b} haul today, can't wait to try everything",
];
const COMPLAINTS: &[&str] = &[
    "Toujours pas reçu ma commande {b}, ça fait une semaine",
    "{b} c'est devenu trop cher pour ce que c'est",
    "Service client {b} injoignable depuis ce matin",
    "Le gel douche {b} m'a un peu irrité la peau",
    "Déçue par la nouvelle formule {b}, elle sent moins bon",
    "My {b} order is late again, a bit annoying",
    "{b} prices went up, not sure I'll keep buying",
    "The {b} conditioner leaves my hair greasy, meh",
    "Waited 40 minutes on the {b} hotline today",
    "{b} sent me the wrong shade, now I have to return it",
];
/// Complaints that touch the "zero plastic" value's keywords without accusing.
const KEYWORD_COMPLAINTS: &[&str] = &[
    "Le packaging {b} est arrivé abîmé, un peu déçue",
    "L'emballage {b} est impossible à ouvrir sans ciseaux",
    "Packaging {b} cassé encore une fois, faites quelque chose",
    "Mon flacon {b} a fui dans le colis, tout le carton est trempé",
    "My {b} packaging arrived crushed, product is fine though",
    "The {b} packaging is so hard to open, help",
    "{b} refill pouch leaked all over my bag, packaging needs work",
    "Où est-ce qu'on recycle l'emballage {b} ?",
];
const VALUE_PRAISE: &[&str] = &[
    "Bravo {b} pour le zéro plastique, même le scotch est en papier",
    "Enfin une marque vraiment zéro plastique, merci {b} 🌱",
    "{b} packaging is all paper, love it",
    "Plastic free for real: my {b} order had zero plastic 👏",
];
/// Influencers quoting the brand's claims in a campaign.
const CAMPAIGN: &[&str] = &[
    "Avec @{b} je passe au « zéro plastique » dans ma salle de bain 🌱 #ad",
    "Le défi « zéro plastique » de {b} commence aujourd'hui ! #partenariat",
    "\"Zero plastic, zero compromise\": trying the new {b} range #sponsored",
    "{b} promet le zéro plastique et les recharges sont vraiment pratiques #ad",
];
const LAUNCH: &[&str] = &[
    "Le nouveau sérum {b} est sorti, il est incroyable",
    "Lancement {b} : la gamme solide arrive enfin 😍",
    "The new {b} serum is out and it's amazing",
    "Just got the {b} launch box, obsessed",
];
const ACCUSATIONS: &[&str] = &[
    "{b} se dit zéro plastique mais mon colis était plein de film",
    "Pur greenwashing chez {b}, trois couches de plastique autour d'un savon",
    "Zéro plastique mon œil, {b} emballe tout sous blister",
    "So much for {b}'s plastic free pledge, everything came shrink-wrapped",
    "{b} claims to be plastic free but the refills come in plastic pouches",
    "Hypocrites : {b} vend du « zéro plastique » emballé dans du plastique",
    "{b} greenwashing again, their packaging is full of plastic",
    "Soi-disant zéro plastique chez {b}, regardez ce colis",
];
const DELIVERY_FAILURE: &[&str] = &[
    "{b} ma commande n'est jamais arrivée, service client injoignable, scandaleux",
    "Colis {b} perdu, aucun remboursement, honteux",
    "{b} worst delivery ever, order lost and no refund",
    "Still no {b} parcel after 3 weeks, terrible service",
    "{b} livraison catastrophique, plus jamais",
];

/// What was injected, to be caught.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Event {
    Greenwashing,
    MacroAccusation,
    DeliveryFailure,
}

impl Event {
    fn kind(self) -> &'static str {
        match self {
            Event::Greenwashing | Event::MacroAccusation => crises::VALUE_GAP,
            Event::DeliveryFailure => crises::NEGATIVE_SPIKE,
        }
    }
    fn name(self) -> &'static str {
        match self {
            Event::Greenwashing => "greenwashing wave",
            Event::MacroAccusation => "macro influencer's accusation",
            Event::DeliveryFailure => "delivery-failure spike",
        }
    }
}

/// How long after an event an alert still counts for it.
const EVENT_SPAN: Duration = Duration::hours(3);
/// Detection batches.
const STEP: Duration = Duration::minutes(2);

/// One simulated post.
struct Post {
    at: DateTime<Utc>,
    text: String,
    followers: i64,
    /// Which of the brand's audience wrote it.
    author: u64,
}

fn ordinary(rng: &mut Rng, brand: &str, at: DateTime<Utc>) -> Post {
    let roll = rng.unit();
    let (list, followers): (&[&str], i64) = if roll < 0.70 {
        (PRAISE, 300)
    } else if roll < 0.92 {
        (COMPLAINTS, 300)
    } else if roll < 0.98 {
        (KEYWORD_COMPLAINTS, 300)
    } else {
        (VALUE_PRAISE, 2_000)
    };
    // Audiences from a few dozen to a few hundred thousand, mostly small.
    let followers = (followers as f64 * (rng.unit() * 8.0).exp() / 10.0) as i64;
    Post { at, text: rng.pick(list).replace("{b}", brand), followers, author: rng.next_u64() % 5_000 }
}

/// Every post of one brand over the run, and the injected events' start times.
fn traffic(
    rng: &mut Rng,
    brand: &str,
    index: usize,
    start: DateTime<Utc>,
    weeks: i64,
) -> (Vec<Post>, Vec<(Event, DateTime<Utc>)>) {
    let mut posts = Vec::new();
    let end = start + Duration::weeks(weeks);
    let per_day = 240.0 + 60.0 * index as f64;
    let mut hour = start;
    while hour < end {
        for _ in 0..rng.poisson(hourly_rate(hour, per_day)) {
            let at = hour + Duration::seconds((rng.unit() * 3600.0) as i64);
            posts.push(ordinary(rng, brand, at));
        }
        // The brand's usual critics: about three accusations a month.
        if rng.unit() < 0.1 / 24.0 {
            let at = hour + Duration::seconds((rng.unit() * 3600.0) as i64);
            posts.push(Post {
                at,
                text: rng.pick(ACCUSATIONS).replace("{b}", brand),
                followers: 400,
                author: rng.next_u64() % 5_000,
            });
        }
        hour += Duration::hours(1);
    }
    let day =
        |week: i64, day: i64, hour: i64| start + Duration::weeks(week) + Duration::days(day) + Duration::hours(hour);
    // A product launch: a day of praise three times the usual volume.
    let launch = day(2, 4 - index as i64 % 2, 9);
    for i in 0..600 {
        let at = launch + Duration::seconds((rng.unit() * 86_400.0) as i64);
        let text = rng.pick(LAUNCH).replace("{b}", brand);
        posts.push(Post { at, text, followers: 200 + 97 * (i % 50), author: rng.next_u64() % 5_000 });
    }
    // A campaign of influencers quoting the brand's claims, over two hours.
    let campaign = day(3, 1, 17);
    for i in 0..40 {
        let at = campaign + Duration::seconds((rng.unit() * 7_200.0) as i64);
        posts.push(Post {
            at,
            text: rng.pick(CAMPAIGN).replace("{b}", brand),
            followers: 20_000 + 3_000 * i,
            author: 10_000 + i as u64,
        });
    }

    let mut events = Vec::new();
    // A wave of greenwashing accusations: one every two minutes, then every four.
    let wave = day(2, 2 + index as i64 % 3, 14) + Duration::minutes(7 * index as i64);
    events.push((Event::Greenwashing, wave));
    for i in 0..45 {
        let minutes = if i < 10 { 2 * i } else { 20 + 4 * (i - 10) };
        let at = wave + Duration::minutes(minutes) + Duration::seconds((rng.unit() * 60.0) as i64);
        posts.push(Post {
            at,
            text: rng.pick(ACCUSATIONS).replace("{b}", brand),
            followers: 150 + 40 * i,
            author: 20_000 + i as u64,
        });
    }
    // One macro influencer accuses the brand.
    let macro_at = day(3, 4, 9) + Duration::minutes(31);
    events.push((Event::MacroAccusation, macro_at));
    posts.push(Post {
        at: macro_at,
        text: rng.pick(ACCUSATIONS).replace("{b}", brand),
        followers: 850_000,
        author: 30_000,
    });
    // A delivery failure: sixty complaints in half an hour, front-loaded.
    let failure = day(4, 1, 20);
    events.push((Event::DeliveryFailure, failure));
    for i in 0..60 {
        let at = failure + Duration::seconds(((i as f64).powf(1.5) * 11.0 + rng.unit() * 20.0) as i64);
        posts.push(Post {
            at,
            text: rng.pick(DELIVERY_FAILURE).replace("{b}", brand),
            followers: 80 + 13 * i,
            author: 40_000 + i as u64,
        });
    }
    posts.sort_by_key(|p| p.at);
    (posts, events)
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
            handle: format!("user{}", post.author),
            display_name: None,
            profile_url: None,
            followers: Some(post.followers),
            following: Some(150),
            verified: false,
            account_created_at: None,
            authoritative: true,
        },
        likes: 3,
        shares: 0,
        replies: 0,
        views: 0,
        in_reply_to: None,
        in_reply_to_author: None,
        direct: false,
        rating: None,
    }
}

struct Tally {
    caught: Vec<i64>,
    missed: usize,
}

#[tokio::main]
async fn main() {
    vigie_domain::platform::telemetry::init_logs();
    let mut args = std::env::args().skip(1).map(|a| a.parse::<i64>().expect("numeric arguments"));
    let weeks = args.next().unwrap_or(8);
    let brand_count = args.next().unwrap_or(4) as usize;
    let env = Env::start(&[]).await;
    let services = &env.services;
    let end = vigie_domain::now();
    let start = end - Duration::weeks(weeks);
    let mut rng = Rng::new(0x5EED);

    let mut brands: Vec<(brand::Model, source::Model)> = Vec::new();
    let mut schedule: Vec<Vec<Post>> = Vec::new();
    let mut injected: Vec<Vec<(Event, DateTime<Utc>)>> = Vec::new();
    for i in 0..brand_count {
        let name = format!("Marque{}", ["Verte", "Claire", "Douce", "Pure", "Fraîche", "Vive"][i % 6]);
        let brand = scenario_brand(&env, &name).await;
        let keywords = ["plastique", "plastic", "packaging", "emballage", "plastic free"];
        let value = ValueInput {
            name: "Zéro plastique".into(),
            description: String::new(),
            keywords: keywords.iter().map(ToString::to_string).collect(),
        };
        brands::create_value(services, &env.actor, brand.id, value).await.expect("value");
        let source = sources::create(
            services,
            &env.actor,
            NewSource {
                brand_id: brand.id,
                network: Network::Mastodon,
                kind: SourceKind::Hashtag,
                target: name.to_lowercase(),
                endpoint: None,
                connection_id: None,
                poll_interval_secs: None,
                enabled: Some(false),
            },
        )
        .await
        .expect("source");
        let (posts, events) = traffic(&mut rng, &name, i, start, weeks);
        println!("{name}: {} posts over {weeks} weeks", posts.len());
        brands.push((brand, source));
        schedule.push(posts);
        injected.push(events);
    }

    // Replay, batch after batch; alerts resolve two hours after they open.
    let mut next = vec![0usize; brand_count];
    let mut opened: Vec<(usize, alert::Model)> = Vec::new();
    let mut to_resolve: Vec<(DateTime<Utc>, uuid::Uuid, bool)> = Vec::new();
    let mut at = start;
    let clock = std::time::Instant::now();
    while at < end {
        at += STEP;
        for (b, (brand, source)) in brands.iter().enumerate() {
            let posts = &schedule[b];
            let from = next[b];
            while next[b] < posts.len() && posts[next[b]].at < at {
                next[b] += 1;
            }
            if from == next[b] {
                continue;
            }
            let batch = (from..next[b]).map(|i| mention(format!("{b}-{i}"), &posts[i])).collect();
            store::store(System::for_tests(), services, brand, source, batch, Provenance::Collected)
                .await
                .expect("store");
            for id in crises::detect::detect_at(System::for_tests(), services, brand.id, at).await.expect("detect") {
                let model = alert::Entity::find_by_id(id).one(&services.db).await.expect("alert").expect("alert");
                if model.opened_at == at && !opened.iter().any(|(_, a)| a.id == id) {
                    let genuine =
                        injected[b].iter().any(|(e, t0)| e.kind() == model.kind && *t0 <= at && at <= *t0 + EVENT_SPAN);
                    to_resolve.push((at + Duration::hours(2), id, genuine));
                    opened.push((b, model));
                }
            }
        }
        // The agency closes alerts two hours after they open, with its verdict.
        let (due, later): (Vec<_>, Vec<_>) = to_resolve.drain(..).partition(|(when, _, _)| *when <= at);
        to_resolve = later;
        for (_, id, genuine) in due {
            let found = alert::Entity::find_by_id(id).one(&services.db).await.expect("alert").expect("alert");
            let mut model: alert::ActiveModel = found.into();
            model.status = Set("resolved".into());
            model.resolved_at = Set(Some(at));
            model.open_key = Set(None);
            model.verdict = Set(Some(if genuine { "confirmed" } else { "false_alarm" }.into()));
            model.judged_at = Set(Some(at));
            model.update(&services.db).await.expect("resolve");
        }
    }
    println!("replayed in {:.0} s\n", clock.elapsed().as_secs_f64());

    // Per injected event: the first alert of its kind within its span.
    let mut tallies: HashMap<Event, Tally> = HashMap::new();
    for (b, events) in injected.iter().enumerate() {
        for (event, t0) in events {
            let first = opened
                .iter()
                .filter(|(ob, a)| {
                    *ob == b && a.kind == event.kind() && a.opened_at >= *t0 && a.opened_at <= *t0 + EVENT_SPAN
                })
                .map(|(_, a)| (a.opened_at - *t0).num_seconds())
                .min();
            let tally = tallies.entry(*event).or_insert(Tally { caught: Vec::new(), missed: 0 });
            match first {
                Some(seconds) => tally.caught.push(seconds),
                None => {
                    tally.missed += 1;
                    let (brand, _) = &brands[b];
                    let early = mention::Entity::find()
                        .filter(mention::Column::BrandId.eq(brand.id))
                        .filter(mention::Column::PublishedAt.gte(*t0))
                        .filter(mention::Column::PublishedAt.lt(*t0 + Duration::minutes(10)))
                        .all(&services.db)
                        .await
                        .expect("mentions");
                    let negative = early.iter().filter(|m| m.sentiment.is_some_and(|s| s <= -0.1)).count();
                    let accusing = early.iter().filter(|m| m.accuses_value).count();
                    println!(
                        "missed: {} on {} at {t0}: {} mentions in its first 10 minutes, {negative} negative, {accusing} accusing",
                        event.name(),
                        brand.name,
                        early.len()
                    );
                }
            }
        }
    }
    println!("| injected event | caught | time to alert, median / max (simulated) |");
    println!("|---|---|---|");
    let mut all_within = true;
    for event in [Event::Greenwashing, Event::MacroAccusation, Event::DeliveryFailure] {
        let Some(tally) = tallies.get_mut(&event) else { continue };
        tally.caught.sort_unstable();
        let (median, max) = match tally.caught.as_slice() {
            [] => ("—".to_owned(), "—".to_owned()),
            caught => (minutes(caught[caught.len() / 2]), minutes(*caught.last().unwrap_or(&0))),
        };
        all_within &= tally.missed == 0 && tally.caught.iter().all(|s| *s <= 600);
        let total = tally.caught.len() + tally.missed;
        println!("| {} | {}/{total} | {median} / {max} |", event.name(), tally.caught.len());
    }

    // False alerts: those no injected event explains; calm weeks are those with no event.
    let brand_weeks = (brand_count as i64 * weeks) as f64;
    let mut calm_false = 0;
    println!("\n| kind | alerts | false | false per brand-week | false per brand-month |");
    println!("|---|---|---|---|---|");
    let mut false_total = 0;
    for kind in [crises::NEGATIVE_SPIKE, crises::VALUE_GAP] {
        let of_kind: Vec<&(usize, alert::Model)> = opened.iter().filter(|(_, a)| a.kind == kind).collect();
        let false_ones: Vec<&&(usize, alert::Model)> = of_kind
            .iter()
            .filter(|(b, a)| {
                !injected[*b]
                    .iter()
                    .any(|(e, t0)| e.kind() == kind && a.opened_at >= *t0 && a.opened_at <= *t0 + EVENT_SPAN)
            })
            .collect();
        for (b, a) in &false_ones {
            let week = (a.opened_at - start).num_weeks();
            let eventful = injected[*b].iter().any(|(_, t0)| (*t0 - start).num_weeks() == week);
            if !eventful {
                calm_false += 1;
            }
            let summary = a.explanation["summary"].as_str().unwrap_or_default();
            println!("  false {kind} on brand {b}, week {}: {summary}", week + 1);
        }
        false_total += false_ones.len();
        let per_week = false_ones.len() as f64 / brand_weeks;
        println!(
            "| {kind} | {} | {} | {per_week:.3} | {:.2} |",
            of_kind.len(),
            false_ones.len(),
            per_week * 30.0 / 7.0
        );
    }
    println!("\nfalse alerts in calm weeks: {calm_false}");

    let mut lines = Vec::new();
    for (brand, _) in &brands {
        let found = verdicts::precision_of(
            System::for_tests(),
            &services.db,
            brand.agency_id,
            brand.id,
            start,
            end + Duration::hours(1),
        )
        .await
        .expect("precision");
        for p in found {
            lines.push(format!("{} {}: {}/{} confirmed", brand.name, p.kind, p.confirmed, p.judged));
        }
    }
    println!("precision as the digest shows it: {}", lines.join("; "));
    let per_month = false_total as f64 / brand_weeks * 30.0 / 7.0;
    println!(
        "\ntargets: every event caught within 10 min: {}; at most one false alert per brand-month: {} ({per_month:.2}); none in calm weeks: {}",
        verdict(all_within),
        verdict(per_month <= 1.0),
        verdict(calm_false == 0)
    );
    let stray =
        alert::Entity::find().filter(alert::Column::Status.ne("resolved")).all(&services.db).await.expect("alerts");
    println!("alerts still open at the end: {}", stray.len());
    env.finish().await;
}

fn minutes(seconds: i64) -> String {
    format!("{}:{:02}", seconds / 60, seconds % 60)
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "MISSED" }
}
