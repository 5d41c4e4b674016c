//! Sixty days of the demo brands' life, replayed in time order: every eight hours each
//! brand's new posts are stored and scored and detection runs, as the collectors and
//! jobs would; the agency answers tickets, follows up influencers, runs its CSR
//! calendar and handles its alerts at the times a team would.

use chrono::{DateTime, Datelike, Duration, NaiveTime, SubsecRound, TimeZone, Timelike, Utc, Weekday};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use uuid::Uuid;

use super::script::{self, Author, Kind};
use super::{CLIENT_EMAIL, DAYS, DEMO_PASSWORD};
use super::{Rng, receiver};
use crate::System;
use crate::brands::{self, NewBrand, ValueInput};
use crate::calendar::{self, Action, ItemInput, PillarInput};
use crate::crises::{self, Verdict};
use crate::entities::{Handle, alert, brand, brand_influencer, source, ticket};
use crate::mentions::store::{self, NewAuthor, NewMention, Provenance};
use crate::relationships::{self, IdeaInput, IdeaStatus, NewInteraction, RelationshipPatch, RelationshipStatus};
use crate::sources::{self, NewSource, SourceKind};
use crate::webhooks::{self, EndpointPatch, NewEndpoint, delivery};
use crate::{Actor, Network, Result, Role, Services, members, platform::events, platform::outbound, set_simulated_now};

/// Midnight UTC, [`DAYS`] days before `now`.
pub fn start(now: DateTime<Utc>) -> DateTime<Utc> {
    Utc.from_utc_datetime(&(now - Duration::days(DAYS)).date_naive().and_time(NaiveTime::MIN))
}

/// A post to store at its time.
struct Post {
    at: DateTime<Utc>,
    brand: usize,
    handle: String,
    followers: i64,
    engagement: i64,
    text: String,
}

/// What happens at a moment of the history.
enum Event {
    /// Store each brand's posts up to now, detect, run the SLA clock.
    Collect {
        crisis_watch: bool,
    },
    /// The brand's posts of the day before are in: refresh its influencers.
    Nightly,
    Answer {
        ticket: Uuid,
        brand: usize,
        late: bool,
    },
    /// Draft and submit the calendar slot's post.
    Draft {
        brand: usize,
        slot: usize,
        publish_at: DateTime<Utc>,
    },
    Review {
        item: Uuid,
        publish_at: DateTime<Utc>,
    },
    Schedule {
        item: Uuid,
        publish_at: DateTime<Utc>,
    },
    Publish {
        item: Uuid,
    },
    FollowUp {
        brand: usize,
        step: usize,
    },
    HandleAlert {
        alert: Uuid,
        brand: usize,
        step: usize,
    },
    Digests,
    /// Retry the webhook deliveries due.
    Deliver,
}

struct Timeline {
    queue: BinaryHeap<Reverse<(DateTime<Utc>, u64)>>,
    events: Vec<Option<Event>>,
}

impl Timeline {
    fn at(&mut self, at: DateTime<Utc>, event: Event) {
        self.queue.push(Reverse((at, self.events.len() as u64)));
        self.events.push(Some(event));
    }
    fn next(&mut self) -> Option<(DateTime<Utc>, Event)> {
        let Reverse((at, index)) = self.queue.pop()?;
        Some((at, self.events[index as usize].take()?))
    }
}

/// One brand's state in the replay.
struct Demo {
    brand: brand::Model,
    source: source::Model,
    value_ids: Vec<Uuid>,
    pillar_ids: Vec<Uuid>,
    handled_alerts: Vec<Uuid>,
    /// The idea its top influencer suggested.
    idea: Option<Uuid>,
}

fn followers(author: &Author, day: i64) -> i64 {
    let (first, last) = author.followers;
    first + (last - first) * day / DAYS
}

