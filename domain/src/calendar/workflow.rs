//! The review workflow of a content item: who may do what, from which status.
//!
//! ```text
//! draft ──submit──▶ in_review ──approve──▶ approved ──schedule──▶ scheduled ──publish──▶ published
//!   ▲                 │  reject                 │ hold / publish        │ hold
//!   │                 ▼                         ▼                       ▼
//!   └──submit── rejected                      on_hold ──release (admin)──▶ approved
//! ```
//! Editing an item in review, approved, scheduled or on hold sends it back to draft: what
//! goes out is what was approved.

use crate::Role;

/// Where a content item is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContentStatus {
    Draft,
    InReview,
    Approved,
    Scheduled,
    Published,
    Rejected,
    OnHold,
}

impl ContentStatus {
    pub const ALL: [ContentStatus; 7] = [
        ContentStatus::Draft,
        ContentStatus::InReview,
        ContentStatus::Approved,
        ContentStatus::Scheduled,
        ContentStatus::Published,
        ContentStatus::Rejected,
        ContentStatus::OnHold,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ContentStatus::Draft => "draft",
            ContentStatus::InReview => "in_review",
            ContentStatus::Approved => "approved",
            ContentStatus::Scheduled => "scheduled",
            ContentStatus::Published => "published",
            ContentStatus::Rejected => "rejected",
            ContentStatus::OnHold => "on_hold",
        }
    }

    pub fn parse(raw: &str) -> ContentStatus {
        Self::ALL.into_iter().find(|s| s.as_str() == raw).unwrap_or(ContentStatus::Draft)
    }

    /// Whether the item counts as a post of the calendar (coverage, iCal).
    pub fn planned(self) -> bool {
        matches!(self, ContentStatus::Approved | ContentStatus::Scheduled | ContentStatus::Published)
    }
}

/// What someone does to an item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Edit,
    Submit,
    Approve,
    Reject,
    Schedule,
    Publish,
    Hold,
    Release,
}

/// Why an action is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The role may not do it at all.
    Role(&'static str),
    /// Not from this status.
    Status,
}

/// The status after `action` by `role` on an item in `from`.
pub fn apply(role: Role, from: ContentStatus, action: Action) -> Result<ContentStatus, Refusal> {
    use Action::*;
    use ContentStatus::*;
    let staff = role != Role::ClientViewer;
    let approver = role.is_manager() || role == Role::ClientViewer;
    match action {
        Approve | Reject if !approver => {
            return Err(Refusal::Role("only agency owners and admins, or the brand's client viewers, review content"));
        }
        Release if !role.is_manager() => {
            return Err(Refusal::Role("only agency owners and admins release content put on hold"));
        }
        Edit | Submit | Schedule | Publish | Hold if !staff => {
            return Err(Refusal::Role("client viewers review content; agency staff edit and schedule it"));
        }
        _ => {}
    }
    match (action, from) {
        (Edit, Draft | Rejected) => Ok(from),
        (Edit, InReview | Approved | Scheduled | OnHold) => Ok(Draft),
        (Submit, Draft | Rejected) => Ok(InReview),
        (Approve, InReview) => Ok(Approved),
        (Reject, InReview) => Ok(Rejected),
        (Schedule, Approved) => Ok(Scheduled),
        (Publish, Approved | Scheduled) => Ok(Published),
        (Hold, InReview | Approved | Scheduled) => Ok(OnHold),
        (Release, OnHold) => Ok(Approved),
        _ => Err(Refusal::Status),
    }
}

#[cfg(test)]
mod tests {
    use super::Action::*;
    use super::ContentStatus::*;
    use super::*;

    #[test]
    fn who_may_do_what_from_where() {
        let cases: &[(Role, ContentStatus, Action, Result<ContentStatus, ()>)] = &[
            (Role::Member, Draft, Submit, Ok(InReview)),
            (Role::Member, Rejected, Submit, Ok(InReview)),
            (Role::Member, InReview, Approve, Err(())),
            (Role::Admin, InReview, Approve, Ok(Approved)),
            (Role::Owner, InReview, Reject, Ok(Rejected)),
            (Role::ClientViewer, InReview, Approve, Ok(Approved)),
            (Role::ClientViewer, InReview, Reject, Ok(Rejected)),
            (Role::ClientViewer, Draft, Submit, Err(())),
            (Role::ClientViewer, Approved, Schedule, Err(())),
            (Role::ClientViewer, Draft, Edit, Err(())),
            (Role::Admin, Draft, Approve, Err(())),
            (Role::Admin, Approved, Approve, Err(())),
            (Role::Member, Approved, Schedule, Ok(Scheduled)),
            (Role::Member, Draft, Schedule, Err(())),
            (Role::Member, Scheduled, Publish, Ok(Published)),
            (Role::Member, Approved, Publish, Ok(Published)),
            (Role::Member, InReview, Publish, Err(())),
            (Role::Member, Scheduled, Hold, Ok(OnHold)),
            (Role::Member, Published, Hold, Err(())),
            (Role::Member, OnHold, Release, Err(())),
            (Role::Admin, OnHold, Release, Ok(Approved)),
            (Role::Member, Approved, Edit, Ok(Draft)),
            (Role::Member, Scheduled, Edit, Ok(Draft)),
            (Role::Member, Draft, Edit, Ok(Draft)),
            (Role::Member, Published, Edit, Err(())),
            (Role::Member, Published, Submit, Err(())),
        ];
        for (role, from, action, expected) in cases {
            let got = apply(*role, *from, *action).map_err(|_| ());
            assert_eq!(got, *expected, "{role:?} {action:?} from {from:?}");
        }
    }
}
