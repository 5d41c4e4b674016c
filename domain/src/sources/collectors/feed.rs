//! RSS 2.0 and Atom feeds (blogs, news sites, YouTube channel feeds), parsed with
//! `feed-rs`, fetched conditionally with `If-None-Match` / `If-Modified-Since`. The
//! author of an entry is the site (or YouTube channel) publishing the feed.

use reqwest::header::{ETAG, HeaderMap, HeaderValue, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED};

use super::{CollectError, Collector, Poll, clip, get};
use crate::entities::source;
use crate::mentions::store::{NewAuthor, NewMention};
use crate::platform::outbound::Http;
use crate::platform::text::strip_html;

pub struct FeedCollector;

fn header(headers: &HeaderMap, name: reqwest::header::HeaderName) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// A stable handle for the site: host and path of its home page, without `www.`.
fn site_handle(link: &str) -> Option<String> {
    let url = url::Url::parse(link).ok()?;
    let host = url.host_str()?.trim_start_matches("www.");
    let path = url.path().trim_end_matches('/');
    Some(format!("{host}{path}").to_lowercase())
}

/// Whether the site of `handle` is the host `target` was fetched from, or a domain
/// above or below it (`feeds.lemonde.fr` for `lemonde.fr`).
fn same_site(handle: &str, target: &str) -> bool {
    let site = handle.split('/').next().unwrap_or_default();
    let Some(host) = url::Url::parse(target).ok().and_then(|u| u.host_str().map(str::to_lowercase)) else {
        return false;
    };
    let host = host.trim_start_matches("www.");
    !site.is_empty() && (host == site || host.ends_with(&format!(".{site}")) || site.ends_with(&format!(".{host}")))
}

#[async_trait::async_trait]
impl Collector for FeedCollector {
    async fn poll(
        &self,
        http: &Http,
        source: &source::Model,
        _: Option<&crate::connections::Credential<'_>>,
    ) -> Result<Poll, CollectError> {
        let mut headers = HeaderMap::new();
        if let Some(etag) = source.etag.as_deref().and_then(|v| HeaderValue::from_str(v).ok()) {
            headers.insert(IF_NONE_MATCH, etag);
        }
        if let Some(date) = source.last_modified.as_deref().and_then(|v| HeaderValue::from_str(v).ok()) {
            headers.insert(IF_MODIFIED_SINCE, date);
        }
        let fetched = get(http, &source.target, headers).await?;
        if fetched.status == 304 {
            return Ok(Poll::default());
        }
        let mentions = parse(&fetched.body, &source.network, &source.target)?;
        Ok(Poll {
            mentions,
            cursor: None,
            etag: header(&fetched.headers, ETAG),
            last_modified: header(&fetched.headers, LAST_MODIFIED),
            incomplete: None,
            // Feeds keep no quota.
            quota: None,
        })
    }
}

/// The mentions of an RSS or Atom document fetched from `target`; entries without a
/// date or a text are skipped.
pub(crate) fn parse(document: &[u8], network: &str, target: &str) -> Result<Vec<NewMention>, CollectError> {
    let feed = feed_rs::parser::parse(document)
        .map_err(|e| CollectError::Malformed(format!("not an RSS or Atom feed: {e}")))?;
    let home = feed
        .links
        .iter()
        .find(|l| l.rel.as_deref() != Some("self"))
        .or(feed.links.first())
        .map(|l| l.href.clone())
        .unwrap_or_else(|| target.to_owned());
    let handle = site_handle(&home).or_else(|| site_handle(target)).unwrap_or_else(|| target.to_owned());
    let authoritative = same_site(&handle, target);
    let site_name = feed.title.as_ref().map(|t| t.content.clone());
    let mentions = feed
        .entries
        .into_iter()
        .filter_map(|entry| {
            let title = entry.title.map(|t| strip_html(&t.content)).unwrap_or_default();
            let body = entry
                .summary
                .map(|t| t.content)
                .or_else(|| entry.content.and_then(|c| c.body))
                .or_else(|| entry.media.iter().find_map(|m| m.description.as_ref().map(|d| d.content.clone())))
                .map(|b| strip_html(&b))
                .unwrap_or_default();
            let text = match (title.is_empty(), body.is_empty()) {
                (false, false) => format!("{title} — {body}"),
                (false, true) => title,
                (true, _) => body,
            };
            let published_at = entry.published.or(entry.updated)?;
            if text.trim().is_empty() {
                return None;
            }
            let views = entry
                .media
                .iter()
                .find_map(|m| m.community.as_ref().and_then(|c| c.stats_views))
                .map_or(0, |v| i64::try_from(v).unwrap_or(i64::MAX));
            Some(NewMention {
                external_id: entry.id.chars().take(255).collect(),
                network: network.to_owned(),
                url: entry.links.first().map(|l| l.href.clone()),
                text: clip(text),
                lang: None,
                published_at,
                author: NewAuthor {
                    handle: handle.clone(),
                    display_name: site_name.clone(),
                    profile_url: Some(home.clone()),
                    followers: None,
                    following: None,
                    verified: false,
                    account_created_at: None,
                    // A feed may claim any site as its home: only one served from that
                    // site describes it.
                    authoritative,
                },
                likes: 0,
                shares: 0,
                replies: 0,
                views,
                in_reply_to: None,
                in_reply_to_author: None,
                direct: false,
                rating: None,
            })
        })
        .collect();
    Ok(mentions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_feed_vouches_only_for_its_own_site() {
        assert!(same_site("lemonde.fr", "https://feeds.lemonde.fr/rss"));
        assert!(same_site("blog.example/fr", "https://www.blog.example/feed"));
        assert!(same_site("news.example.org", "https://example.org/rss"));
        assert!(!same_site("lemonde.fr", "https://evil.example/rss"));
        assert!(!same_site("lemonde.fr", "https://notlemonde.fr/rss"));
        assert!(!same_site("", "https://example.org/rss"));
    }
}