/// Every post of the history, in time order.
fn posts(rng: &mut Rng, start: DateTime<Utc>, end: DateTime<Utc>) -> Vec<Post> {
    let mut posts = Vec::new();
    // Posts by hour of the day (UTC, close to the brands' evenings and lunch breaks).
    const RHYTHM: [f64; 24] = [
        1.0, 0.5, 0.3, 0.2, 0.2, 0.4, 1.0, 2.0, 3.0, 3.0, 3.0, 4.0, 5.0, 4.0, 3.0, 3.0, 3.0, 4.0, 5.0, 6.0, 6.0, 5.0,
        3.0, 2.0,
    ];
    let total: f64 = RHYTHM.iter().sum();
    let hour = |rng: &mut Rng| {
        let mut pick = rng.unit() * total;
        RHYTHM
            .iter()
            .position(|w| {
                pick -= w;
                pick < 0.0
            })
            .unwrap_or(12) as i64
    };
    for (b, brand) in script::BRANDS.iter().enumerate() {
        let texts = |kind: Kind| brand.texts.iter().filter(move |(k, _)| *k == kind).map(|(_, t)| *t);
        for day in 0..=DAYS {
            let date = start + Duration::days(day);
            let weekend = matches!(date.weekday(), Weekday::Sat | Weekday::Sun);
            let volume = brand.daily * if weekend { 0.6 } else { 1.0 } * (1.0 + day as f64 / 120.0);
            let count = (volume * (0.8 + 0.4 * rng.unit())).round() as usize;
            for _ in 0..count {
                let kind = match rng.unit() {
                    x if x < 0.42 => Kind::Praise,
                    x if x < 0.68 => Kind::Neutral,
                    x if x < 0.88 => Kind::Complaint,
                    _ => Kind::Question,
                };
                let options: Vec<&str> = texts(kind).collect();
                let handle = rng.pick(script::CUSTOMERS);
                let followers = 80 + (crate::sha256_hex(handle).as_bytes()[0] as i64) * 15;
                let at = date + Duration::hours(hour(rng)) + Duration::minutes(rng.below(60) as i64);
                posts.push(Post {
                    at,
                    brand: b,
                    handle: handle.into(),
                    followers,
                    engagement: 30,
                    text: rng.pick(&options).into(),
                });
            }
            for author in brand.influencers {
                if day < author.active.0 || day >= author.active.1 || !rng.chance(author.rate) {
                    continue;
                }
                let kind = author.kinds[rng.below(author.kinds.len() as u64) as usize];
                let options: Vec<&str> = texts(kind).collect();
                posts.push(Post {
                    at: date + Duration::hours(8 + rng.below(12) as i64) + Duration::minutes(rng.below(60) as i64),
                    brand: b,
                    handle: author.handle.into(),
                    followers: followers(author, day),
                    engagement: author.engagement,
                    text: rng.pick(&options).into(),
                });
            }
        }
        // The accusation wave: a dozen customers, then the brand's biggest voice.
        if let Some(day) = brand.accusation_wave {
            let date = start + Duration::days(day);
            let options: Vec<&str> = texts(Kind::Accusation).collect();
            for i in 0..12 {
                posts.push(Post {
                    at: date + Duration::hours(7) + Duration::minutes(41 * i),
                    brand: b,
                    handle: script::CUSTOMERS[(3 * i as usize) % script::CUSTOMERS.len()].into(),
                    followers: 400 + 50 * i,
                    engagement: 40,
                    text: options[i as usize % options.len()].into(),
                });
            }
            if let Some(star) = brand.influencers.iter().max_by_key(|a| a.followers.1) {
                posts.push(Post {
                    at: date + Duration::hours(15),
                    brand: b,
                    handle: star.handle.into(),
                    followers: followers(star, day),
                    engagement: star.engagement,
                    text: options[0].into(),
                });
            }
        }
        // The crisis: forty angry posts in half an hour.
        if let Some((day, hour, _)) = brand.crisis {
            let first = start + Duration::days(day) + Duration::hours(i64::from(hour));
            let options: Vec<&str> = texts(Kind::Crisis).collect();
            for i in 0..40i64 {
                posts.push(Post {
                    at: first + Duration::seconds(45 * i + rng.below(30) as i64),
                    brand: b,
                    handle: format!("{}_{i}", script::CUSTOMERS[i as usize % script::CUSTOMERS.len()]),
                    followers: 150 + 40 * i,
                    engagement: 50,
                    text: options[i as usize % options.len()].into(),
                });
            }
        }
    }
    posts.retain(|p| p.at < end);
    posts.sort_by_key(|p| p.at);
    posts
}

