//! Coordinated-campaign signals: how much an alert's evidence looks like a brigade
//! rather than an organic outcry, as a score (0–100) with its components, never a
//! verdict: it lowers and hides nothing.
//!
//! - **Fresh accounts**: of the authors whose network gives the account's creation date
//!   (`author.account_created_at`: Mastodon, X), the share whose account was made in
//!   the 30 days before they posted. A missing name or a zero follower count says
//!   nothing (untrusted sources leave them so), so authors without a date are left out.
//! - **Near duplicates**: the share of the posts that have a near-duplicate by another
//!   author: MinHash signatures (64 hashes) of each post's word pairs, links and handles
//!   left out, banded for locality-sensitive hashing (16 bands of 4), candidates kept
//!   from an estimated Jaccard similarity of 0.6. Posts of fewer than three word pairs
//!   (a lone hashtag) are too short to tell and are never counted as copies.
//! - **Synchrony**: how much more often posts by different authors fall within 10
//!   seconds of each other than posts spread at random over the same span would:
//!   (observed − expected) / (1 − expected), floored at 0.
//! - **Concentration**: how much of the volume the most active tenth of the authors
//!   writes, beyond their tenth: (share − tenth) / (1 − tenth).
//!
//! The score weighs them 0.3, 0.35, 0.15 and 0.2. It is a signal, not a proof: a
//! brigade that paraphrases, spaces its posts and uses aged accounts scores low.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

use crate::entities::author;
use crate::platform::text::Folded;

/// Posts assessed at most (the most recent of the evidence).
pub const MAX_POSTS: usize = 1_000;
/// An account this young when it posts counts as fresh.
const FRESH: Duration = Duration::days(30);
/// Posts within this of each other are synchronous.
const SYNC: Duration = Duration::seconds(10);
const HASHES: usize = 64;
const BANDS: usize = 16;
const ROWS: usize = HASHES / BANDS;
/// The estimated Jaccard similarity from which two posts are near duplicates.
const SIMILAR: f64 = 0.6;
/// Words of a post read for its signature: a copied message shows in its start.
const MAX_WORDS: usize = 200;

/// The assessment of an alert's evidence.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Coordination {
    /// 0–100: the weighted components.
    pub score: f64,
    /// Each 0–1.
    pub fresh_accounts: f64,
    pub near_duplicates: f64,
    pub synchrony: f64,
    pub concentration: f64,
    /// Posts and distinct authors assessed.
    pub posts: i64,
    pub authors: i64,
    /// The posts of the largest group of near duplicates, at most ten.
    pub duplicate_mention_ids: Vec<Uuid>,
}

/// A post as the assessment reads it.
pub struct Post<'a> {
    pub id: Uuid,
    pub author_id: Option<Uuid>,
    pub text: &'a str,
    pub published_at: DateTime<Utc>,
}

