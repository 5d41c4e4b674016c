//! The influence score of an author for one brand, 0–100, with the components that
//! explain it:
//! - **reach** (35 %): `log10(followers + 1)`, 10 million followers scoring 100;
//! - **engagement** (25 %): the mean interactions per follower of the author's posts
//!   about the brand against the median of its tier (at the median: 50; twice: 100);
//! - **relevance** (20 %): the mean relevance of those posts to the brand;
//! - **activity** (20 %): posts about the brand in the last 90 days (1: 25, 3: 50, 15: 100);
//! - **authenticity penalties**, subtracted: engagement far above the tier median
//!   (bought interactions), far below it with a large audience (bought followers), or
//!   following far more accounts than follow back.
//!
//! Stance (advocate, neutral, detractor) comes from the mean sentiment of those posts
//! and is kept apart from influence: a loud detractor is influential too.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Audience size class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    Nano,
    Micro,
    Mid,
    Macro,
    Mega,
}

impl Tier {
    /// The tier of an audience: nano < 10k ≤ micro < 100k ≤ mid < 500k ≤ macro < 1M ≤ mega.
    pub fn of(followers: i64) -> Tier {
        match followers {
            i64::MIN..10_000 => Tier::Nano,
            10_000..100_000 => Tier::Micro,
            100_000..500_000 => Tier::Mid,
            500_000..1_000_000 => Tier::Macro,
            1_000_000.. => Tier::Mega,
        }
    }

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Nano => "nano",
            Tier::Micro => "micro",
            Tier::Mid => "mid",
            Tier::Macro => "macro",
            Tier::Mega => "mega",
        }
    }

    /// The tier of a stored name.
    pub fn parse(name: &str) -> Option<Self> {
        [Tier::Nano, Tier::Micro, Tier::Mid, Tier::Macro, Tier::Mega].into_iter().find(|t| t.as_str() == name)
    }

    /// Median engagement rate (interactions per follower per post) of public accounts of
    /// this size; smaller audiences engage more.
    pub fn median_engagement(self) -> f64 {
        match self {
            Tier::Nano => 0.04,
            Tier::Micro => 0.025,
            Tier::Mid => 0.015,
            Tier::Macro => 0.01,
            Tier::Mega => 0.007,
        }
    }
}

/// Where an author stands toward the brand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stance {
    Advocate,
    Neutral,
    Detractor,
}

/// The mean sentiment from which an author advocates for the brand (or, below its
/// opposite, detracts from it).
pub const STANCE: f64 = 0.25;

impl Stance {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Stance::Advocate => "advocate",
            Stance::Neutral => "neutral",
            Stance::Detractor => "detractor",
        }
    }

    /// The stance of a stored name.
    pub fn parse(name: &str) -> Option<Self> {
        [Stance::Advocate, Stance::Neutral, Stance::Detractor].into_iter().find(|s| s.as_str() == name)
    }

    /// The stance of a mean sentiment.
    pub fn of(mean_sentiment: f64) -> Stance {
        if mean_sentiment >= STANCE {
            Stance::Advocate
        } else if mean_sentiment <= -STANCE {
            Stance::Detractor
        } else {
            Stance::Neutral
        }
    }
}

/// What an author published about the brand, summed over its mentions (one row of a
/// `GROUP BY author_id`, so refreshing a score never reads the mentions themselves).
#[derive(Clone, Debug, PartialEq)]
pub struct Activity {
    /// Mentions (at least one).
    pub count: i64,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// Sum of the mentions' relevance (0 when unknown).
    pub relevance_sum: f64,
    /// Sum and count of the scored mentions' sentiment.
    pub sentiment_sum: f64,
    pub sentiment_count: i64,
    /// Likes, shares and replies of all the mentions.
    pub interactions: i64,
    /// Mentions of the last 90 days.
    pub recent: i64,
    /// The follower count of the newest mention that came with one.
    pub latest_followers: Option<i64>,
}

/// How far back activity counts.
pub const ACTIVITY_WINDOW_DAYS: i64 = 90;

/// What the score is made of, stored as JSON with the influencer.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Components {
    pub followers: i64,
    pub reach: f64,
    pub engagement_rate: f64,
    pub tier_median_engagement: f64,
    pub engagement: f64,
    pub relevance: f64,
    pub activity: f64,
    pub recent_mentions: i64,
    pub authenticity_penalty: f64,
    pub penalties: Vec<String>,
    pub mean_sentiment: f64,
}

/// An author's influence on one brand.
#[derive(Clone, Debug, PartialEq)]
pub struct Influence {
    pub score: f64,
    pub tier: Tier,
    pub stance: Stance,
    pub components: Components,
    pub mention_count: i64,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
}