fn mention(index: usize, post: &Post) -> NewMention {
    let interactions = post.followers * post.engagement / 1000;
    NewMention {
        external_id: format!("demo-{index}"),
        network: "mastodon".into(),
        url: Some(format!("https://mastodon.social/@{}/{}", post.handle, 110_000_000 + index)),
        text: post.text.clone(),
        lang: None,
        published_at: post.at,
        author: NewAuthor {
            handle: post.handle.clone(),
            display_name: Some(post.handle.clone()),
            profile_url: Some(format!("https://mastodon.social/@{}", post.handle)),
            followers: Some(post.followers),
            following: Some(300),
            verified: post.followers > 100_000,
            account_created_at: None,
            authoritative: true,
        },
        likes: interactions,
        shares: interactions / 8,
        replies: interactions / 15,
        views: 0,
        in_reply_to: None,
        in_reply_to_author: None,
        direct: false,
        rating: None,
    }
}

/// The brands, their values, sources and pillars, and the client viewer.
async fn set_up(services: &Services, owner: &Actor) -> Result<(Vec<Demo>, Actor)> {
    let mut demos = Vec::new();
    for script in script::BRANDS {
        let brand = brands::create(
            services,
            owner,
            NewBrand {
                name: script.name.into(),
                sector: Some(script.sector.into()),
                tracked_keywords: script.keywords.iter().map(|k| (*k).to_owned()).collect(),
                handles: script
                    .handles
                    .iter()
                    .map(|(network, h)| Handle { network: *network, handle: (*h).into() })
                    .collect(),
                time_zone: script.time_zone.into(),
                language: Some(script.language.into()),
                ..Default::default()
            },
        )
        .await?;
        let mut value_ids = Vec::new();
        for (name, description, keywords) in script.values {
            let value = ValueInput {
                name: (*name).into(),
                description: (*description).into(),
                keywords: keywords.iter().map(|k| (*k).to_owned()).collect(),
            };
            value_ids.push(brands::create_value(services, owner, brand.id, value).await?.id);
        }
        let mut pillar_ids = Vec::new();
        for (name, target) in script.pillars {
            let input = PillarInput { name: Some((*name).into()), target_share: Some(*target), ..Default::default() };
            pillar_ids.push(calendar::create_pillar(services, owner, brand.id, input).await?.id);
        }
        // The demo never polls a real network: its posts come through a disabled source.
        let source = sources::create(
            services,
            owner,
            NewSource {
                brand_id: brand.id,
                network: Network::Mastodon,
                kind: SourceKind::Hashtag,
                target: script.keywords.iter().find_map(|k| k.strip_prefix('#')).unwrap_or("demo").into(),
                endpoint: None,
                connection_id: None,
                poll_interval_secs: None,
                enabled: Some(false),
            },
        )
        .await?;
        demos.push(Demo { brand, source, value_ids, pillar_ids, handled_alerts: Vec::new(), idea: None });
    }
    let invite = members::Invite {
        email: CLIENT_EMAIL.into(),
        role: Role::ClientViewer,
        brand_ids: demos.iter().map(|d| d.brand.id).collect(),
    };
    let (_, token) = members::issue(services, owner, invite).await?;
    let accept = members::Accept { token, name: Some("Claire Client".into()), password: DEMO_PASSWORD.into() };
    let client = members::accept(services, accept, "demo").await?.actor;
    Ok((demos, client))
}

/// Writes the history, from `start` to the present. The services log two months of
/// breaches and alerts as they happen; only errors are shown while it is written.
pub async fn write(services: &Services, owner: &Actor, start: DateTime<Utc>) -> Result<()> {
    use tracing::instrument::WithSubscriber;
    let errors_only =
        tracing_subscriber::fmt().with_max_level(tracing::Level::ERROR).with_writer(std::io::stderr).finish();
    crate::simulated(start, replay(services, owner, start)).with_subscriber(errors_only).await
}

/// The events the demo's endpoint receives: alerts and missed SLAs.
const HOOKED: [&str; 5] = [
    events::CRISIS_OPENED,
    events::CRISIS_UPDATED,
    events::CRISIS_RESOLVED,
    events::VALUE_GAP_OPENED,
    events::SLA_BREACHED,
];

/// How many days before the present the agency connected its alert relay: within the
/// default retention of delivery logs (30 days), so the history shown is the history kept.
const HOOKED_FOR_DAYS: i64 = 25;

/// The demo's webhook endpoint while the history is written: deliveries go to a
/// stand-in receiver on loopback, which only these services may reach. The endpoint
/// is created [`HOOKED_FOR_DAYS`] before the present; events before it are dispatched
/// to no one, as they would have been.
struct Hooks {
    services: Services,
    receiver: receiver::StandIn,
    endpoint: Option<Uuid>,
}

