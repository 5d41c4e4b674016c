//! Compliance figures for a period: the share of tickets answered within their target,
//! and the median and 90th percentile of first-response times in business minutes,
//! overall, per network and per priority.

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use std::collections::BTreeMap;
use uuid::Uuid;

use super::tickets::SlaState;
use crate::entities::ticket;
use crate::{Actor, Error, Result, Services};

/// Figures of a set of tickets.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Figures {
    pub tickets: i64,
    pub answered: i64,
    /// Answered by their due time.
    pub within_target: i64,
    /// Not answered by their due time (answered late or not at all).
    pub breached: i64,
    /// `within_target / (within_target + breached)`: tickets still on track do not count.
    pub share_within_target: Option<f64>,
    pub median_first_response_minutes: Option<i64>,
    pub p90_first_response_minutes: Option<i64>,
}

/// The figures of a brand for a period.
#[derive(Clone, Debug, Default)]
pub struct Compliance {
    pub overall: Figures,
    pub by_network: Vec<(String, Figures)>,
    pub by_priority: Vec<(String, Figures)>,
}

/// The nearest-rank percentile of sorted values.
fn percentile(sorted: &[i64], p: f64) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

#[derive(Default)]
struct Tally {
    tickets: i64,
    within: i64,
    breached: i64,
    minutes: Vec<i64>,
}

impl Tally {
    fn add(&mut self, state: SlaState, minutes: Option<i32>) {
        self.tickets += 1;
        match state {
            SlaState::Met => self.within += 1,
            SlaState::Breached => self.breached += 1,
            _ => {}
        }
        if let Some(m) = minutes {
            self.minutes.push(i64::from(m));
        }
    }

    fn figures(mut self) -> Figures {
        self.minutes.sort_unstable();
        let decided = self.within + self.breached;
        Figures {
            tickets: self.tickets,
            answered: self.minutes.len() as i64,
            within_target: self.within,
            breached: self.breached,
            share_within_target: (decided > 0).then(|| self.within as f64 / decided as f64),
            median_first_response_minutes: percentile(&self.minutes, 50.0),
            p90_first_response_minutes: percentile(&self.minutes, 90.0),
        }
    }
}

/// Compliance of a brand's tickets opened in `[from, to)`.
pub async fn compliance(
    services: &Services,
    actor: &Actor,
    brand_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Compliance> {
    if to <= from || to - from > chrono::Duration::days(400) {
        return Err(Error::bad_input("to", "the period must end after it starts and span at most 400 days"));
    }
    let brand_id = actor.check_brand(&services.db, brand_id).await?;
    compliance_of(&services.db, actor.agency_id, brand_id, from, to).await
}

/// [`compliance`] for a brand already authorised (shared reports).
pub(crate) async fn compliance_of(
    db: &impl sea_orm::ConnectionTrait,
    agency_id: Uuid,
    brand_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Compliance> {
    let rows: Vec<(String, String, String, Option<i32>)> = ticket::Entity::find()
        .select_only()
        .columns([ticket::Column::Network, ticket::Column::Priority, ticket::Column::SlaState])
        .column(ticket::Column::FirstResponseMinutes)
        .filter(ticket::Column::AgencyId.eq(agency_id))
        .filter(ticket::Column::BrandId.eq(brand_id))
        .filter(ticket::Column::CreatedAt.gte(from))
        .filter(ticket::Column::CreatedAt.lt(to))
        .into_tuple()
        .all(db)
        .await?;
    let mut overall = Tally::default();
    let mut networks: BTreeMap<String, Tally> = BTreeMap::new();
    let mut priorities: BTreeMap<String, Tally> = BTreeMap::new();
    for (network, priority, state, minutes) in rows {
        let state = SlaState::parse(&state);
        overall.add(state, minutes);
        networks.entry(network).or_default().add(state, minutes);
        priorities.entry(priority).or_default().add(state, minutes);
    }
    Ok(Compliance {
        overall: overall.figures(),
        by_network: networks.into_iter().map(|(k, t)| (k, t.figures())).collect(),
        by_priority: priorities.into_iter().map(|(k, t)| (k, t.figures())).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_count_decided_tickets_only() {
        let mut tally = Tally::default();
        for (state, minutes) in [
            (SlaState::Met, Some(10)),
            (SlaState::Met, Some(20)),
            (SlaState::Breached, Some(300)),
            (SlaState::Breached, None),
            (SlaState::OnTrack, None),
        ] {
            tally.add(state, minutes);
        }
        let f = tally.figures();
        assert_eq!((f.tickets, f.answered, f.within_target, f.breached), (5, 3, 2, 2));
        assert_eq!(f.share_within_target, Some(0.5));
        assert_eq!((f.median_first_response_minutes, f.p90_first_response_minutes), (Some(20), Some(300)));
        assert_eq!(Tally::default().figures().share_within_target, None);
    }
}
