//! Property tests of the collectors' parsing: whatever a network answers (random bytes,
//! a real payload with bytes flipped, cut or inserted, or with any of its JSON values
//! swapped for a hostile one), a poll yields an error or mentions that are fit to
//! store, and never panics.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::{bluesky, feed, json, mastodon};
use crate::fuzzing::{damaged, tampered};
use crate::mentions::store::NewMention;

const RSS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Le blog beauté</title><link>https://blog.example.fr/</link>
<item><title>Verdure &amp; le vrac</title><link>https://blog.example.fr/vrac</link>
<guid>https://blog.example.fr/?p=42</guid><pubDate>Tue, 24 Nov 2026 08:00:00 +0100</pubDate>
<description><![CDATA[<p>Le flacon <b>rechargeable</b> de Verdure, enfin !</p>]]></description></item>
</channel></rss>"#;

const ATOM: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:media="http://search.yahoo.com/mrss/">
<title>Chaîne</title><link href="https://www.youtube.com/channel/UC1"/><id>yt:channel:UC1</id>
<updated>2026-11-24T08:00:00Z</updated>
<entry><id>yt:video:abc</id><title>Test Verdure</title><link href="https://www.youtube.com/watch?v=abc"/>
<published>2026-11-24T08:00:00Z</published><updated>2026-11-24T08:00:00Z</updated>
<media:group><media:title>Test</media:title><media:content url="https://www.youtube.com/v/abc" type="application/x-shockwave-flash"/>
<media:description>Avis honnête</media:description>
<media:community><media:statistics views="1234"/></media:community></media:group></entry>
</feed>"#;

fn mastodon_page() -> Value {
    json!([{
        "id": "113000000000000001", "created_at": "2026-11-24T08:00:00.000Z",
        "content": "<p>Merci <span class=\"h-card\"><a href=\"https://m.example/@verdure\">@verdure</a></span> !</p>",
        "url": "https://m.example/@camille/113000000000000001", "uri": "https://m.example/users/camille/statuses/113000000000000001",
        "in_reply_to_id": null, "in_reply_to_account_id": null, "visibility": "public", "language": "fr",
        "replies_count": 1, "reblogs_count": 2, "favourites_count": 3, "spoiler_text": "",
        "account": { "id": "1", "acct": "camille", "username": "camille", "display_name": "Camille",
                     "url": "https://m.example/@camille", "followers_count": 12000, "following_count": 300, "bot": false }
    }])
}

fn bluesky_page() -> Value {
    json!({ "cursor": "1", "posts": [{
        "uri": "at://did:plc:abc/app.bsky.feed.post/3k", "indexedAt": "2026-11-24T08:00:01.000Z",
        "author": { "did": "did:plc:abc", "handle": "camille.bsky.social", "displayName": "Camille" },
        "record": { "text": "Verdure, toujours au top", "createdAt": "2026-11-24T08:00:00.000Z", "langs": ["fr"],
                    "reply": { "parent": { "uri": "at://did:plc:x/app.bsky.feed.post/1" } } },
        "replyCount": 1, "repostCount": 2, "likeCount": 3, "quoteCount": 4
    }]})
}

/// A mention any collector may hand to storage.
fn assert_storable(mention: &NewMention) {
    assert!(mention.external_id.chars().count() <= 255, "external id too long");
    assert!(mention.text.chars().count() <= 20_000, "text too long");
    for count in [mention.likes, mention.shares, mention.replies, mention.views] {
        assert!(count >= 0, "negative interaction count: {mention:?}");
    }
    for count in [mention.author.followers, mention.author.following].into_iter().flatten() {
        assert!(count >= 0, "negative follower count: {mention:?}");
    }
}

fn mastodon_mentions(body: &[u8]) {
    if let Ok(statuses) = json::<Vec<mastodon::Status>>(body, "statuses") {
        for status in statuses {
            assert_storable(&mastodon::to_mention(status, "m.example"));
        }
    }
}

fn bluesky_mentions(body: &[u8]) {
    if let Ok(page) = json::<bluesky::SearchPosts>(body, "posts") {
        for post in page.posts {
            assert_storable(&bluesky::to_mention(post, &Default::default()));
        }
    }
}

fn feed_mentions(body: &[u8]) {
    if let Ok(mentions) = feed::parse(body, "rss", "https://blog.example.fr/feed") {
        mentions.iter().for_each(assert_storable);
    }
}

#[test]
fn the_fixtures_parse() {
    let rss = feed::parse(RSS.as_bytes(), "rss", "https://blog.example.fr/feed").unwrap();
    let atom = feed::parse(ATOM.as_bytes(), "youtube", "https://www.youtube.com/feeds/videos.xml").unwrap();
    assert_eq!((rss.len(), atom.len(), atom[0].views), (1, 1, 1234));
    let statuses: Vec<mastodon::Status> = json(&serde_json::to_vec(&mastodon_page()).unwrap(), "s").unwrap();
    assert_eq!(statuses.len(), 1);
    let posts: bluesky::SearchPosts = json(&serde_json::to_vec(&bluesky_page()).unwrap(), "p").unwrap();
    assert_eq!(posts.posts.len(), 1);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn feeds_survive_any_bytes(body in proptest::collection::vec(any::<u8>(), 0..2048)) {
        feed_mentions(&body);
        mastodon_mentions(&body);
        bluesky_mentions(&body);
    }

    #[test]
    fn rss_survives_damage(body in damaged(RSS)) {
        feed_mentions(&body);
    }

    #[test]
    fn atom_survives_damage(body in damaged(ATOM)) {
        feed_mentions(&body);
    }

    #[test]
    fn mastodon_survives_hostile_values(body in tampered(mastodon_page())) {
        mastodon_mentions(&body);
    }

    #[test]
    fn bluesky_survives_hostile_values(body in tampered(bluesky_page())) {
        bluesky_mentions(&body);
    }
}