/// The author's profile as its network reports it.
#[derive(Clone, Copy, Debug, Default)]
pub struct Profile {
    pub followers: i64,
    pub following: i64,
    pub verified: bool,
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Scores an author from its activity about the brand.
pub fn score(profile: Profile, activity: &Activity) -> Influence {
    // The newest count the mentions came with, else the profile's.
    let followers = activity.latest_followers.unwrap_or(profile.followers).max(0);
    let tier = Tier::of(followers);
    let n = activity.count.max(1) as f64;

    let reach = ((followers.max(0) as f64 + 1.0).log10() / 7.0 * 100.0).min(100.0);
    let engagement_rate = if followers > 0 { activity.interactions.max(0) as f64 / followers as f64 / n } else { 0.0 };
    let median = tier.median_engagement();
    let ratio = engagement_rate / median;
    let engagement = (ratio * 50.0).min(100.0);
    let relevance = (activity.relevance_sum / n).clamp(0.0, 1.0) * 100.0;
    let recent = activity.recent;
    let activity_score = (25.0 * (1.0 + recent as f64).log2()).min(100.0);

    let mut penalty = 0.0;
    let mut penalties = Vec::new();
    if followers >= 1_000 && ratio > 10.0 {
        penalty += 15.0;
        penalties.push("engagement more than 10× the tier median".to_owned());
    }
    if followers >= 50_000 && activity.count >= 3 && ratio < 0.05 {
        penalty += 10.0;
        penalties.push("engagement under 5 % of the tier median for a large audience".to_owned());
    }
    if !profile.verified && followers >= 1_000 && profile.following > followers.saturating_mul(2) {
        penalty += 10.0;
        penalties.push("follows more than twice as many accounts as follow it".to_owned());
    }

    let raw = 0.35 * reach + 0.25 * engagement + 0.2 * relevance + 0.2 * activity_score - penalty;
    let mean_sentiment =
        if activity.sentiment_count > 0 { activity.sentiment_sum / activity.sentiment_count as f64 } else { 0.0 };
    Influence {
        score: round1(raw.clamp(0.0, 100.0)),
        tier,
        stance: Stance::of(mean_sentiment),
        components: Components {
            followers,
            reach: round1(reach),
            engagement_rate: (engagement_rate * 10_000.0).round() / 10_000.0,
            tier_median_engagement: median,
            engagement: round1(engagement),
            relevance: round1(relevance),
            activity: round1(activity_score),
            recent_mentions: recent,
            authenticity_penalty: penalty,
            penalties,
            mean_sentiment: (mean_sentiment * 1000.0).round() / 1000.0,
        },
        mention_count: activity.count,
        first_seen: activity.first_seen,
        last_seen: activity.last_seen,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    /// A mention: days ago, sentiment, interactions, followers it came with.
    type Post = (i64, f64, i64, i64);

    fn post(days_ago: i64, sentiment: f64, interactions: i64, followers: i64) -> Post {
        (days_ago, sentiment, interactions, followers)
    }

    /// Sums posts as the refresh query does (relevance 1 each; the newest count wins).
    fn score(profile: Profile, posts: &[Post], now: DateTime<Utc>) -> Influence {
        let at = |days: i64| now - Duration::days(days);
        let newest = posts.iter().min_by_key(|p| p.0).unwrap();
        super::score(
            profile,
            &Activity {
                count: posts.len() as i64,
                first_seen: at(posts.iter().map(|p| p.0).max().unwrap()),
                last_seen: at(newest.0),
                relevance_sum: posts.len() as f64,
                sentiment_sum: posts.iter().map(|p| p.1).sum(),
                sentiment_count: posts.len() as i64,
                interactions: posts.iter().map(|p| p.2).sum(),
                recent: posts.iter().filter(|p| p.0 <= ACTIVITY_WINDOW_DAYS).count() as i64,
                latest_followers: Some(newest.3),
            },
        )
    }

    #[test]
    fn tiers_follow_the_design_thresholds() {
        assert_eq!(Tier::of(9_999), Tier::Nano);
        assert_eq!(Tier::of(10_000), Tier::Micro);
        assert_eq!(Tier::of(499_999), Tier::Mid);
        assert_eq!(Tier::of(999_999), Tier::Macro);
        assert_eq!(Tier::of(1_000_000), Tier::Mega);
        assert_eq!(Tier::parse(Tier::Macro.as_str()), Some(Tier::Macro));
        assert_eq!(Stance::parse("detractor"), Some(Stance::Detractor));
    }

    #[test]
    fn scores_explain_themselves() {
        let now = Utc::now();
        let big = score(Profile::default(), &[post(1, 0.6, 15_000, 1_200_000)], now);
        let small = score(Profile::default(), &[post(1, 0.6, 40, 1_000)], now);
        assert!(big.score > small.score, "{big:?} vs {small:?}");
        assert_eq!(big.tier, Tier::Mega);
        assert_eq!(big.stance, Stance::Advocate);
        let c = &big.components;
        let recomputed = 0.35 * c.reach + 0.25 * c.engagement + 0.2 * c.relevance + 0.2 * c.activity;
        assert!((recomputed - big.score).abs() < 0.2, "components add up to the score");

        let regular: Vec<Post> = (0..10).map(|d| post(d * 5, -0.5, 100, 5_000)).collect();
        let once = score(Profile::default(), &regular[..1], now);
        let often = score(Profile::default(), &regular, now);
        assert!(often.components.activity > once.components.activity);
        assert_eq!(often.stance, Stance::Detractor);
        assert_eq!(often.mention_count, 10);

        let bought = score(Profile::default(), &[post(1, 0.0, 50_000, 20_000)], now);
        assert_eq!(bought.components.authenticity_penalty, 15.0);
        let follow_farm =
            score(Profile { followers: 5_000, following: 40_000, verified: false }, &[post(1, 0.0, 100, 5_000)], now);
        assert_eq!(follow_farm.components.penalties.len(), 1);
        // Counts as large as a pushing tool may send do not overflow.
        let huge = Profile { followers: i64::MAX, following: i64::MAX, verified: false };
        assert!(score(huge, &[post(1, 0.0, i64::MAX, i64::MAX)], now).score <= 100.0);
    }
}