impl Hooks {
    async fn start(services: &Services) -> Result<Hooks> {
        let receiver = receiver::StandIn::start().await?;
        let services = Services { http: outbound::Http::new(true)?, ..services.clone() };
        Ok(Hooks { services, receiver, endpoint: None })
    }

    /// Creates the endpoint, pointed at the stand-in.
    async fn connect(&mut self, owner: &Actor) -> Result<Uuid> {
        let input = NewEndpoint {
            url: self.receiver.url.clone(),
            description: Some("Alert relay (the demo's receiver, which checks signatures)".into()),
            event_types: HOOKED.iter().map(|t| (*t).to_owned()).collect(),
            brand_ids: Vec::new(),
            enabled: true,
        };
        let endpoint = webhooks::create(&self.services, owner, input).await?;
        self.receiver
            .secrets
            .lock()
            .map_err(|_| crate::Error::internal("the demo receiver's secrets are poisoned"))?
            .push(endpoint.secret);
        self.endpoint = Some(endpoint.id);
        Ok(endpoint.id)
    }

    /// Fans the agency's new events out and makes the attempts due, as the worker would
    /// (connecting the endpoint once `connect_at` has come); returns when the next retry
    /// is due, if one waits.
    async fn deliver(
        &mut self,
        owner: &Actor,
        at: DateTime<Utc>,
        connect_at: DateTime<Utc>,
        down: bool,
    ) -> Result<Option<DateTime<Utc>>> {
        self.receiver.down.store(down, std::sync::atomic::Ordering::SeqCst);
        let endpoint = match self.endpoint {
            Some(endpoint) => endpoint,
            // Until then events wait; they are dispatched to no one just before the
            // endpoint exists, as they would have been.
            None if at < connect_at => return Ok(None),
            None => {
                delivery::dispatch_in(&self.services, Some(owner.agency_id)).await?;
                self.connect(owner).await?
            }
        };
        delivery::dispatch_in(&self.services, Some(owner.agency_id)).await?;
        for (id, _) in delivery::due(&self.services, at, Some(endpoint)).await? {
            delivery::attempt(&self.services, id).await?;
        }
        delivery::next_attempt(&self.services, endpoint).await
    }

    /// Points the endpoint at the api's own receiver, for the deliveries to come.
    async fn hand_over(self, owner: &Actor) -> Result<()> {
        let Some(endpoint) = self.endpoint else { return Ok(()) };
        let url = receiver::url(&self.services.config.public_url);
        let patch = EndpointPatch { url: Some(url), ..Default::default() };
        webhooks::update(&self.services, owner, endpoint, patch).await?;
        Ok(())
    }
}