/// Assesses posts, with their authors' profiles (by id).
pub fn assess(posts: &[Post<'_>], profiles: &HashMap<Uuid, author::Model>) -> Coordination {
    let posts = &posts[..posts.len().min(MAX_POSTS)];
    if posts.is_empty() {
        return Coordination::default();
    }
    let fresh_accounts = fresh(posts, profiles);
    let (near_duplicates, duplicate_mention_ids) = duplicates(posts);
    let synchrony = synchrony(posts);
    let concentration = concentration(posts);
    let score = 100.0 * (0.3 * fresh_accounts + 0.35 * near_duplicates + 0.15 * synchrony + 0.2 * concentration);
    let round = |x: f64| (x * 1000.0).round() / 1000.0;
    Coordination {
        score: (score * 10.0).round() / 10.0,
        fresh_accounts: round(fresh_accounts),
        near_duplicates: round(near_duplicates),
        synchrony: round(synchrony),
        concentration: round(concentration),
        posts: posts.len() as i64,
        authors: posts.iter().filter_map(|p| p.author_id).collect::<HashSet<_>>().len() as i64,
        duplicate_mention_ids,
    }
}

fn fresh(posts: &[Post<'_>], profiles: &HashMap<Uuid, author::Model>) -> f64 {
    // Each author once, at its first post.
    let mut first: HashMap<Uuid, DateTime<Utc>> = HashMap::new();
    for p in posts {
        if let Some(author) = p.author_id {
            let at = first.entry(author).or_insert(p.published_at);
            *at = (*at).min(p.published_at);
        }
    }
    let (mut known, mut young) = (0usize, 0usize);
    for (author, posted) in first {
        let Some(created) = profiles.get(&author).and_then(|p| p.account_created_at) else { continue };
        known += 1;
        if posted - created < FRESH {
            young += 1;
        }
    }
    if known == 0 { 0.0 } else { young as f64 / known as f64 }
}

/// A stable 64-bit hash (FNV-1a), then mixed per seed (splitmix64), so signatures are
/// the same on every machine and run.
fn hash(word: &str) -> u64 {
    word.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

fn mix(x: u64, seed: u64) -> u64 {
    let mut z = x ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The MinHash signature of a text's word pairs; `None` for fewer than three pairs.
fn signature(text: &str) -> Option<[u64; HASHES]> {
    // Links and handles differ between copies of one message: they go before folding
    // splits them into words.
    let kept: Vec<&str> = text
        .split_whitespace()
        .filter(|t| !(t.starts_with("http") || t.starts_with("www.") || t.starts_with('@')))
        .collect();
    let words: Vec<String> =
        Folded::new(&kept.join(" ")).words.into_iter().filter(|w| w.chars().count() > 1).take(MAX_WORDS).collect();
    if words.len() < 4 {
        return None;
    }
    let shingles: Vec<u64> = words.windows(2).map(|w| hash(&format!("{} {}", w[0], w[1]))).collect();
    let mut sig = [u64::MAX; HASHES];
    for s in shingles {
        for (i, slot) in sig.iter_mut().enumerate() {
            *slot = (*slot).min(mix(s, i as u64 + 1));
        }
    }
    Some(sig)
}

fn similarity(a: &[u64; HASHES], b: &[u64; HASHES]) -> f64 {
    a.iter().zip(b).filter(|(x, y)| x == y).count() as f64 / HASHES as f64
}

/// The share of posts with a near duplicate by another author, and the largest group.
fn duplicates(posts: &[Post<'_>]) -> (f64, Vec<Uuid>) {
    let signatures: Vec<Option<[u64; HASHES]>> = posts.iter().map(|p| signature(p.text)).collect();
    let mut buckets: HashMap<(usize, u64), Vec<usize>> = HashMap::new();
    for (i, sig) in signatures.iter().enumerate() {
        let Some(sig) = sig else { continue };
        for band in 0..BANDS {
            let key = sig[band * ROWS..(band + 1) * ROWS].iter().fold(0u64, |h, v| mix(h ^ v, band as u64));
            buckets.entry((band, key)).or_default().push(i);
        }
    }
    // Union-find over near-duplicate pairs by different authors.
    let mut parent: Vec<usize> = (0..posts.len()).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    let mut checked: HashSet<(usize, usize)> = HashSet::new();
    let mut duplicated = vec![false; posts.len()];
    for members in buckets.values().filter(|m| m.len() > 1) {
        // A bucket of thousands is one message copied thousands of times: comparing its
        // first post with the others is enough.
        for (n, &a) in members.iter().enumerate() {
            for &b in members.iter().skip(n + 1).take(if n == 0 { usize::MAX } else { 50 }) {
                if posts[a].author_id.is_some() && posts[a].author_id == posts[b].author_id {
                    continue;
                }
                if !checked.insert((a.min(b), a.max(b))) {
                    continue;
                }
                if let (Some(x), Some(y)) = (&signatures[a], &signatures[b])
                    && similarity(x, y) >= SIMILAR
                {
                    duplicated[a] = true;
                    duplicated[b] = true;
                    let (ra, rb) = (root(&mut parent, a), root(&mut parent, b));
                    parent[ra] = rb;
                }
            }
        }
    }
    let share = duplicated.iter().filter(|d| **d).count() as f64 / posts.len() as f64;
    let mut groups: HashMap<usize, Vec<usize>> = HashMap::new();
    for i in (0..posts.len()).filter(|i| duplicated[*i]) {
        let r = root(&mut parent, i);
        groups.entry(r).or_default().push(i);
    }
    let largest = groups.into_values().max_by_key(|g| (g.len(), std::cmp::Reverse(g[0]))).unwrap_or_default();
    (share, largest.into_iter().take(10).map(|i| posts[i].id).collect())
}

fn synchrony(posts: &[Post<'_>]) -> f64 {
    let mut times: Vec<(DateTime<Utc>, Option<Uuid>)> = posts.iter().map(|p| (p.published_at, p.author_id)).collect();
    times.sort_by_key(|t| t.0);
    let n = times.len();
    if n < 3 {
        return 0.0;
    }
    let span = (times[n - 1].0 - times[0].0).num_milliseconds().max(1) as f64;
    let window = SYNC.num_milliseconds() as f64;
    let synced = (0..n)
        .filter(|&i| {
            let near = |j: usize| times[j].1 != times[i].1 || times[i].1.is_none();
            let before = (0..i).rev().take_while(|&j| times[i].0 - times[j].0 <= SYNC).any(near);
            let after = (i + 1..n).take_while(|&j| times[j].0 - times[i].0 <= SYNC).any(near);
            before || after
        })
        .count() as f64
        / n as f64;
    // Posts spread at random over the span: a post has a neighbour within the window
    // with probability 1 − exp(−2 w (n − 1) / span).
    let expected = 1.0 - (-2.0 * window * (n - 1) as f64 / span).exp();
    if expected >= 1.0 { 0.0 } else { ((synced - expected) / (1.0 - expected)).clamp(0.0, 1.0) }
}

fn concentration(posts: &[Post<'_>]) -> f64 {
    let mut per_author: HashMap<Uuid, usize> = HashMap::new();
    for author in posts.iter().filter_map(|p| p.author_id) {
        *per_author.entry(author).or_default() += 1;
    }
    let total: usize = per_author.values().sum();
    if per_author.len() < 2 || total == 0 {
        return 0.0;
    }
    let mut counts: Vec<usize> = per_author.into_values().collect();
    counts.sort_unstable_by(|a, b| b.cmp(a));
    let top = counts.len().div_ceil(10);
    let tenth = top as f64 / counts.len() as f64;
    let share = counts[..top].iter().sum::<usize>() as f64 / total as f64;
    ((share - tenth) / (1.0 - tenth)).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap()
    }

    fn profile(id: Uuid, named: bool, followers: i64, days_old: i64) -> author::Model {
        author::Model {
            id,
            network: "x".into(),
            handle: format!("h{id}"),
            display_name: named.then(|| "A real name".to_owned()),
            profile_url: None,
            bio: None,
            followers,
            following: 0,
            posts_count: None,
            verified: false,
            account_created_at: Some(at(-days_old * 86_400)),
            created_at: at(0),
            updated_at: at(0),
        }
    }

    /// Words an outcry's posts are drawn from, each post its own sequence.
    const WORDS: &[&str] = &[
        "order",
        "never",
        "arrived",
        "support",
        "refund",
        "weeks",
        "parcel",
        "charged",
        "twice",
        "angry",
        "service",
        "waiting",
        "answer",
        "email",
        "phone",
        "hours",
        "lost",
        "tracking",
        "monday",
        "money",
        "back",
        "shop",
        "delivery",
        "late",
        "again",
        "terrible",
        "disappointed",
        "customer",
        "card",
        "bank",
        "problem",
        "today",
    ];

    const ORGANIC: &[&str] = &[
        "My order never arrived and support does not answer",
        "Three weeks without my parcel, this is ridiculous",
        "Refund still pending after a month, disappointed",
        "Customer service hung up on me twice today",
        "Package lost again, never ordering from them",
        "Where is my delivery? tracking says nothing since monday",
        "Worst customer experience I had this year",
        "They charged me twice and nobody replies to emails",
    ];

    #[test]
    fn a_brigade_scores_above_an_outcry() {
        let mut profiles = HashMap::new();
        // An outcry: forty people, their own words, over half an hour, named accounts.
        let organic_ids: Vec<Uuid> = (0..40).map(|_| crate::new_id()).collect();
        let mut seed = 7u64;
        let texts: Vec<String> = (0..40)
            .map(|_| {
                (0..10)
                    .map(|_| {
                        seed = mix(seed, 1);
                        WORDS[(seed % WORDS.len() as u64) as usize]
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        let organic: Vec<Post<'_>> = (0..40)
            .map(|i| Post {
                id: crate::new_id(),
                author_id: Some(organic_ids[i]),
                text: &texts[i],
                published_at: at(i as i64 * 45 + (i as i64 * 7) % 13),
            })
            .collect();
        for (i, id) in organic_ids.iter().enumerate() {
            profiles.insert(*id, profile(*id, true, 200 + 10 * i as i64, 400));
        }
        // A brigade: twelve fresh accounts, each posting a lightly edited copy three
        // times, in bursts of the same seconds.
        let brigade_ids: Vec<Uuid> = (0..12).map(|_| crate::new_id()).collect();
        let copies: Vec<String> = (0..36)
            .map(|i| {
                format!(
                    "Boycott Verdure now, they lie about everything, share this everywhere {}",
                    ["!", "!!", "now"][i % 3]
                )
            })
            .collect();
        let brigade: Vec<Post<'_>> = (0..36)
            .map(|i| Post {
                id: crate::new_id(),
                author_id: Some(brigade_ids[i % 12]),
                text: &copies[i],
                published_at: at((i / 12) as i64 * 600 + (i % 12) as i64),
            })
            .collect();
        for id in &brigade_ids {
            profiles.insert(*id, profile(*id, false, 3, 2));
        }
        let calm = assess(&organic, &profiles);
        let storm = assess(&brigade, &profiles);
        assert!(calm.score < 20.0, "{calm:?}");
        assert!(storm.score > 60.0, "{storm:?}");
        assert_eq!(storm.fresh_accounts, 1.0);
        assert!(storm.near_duplicates > 0.9, "{storm:?}");
        assert!(storm.synchrony > 0.5, "{storm:?}");
        assert_eq!(calm.near_duplicates, 0.0, "{calm:?}");
        assert_eq!(calm.fresh_accounts, 0.0);
        assert_eq!(storm.duplicate_mention_ids.len(), 10);
        assert_eq!((storm.posts, storm.authors), (36, 12));
    }

    #[test]
    fn one_author_repeating_itself_is_concentration_not_duplication() {
        let author = Some(crate::new_id());
        let others: Vec<Uuid> = (0..8).map(|_| crate::new_id()).collect();
        let text = "Verdure lies";
        let mut posts: Vec<Post<'_>> =
            (0..20).map(|i| Post { id: crate::new_id(), author_id: author, text, published_at: at(i * 300) }).collect();
        posts.extend(others.iter().enumerate().map(|(i, a)| Post {
            id: crate::new_id(),
            author_id: Some(*a),
            text: ORGANIC[i % ORGANIC.len()],
            published_at: at(i as i64 * 611),
        }));
        let c = assess(&posts, &HashMap::new());
        assert_eq!(c.near_duplicates, 0.0, "{c:?}");
        assert!(c.concentration > 0.6, "{c:?}");
        assert_eq!(c.fresh_accounts, 0.0, "unknown authors count for nothing");
    }
}