async fn replay(services: &Services, owner: &Actor, start: DateTime<Utc>) -> Result<()> {
    // The simulated clock reads `start` here; the history ends at the real present.
    let end = Utc::now().trunc_subsecs(6);
    let (mut demos, client) = set_up(services, owner).await?;
    let mut hooks = Hooks::start(services).await?;
    let hooked_from = end - Duration::days(HOOKED_FOR_DAYS);
    let mut retry_at: Option<DateTime<Utc>> = None;
    // The receiver is down through the night of the resolved crisis, the worst time:
    // its deliveries wait and are retried.
    let receiver_down = script::BRANDS
        .iter()
        .find_map(|b| b.crisis.filter(|(_, _, dealt_with)| *dealt_with))
        .map(|(day, hour, _)| start + Duration::days(day) + Duration::hours(i64::from(hour)))
        .map_or(start..start, |crisis| crisis - Duration::hours(1)..crisis + Duration::hours(5));
    let mut rng = Rng::new(0x005E_ED0F_F1CE);
    let posts = posts(&mut rng, start, end);
    let mut next_post = 0;
    let mut timeline = Timeline { queue: BinaryHeap::new(), events: Vec::new() };
    let mut at = start + Duration::hours(8);
    while at < end {
        timeline.at(at, Event::Collect { crisis_watch: false });
        if at.hour() == 0 {
            timeline.at(at + Duration::minutes(5), Event::Nightly);
            if at.weekday() == Weekday::Mon {
                timeline.at(at + Duration::hours(7), Event::Digests);
            }
        }
        at += Duration::hours(8);
    }
    timeline.at(end, Event::Collect { crisis_watch: false });
    for (b, script) in script::BRANDS.iter().enumerate() {
        if let Some((day, hour, _)) = script.crisis {
            let first = start + Duration::days(day) + Duration::hours(i64::from(hour));
            for step in 1..=6 {
                timeline.at(first + Duration::minutes(10 * step), Event::Collect { crisis_watch: true });
            }
        }
        // Two posts a week (Tuesday and Friday, 10:00 in the brand's zone), from the first
        // week to a week ahead.
        let zone: chrono_tz::Tz = script.time_zone.parse().unwrap_or(chrono_tz::UTC);
        let mut slot = 0;
        for day in 0..DAYS + 9 {
            let date = (start + Duration::days(day)).with_timezone(&zone).date_naive();
            if !matches!(date.weekday(), Weekday::Tue | Weekday::Fri) {
                continue;
            }
            let Some(publish_at) = date.and_hms_opt(10, 0, 0).and_then(|t| zone.from_local_datetime(&t).earliest())
            else {
                continue;
            };
            let publish_at = publish_at.with_timezone(&Utc);
            let drafted = publish_at - Duration::days(8);
            if drafted > start && drafted < end {
                timeline.at(drafted, Event::Draft { brand: b, slot, publish_at });
            }
            slot += 1;
        }
        for (step, day) in [(0, 12), (1, 13), (2, 30), (3, 44), (4, DAYS - 3)].into_iter() {
            timeline.at(start + Duration::days(day) + Duration::hours(14), Event::FollowUp { brand: b, step });
        }
    }

    while let Some((at, event)) = timeline.next() {
        if at > end {
            break;
        }
        set_simulated_now(at);
        // Only these write the events the endpoint receives: detection and the SLA clock
        // (alerts, missed SLAs), handling an alert, and retries.
        let hooked = matches!(
            event,
            Event::Collect { .. } | Event::Answer { late: true, .. } | Event::HandleAlert { .. } | Event::Deliver
        );
        match event {
            Event::Collect { crisis_watch } => {
                let upto = posts[next_post..].iter().position(|p| p.at > at).map_or(posts.len(), |n| next_post + n);
                for (b, demo) in demos.iter_mut().enumerate() {
                    let batch: Vec<NewMention> =
                        (next_post..upto).filter(|i| posts[*i].brand == b).map(|i| mention(i, &posts[i])).collect();
                    if batch.is_empty() && !crisis_watch {
                        continue;
                    }
                    let before = crate::now();
                    store::store(System::new(), services, &demo.brand, &demo.source, batch, Provenance::Collected)
                        .await?;
                    for ticket in new_tickets(services, demo.brand.id, before).await? {
                        let recent = at > end - Duration::days(2);
                        if recent {
                            continue;
                        }
                        let late = rng.chance(0.15);
                        let delay = if late {
                            ticket.due_at - at + Duration::minutes(30 + rng.below(300) as i64)
                        } else {
                            Duration::minutes(10 + rng.below(40) as i64)
                        };
                        timeline.at(
                            at + delay.max(Duration::minutes(5)),
                            Event::Answer { ticket: ticket.id, brand: b, late },
                        );
                    }
                    for id in crises::detect::detect_at(System::new(), services, demo.brand.id, at).await? {
                        if !demo.handled_alerts.contains(&id) {
                            demo.handled_alerts.push(id);
                            timeline
                                .at(at + Duration::minutes(35), Event::HandleAlert { alert: id, brand: b, step: 0 });
                        }
                    }
                }
                next_post = upto;
                crate::sla::tickets::run_clock(services).await?;
            }
            Event::Nightly => {
                for demo in &demos {
                    crate::influencers::refresh_stale(System::new(), services, demo.brand.id).await?;
                }
            }
            Event::Answer { ticket, brand, late } => {
                if late {
                    // The clock runs every minute in production: mark the miss first.
                    crate::sla::tickets::run_clock(services).await?;
                }
                let french = demos[brand].brand.language == "fr";
                let text = match (french, late) {
                    (true, false) => {
                        "Bonjour, merci pour votre message ! Nous regardons cela tout de suite et revenons vers vous en DM."
                    }
                    (true, true) => {
                        "Bonjour, toutes nos excuses pour ce délai. Nous avons transmis votre demande et revenons vers vous en DM."
                    }
                    (false, false) => "Hi, thanks for reaching out! We're on it and will follow up by DM.",
                    (false, true) => "Hi, sorry for the slow reply. We've passed this on and will follow up by DM.",
                };
                crate::sla::tickets::respond(services, owner, ticket, text.into(), Some("mastodon".into()), false)
                    .await?;
            }
            Event::Draft { brand, slot, publish_at } => {
                let demo = &demos[brand];
                let script = &script::BRANDS[brand];
                let input = ItemInput {
                    channel: Some("instagram".into()),
                    title: Some(script.posts[slot % script.posts.len()].into()),
                    body: Some(script.posts[slot % script.posts.len()].into()),
                    scheduled_at: Some(publish_at),
                    pillar_ids: Some(vec![demo.pillar_ids[slot % demo.pillar_ids.len()]]),
                    // Each post speaks to the brand's first value: an accusation holds them.
                    value_ids: Some(vec![demo.value_ids[0]]),
                    ..Default::default()
                };
                let item = calendar::create_item(services, owner, demo.brand.id, input).await?;
                calendar::transition(services, owner, item.id, Action::Submit, None, None).await?;
                // Reviewed four days on: drafts come on Mondays and Thursdays, so some
                // are in review whatever day the history ends on (three left Sunday
                // afternoons without any).
                timeline.at(at + Duration::days(4), Event::Review { item: item.id, publish_at });
            }
            Event::Review { item, publish_at } => {
                let item = calendar::transition(services, &client, item, Action::Approve, None, None).await?;
                if item.status == "approved" {
                    timeline.at(at + Duration::days(1), Event::Schedule { item: item.id, publish_at });
                }
            }
            Event::Schedule { item, publish_at } => {
                // An alert may have put it on hold since its approval (which day of the
                // week the history ends on decides it): it stays held for the tour.
                let current = calendar::get_item(&services.db, owner, item).await?;
                if current.status != "approved" {
                    continue;
                }
                let item = calendar::transition(services, owner, item, Action::Schedule, None, None).await?;
                if item.status == "scheduled" {
                    timeline.at(publish_at, Event::Publish { item: item.id });
                }
            }
            Event::Publish { item } => {
                let current = calendar::get_item(&services.db, owner, item).await?;
                if current.status == "scheduled" {
                    let url = format!("https://www.instagram.com/p/demo{}", &item.simple().to_string()[..10]);
                    calendar::transition(services, owner, item, Action::Publish, None, Some(url)).await?;
                }
            }
            Event::FollowUp { brand, step } => follow_up(services, owner, &mut demos[brand], step).await?,
            Event::HandleAlert { alert, brand, step } => {
                let script = &script::BRANDS[brand];
                let model = alert::Entity::find_by_id(alert).one(&services.db).await?;
                let Some(model) = model else { continue };
                let spike = model.kind == crises::NEGATIVE_SPIKE;
                // Last night's crisis is left for the Monday-morning tour.
                if spike && script.crisis.is_some_and(|(_, _, dealt_with)| !dealt_with) {
                    continue;
                }
                let french = script.language == "fr";
                match step {
                    0 => {
                        let note = if french {
                            "Prise en charge : réponse en préparation"
                        } else {
                            "On it: statement in progress"
                        };
                        crises::acknowledge(services, owner, alert, Some(note.into())).await?;
                        // A crisis is over by the next morning; a value gap takes a supplier change.
                        let later = if spike { Duration::hours(14) } else { Duration::days(2) };
                        timeline.at(at + later, Event::HandleAlert { alert, brand, step: 1 });
                    }
                    _ => {
                        let note = match (spike, french) {
                            (true, _) => "App fixed within the hour; riders refunded and told by email",
                            (false, true) => "Transporteur changé : colis sans film plastique depuis lundi",
                            (false, false) => "Supplier changed; the claim is kept and explained",
                        };
                        crises::resolve(services, owner, alert, note.into()).await?;
                        crises::verdicts::judge(services, owner, alert, Verdict::Confirmed, None).await?;
                    }
                }
            }
            Event::Digests => {
                crate::reports::digests::send_digests(System::new(), services, at).await?;
            }
            Event::Deliver => {}
        }
        if hooked && let Some(next) = hooks.deliver(owner, at, hooked_from, receiver_down.contains(&at)).await? {
            // The worker would retry on time: so does the history.
            // Never before now: the simulated clock only moves forward.
            let next = next.max(at + Duration::seconds(1));
            if retry_at.is_none_or(|scheduled| scheduled <= at || next < scheduled) {
                retry_at = Some(next);
                timeline.at(next, Event::Deliver);
            }
        }
    }
    hooks.hand_over(owner).await
}

/// Tickets opened for `brand` since `since`.
async fn new_tickets(services: &Services, brand_id: Uuid, since: DateTime<Utc>) -> Result<Vec<ticket::Model>> {
    Ok(ticket::Entity::find()
        .filter(ticket::Column::BrandId.eq(brand_id))
        .filter(ticket::Column::CreatedAt.gte(since))
        .order_by_asc(ticket::Column::Id)
        .all(&services.db)
        .await?)
}

/// The agency's relationship work with a brand's influencers, at a few moments.
async fn follow_up(services: &Services, owner: &Actor, demo: &mut Demo, step: usize) -> Result<()> {
    let tracked = brand_influencer::Entity::find()
        .filter(brand_influencer::Column::BrandId.eq(demo.brand.id))
        .order_by_desc(brand_influencer::Column::Score)
        .all(&services.db)
        .await?;
    let french = demo.brand.language == "fr";
    let Some(top) = tracked.first() else { return Ok(()) };
    let interaction = |outbound: bool, summary: &str| NewInteraction {
        channel: "dm".into(),
        outbound,
        summary: summary.into(),
        occurred_at: None,
    };
    match step {
        0 => {
            let summary = if french {
                "Premier contact : invitation à tester la nouvelle gamme"
            } else {
                "First contact: invited to try the new range"
            };
            relationships::log_interaction(services, owner, top.id, interaction(true, summary)).await?;
            let patch = RelationshipPatch { status: Some(RelationshipStatus::Engaged), ..Default::default() };
            relationships::update(services, owner, top.id, patch).await?;
            if let Some(second) = tracked.get(1) {
                let patch = RelationshipPatch { status: Some(RelationshipStatus::Watching), ..Default::default() };
                relationships::update(services, owner, second.id, patch).await?;
            }
        }
        1 => {
            let summary = if french {
                "Réponse : ravie, propose un format voyage"
            } else {
                "Reply: happy to, suggests a travel size"
            };
            let reply = relationships::log_interaction(services, owner, top.id, interaction(false, summary)).await?;
            let title = if french { "Un format voyage" } else { "A travel size" };
            let idea = IdeaInput {
                title: Some(title.into()),
                detail: Some(summary.into()),
                linked_interaction_ids: Some(vec![reply.id]),
                ..Default::default()
            };
            demo.idea = Some(relationships::create_idea(services, owner, top.id, idea).await?.id);
        }
        2 => {
            let patch = RelationshipPatch { status: Some(RelationshipStatus::Partner), ..Default::default() };
            relationships::update(services, owner, top.id, patch).await?;
            let summary =
                if french { "Partenariat signé pour le trimestre" } else { "Partnership signed for the quarter" };
            relationships::log_interaction(services, owner, top.id, interaction(true, summary)).await?;
            if let Some(idea) = demo.idea {
                let accepted = IdeaInput { status: Some(IdeaStatus::Accepted), ..Default::default() };
                relationships::update_idea(services, owner, idea, accepted).await?;
            }
        }
        3 => {
            if let Some(idea) = demo.idea {
                let shipped =
                    IdeaInput { status: Some(IdeaStatus::Shipped), reported_back: Some(true), ..Default::default() };
                relationships::update_idea(services, owner, idea, shipped).await?;
                let summary = if french {
                    "Retour : le format voyage sort grâce à elle"
                } else {
                    "Told them: the travel size ships thanks to them"
                };
                relationships::log_interaction(services, owner, top.id, interaction(true, summary)).await?;
            }
        }
        _ => {
            if let Some(rising) =
                tracked.iter().find(|t| t.relationship_status == RelationshipStatus::Discovered.as_str())
            {
                let title = if french { "Une recharge en magasin" } else { "Refills in store" };
                let idea = IdeaInput { title: Some(title.into()), ..Default::default() };
                relationships::create_idea(services, owner, rising.id, idea).await?;
            }
        }
    }
    Ok(())
}
