//! Tenant isolation, field by field.
//!
//! Every root query, mutation and subscription field of the schema must have a case
//! here: the test reads the schema's root fields and fails when one has none, so a new
//! resolver cannot ship without its isolation case. Each case runs as three intruders
//! against the victim agency A:
//! - `foreign`: the owner of another agency (B);
//! - `viewer`: a client viewer of A's *other* brand (A2), aiming at brand A1;
//! - `member`: a member of A assigned to A2 only, aiming at brand A1.
//!
//! A case expects either `Denied` (NOT_FOUND or FORBIDDEN, and no data), a specific
//! error code (and no data), or `Own` (the call may succeed, but only on the intruder's
//! own data). In every case the response must not contain any of the victim's markers
//! (ids, names, emails), and at the end the victim's data must be unchanged.
//! Subscriptions run over a real graphql-ws socket.
//!
//! A last check reads A1 as its own client viewer: the staff's details (owners and
//! their emails, tags, relationship status, notes, reviewers) are not shown to it.

use serde_json::{Value, json};
use std::collections::BTreeSet;
use vigie_api::graphql::node::{NodeKind, global_id};
use vigie_domain::System;
use vigie_tests::ws::Subscription;
use vigie_tests::{Backend, Login, TestApp, error_codes, on_both_databases};

#[derive(Clone, Copy, Debug)]
enum Expect {
    Denied,
    Code(&'static str),
    Own,
}

struct Fixture {
    owner_a: Login,
    agency_a: String,
    a1: String,
    a2: String,
    value_a1: String,
    competitor_a1: String,
    member_a: String,
    shift_a: String,
    invitation_a: String,
    key_a: String,
    failure_a: String,
    source_a: String,
    connection_a: String,
    /// The ticket of an OAuth authorisation the owner of A started and Google gave.
    oauth_ticket_a: String,
    template_a: String,
    influencer_a: String,
    alert_a: String,
    endpoint_a: String,
    delivery_a: String,
    interaction_a: String,
    idea_a: String,
    ticket_a: String,
    pillar_a: String,
    item_a: String,
    share_a: String,
    report_a: String,
    comment_a: String,
    mention_a: String,
    author_a: String,
    foreign: Login,
    viewer: Login,
    /// A member of A assigned to A2 only.
    outsider: Login,
    /// A1's own client viewer.
    client_a1: Login,
}

struct Case {
    /// The root field; subscription fields as `subscription.<name>`.
    field: &'static str,
    query: &'static str,
    vars: fn(&Fixture, &Login) -> Value,
    foreign: Expect,
    viewer: Expect,
    member: Expect,
}

fn no_vars(_: &Fixture, _: &Login) -> Value {
    json!({})
}

impl Fixture {
    /// The global id of every object of agency A, one or more of each kind.
    fn global_ids(&self) -> Vec<(NodeKind, String)> {
        let ids = [
            (NodeKind::Agency, &self.agency_a),
            (NodeKind::Alert, &self.alert_a),
            (NodeKind::ApiKey, &self.key_a),
            (NodeKind::Author, &self.author_a),
            (NodeKind::Brand, &self.a1),
            (NodeKind::BrandValue, &self.value_a1),
            (NodeKind::Competitor, &self.competitor_a1),
            (NodeKind::Connection, &self.connection_a),
            (NodeKind::ContentComment, &self.comment_a),
            (NodeKind::ContentItem, &self.item_a),
            (NodeKind::CsrPillar, &self.pillar_a),
            (NodeKind::Idea, &self.idea_a),
            (NodeKind::Influencer, &self.influencer_a),
            (NodeKind::Interaction, &self.interaction_a),
            (NodeKind::Invitation, &self.invitation_a),
            (NodeKind::JobFailure, &self.failure_a),
            (NodeKind::Member, &self.member_a),
            (NodeKind::Mention, &self.mention_a),
            (NodeKind::OnCallShift, &self.shift_a),
            (NodeKind::ReplyTemplate, &self.template_a),
            (NodeKind::Share, &self.share_a),
            (NodeKind::Share, &self.report_a),
            (NodeKind::Source, &self.source_a),
            (NodeKind::Ticket, &self.ticket_a),
            (NodeKind::User, &self.owner_a.user_id),
            (NodeKind::WebhookDelivery, &self.delivery_a),
            (NodeKind::WebhookEndpoint, &self.endpoint_a),
        ];
        ids.into_iter().map(|(kind, id)| (kind, global_id(kind, vigie_tests::db_id(id)).0)).collect()
    }
}

fn all_nodes(f: &Fixture, _: &Login) -> Value {
    let ids: Vec<String> = f.global_ids().into_iter().map(|(_, id)| id).collect();
    json!({ "ids": ids })
}

fn cases() -> Vec<Case> {
    use Expect::*;
    vec![
        // --- queries ---
        Case {
            field: "me",
            query: "{ me { user { id email } agency { id name } role memberships { agency { id name } } } }",
            vars: no_vars,
            foreign: Own,
            viewer: Own,
            member: Own,
        },
        Case {
            field: "agency",
            query: "{ agency { id name } }",
            vars: no_vars,
            foreign: Own,
            viewer: Own,
            member: Own,
        },
        Case {
            field: "brands",
            query: "{ brands(first: 100) { edges { node { id name values { id name } } } } }",
            vars: no_vars,
            foreign: Own,
            viewer: Own,
            member: Own,
        },
        Case {
            field: "brand",
            query: "query($id: ID!) { brand(id: $id) { id name values { id } } }",
            vars: |f, _| json!({ "id": f.a1 }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "mentions",
            query: "query($id: ID!) { mentions(brandId: $id) { edges { node { id text author { handle } } } } }",
            vars: |f, _| json!({ "id": f.a1 }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "sentimentSeries",
            query: "query($id: ID!) { sentimentSeries(brandId: $id, from: \"2026-01-01T00:00:00Z\", to: \"2026-02-01T00:00:00Z\") { day mentions } }",
            vars: |f, _| json!({ "id": f.a1 }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        // Across brands: each intruder lists its own brands only, never A1's.
        Case {
            field: "agencyInbox",
            query: "{ agencyInbox(first: 50) { edges { node { id mention { id text } } } } }",
            vars: no_vars,
            foreign: Own,
            viewer: Denied,
            member: Own,
        },
        Case {
            field: "agencyAlerts",
            query: "{ agencyAlerts(first: 50) { edges { node { id explanation { summary } } } } }",
            vars: no_vars,
            foreign: Own,
            viewer: Own,
            member: Own,
        },
        Case {
            field: "agencyMentions",
            query: "{ agencyMentions(first: 50) { edges { node { id text brandId } } } }",
            vars: no_vars,
            foreign: Own,
            viewer: Own,
            member: Own,
        },
        // Preferences are the caller's own: nobody reaches another member's.
        Case {
            field: "notificationPreferences",
            query: "{ notificationPreferences { eventTypes brandIds slack teams } }",
            vars: no_vars,
            foreign: Own,
            viewer: Own,
            member: Own,
        },
        Case {
            field: "setNotificationPreferences",
            query: "mutation { setNotificationPreferences(input: { eventTypes: [\"crisis.opened\"], timeZone: \"UTC\" }) { eventTypes brandIds } }",
            vars: no_vars,
            foreign: Own,
            viewer: Own,
            member: Own,
        },
        Case {
            field: "onCallShifts",
            query: "{ onCallShifts(from: \"2026-01-01T00:00:00Z\", to: \"2026-03-01T00:00:00Z\") { id member { id } } }",
            vars: no_vars,
            foreign: Own,
            viewer: Denied,
            member: Own,
        },
        Case {
            field: "onCallNow",
            query: "{ onCallNow { id } }",
            vars: no_vars,
            foreign: Own,
            viewer: Denied,
            member: Own,
        },
        Case {
            field: "addOnCallShift",
            query: "mutation($id: ID!) { addOnCallShift(input: { memberId: $id, startsAt: \"2030-01-01T00:00:00Z\", endsAt: \"2030-01-02T00:00:00Z\" }) { id } }",
            vars: |f, _| json!({ "id": f.member_a }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "removeOnCallShift",
            query: "mutation($id: ID!) { removeOnCallShift(id: $id) { deletedId } }",
            vars: |f, _| json!({ "id": f.shift_a }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "shareOfVoice",
            query: "query($id: ID!) { shareOfVoice(brandId: $id, from: \"2026-01-01T00:00:00Z\", to: \"2026-02-01T00:00:00Z\") { brandId total { name competitorId mentions } } }",
            vars: |f, _| json!({ "id": f.a1 }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "competitiveInfluencers",
            query: "query($id: ID!) { competitiveInfluencers(brandId: $id) { author { id handle } competitors { competitorId name } } }",
            vars: |f, _| json!({ "id": f.a1 }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "sources",
            query: "query($id: ID!) { sources(brandId: $id) { edges { node { id target lastError } } } }",
            vars: |f, _| json!({ "id": f.a1 }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "influencers",
            query: "query($id: ID!) { influencers(brandId: $id) { edges { node { id score author { handle } scoreBreakdown { reach } } } } }",
            vars: |f, _| json!({ "id": f.a1 }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "members",
            query: "{ members { edges { node { id user { email } brands { id name } } } } }",
            vars: no_vars,
            foreign: Own,
            viewer: Denied,
            // Staff see who works in the agency, and of the brands only those they see.
            member: Own,
        },
        Case {
            field: "invitations",
            query: "{ invitations { edges { node { id email brands { id } } } } }",
            vars: no_vars,
            foreign: Own,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "apiKeys",
            query: "{ apiKeys { edges { node { id name brand { id } } } } }",
            vars: no_vars,
            foreign: Own,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "alerts",
            query: "query($id: ID!) { alerts(brandId: $id) { edges { node { id explanation { summary } mentions { text } } } } }",
            vars: |f, _| json!({ "id": f.a1 }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "alert",
            query: "query($id: ID!) { alert(id: $id) { id value { name } timeline { kind } } }",
            vars: |f, _| json!({ "id": f.alert_a }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "alertPrecision",
            query: "query($id: ID!) { alertPrecision(brandId: $id, from: \"2020-01-01T00:00:00Z\", to: \"2040-01-01T00:00:00Z\") { kind opened judged precision } }",
            vars: |f, _| json!({ "id": f.a1 }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "replyTemplates",
            query: "query($b: ID!) { replyTemplates(brandId: $b) { edges { node { id name body } } } }",
            vars: |f, _| json!({ "b": f.a1 }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "renderReplyTemplate",
            query: "query($id: ID!, $t: ID!) { renderReplyTemplate(id: $id, ticketId: $t) }",
            vars: |f, _| json!({ "id": f.template_a, "t": f.ticket_a }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "createReplyTemplate",
            query: "mutation($b: ID!) { createReplyTemplate(input: { brandId: $b, name: \"spy\", language: \"en\", body: \"spy\" }) { id } }",
            vars: |f, _| json!({ "b": f.a1 }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "updateReplyTemplate",
            query: "mutation($id: ID!) { updateReplyTemplate(input: { id: $id, body: \"defaced\" }) { id body } }",
            vars: |f, _| json!({ "id": f.template_a }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "deleteReplyTemplate",
            query: "mutation($id: ID!) { deleteReplyTemplate(id: $id) { deletedId } }",
            vars: |f, _| json!({ "id": f.template_a }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "connections",
            query: "{ connections { edges { node { id account endpoint brand { name } } } } }",
            vars: no_vars,
            foreign: Own,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "googleLocations",
            query: "query($id: ID!) { googleLocations(connectionId: $id) { name title } }",
            vars: |f, _| json!({ "id": f.connection_a }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "webhookEndpoints",
            query: "{ webhookEndpoints { id url secret } }",
            vars: no_vars,
            foreign: Own,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "webhookDeliveries",
            query: "query($id: ID!) { webhookDeliveries(endpointId: $id) { edges { node { id payload } } } }",
            vars: |f, _| json!({ "id": f.endpoint_a }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "node",
            query: "query($id: ID!) { node(id: $id) { __typename id ... on Alert { explanation { summary } } } }",
            vars: |f, _| json!({ "id": global_id(NodeKind::Alert, vigie_tests::db_id(&f.alert_a)).0 }),
            // Someone else's object is not there: `null`, as for an id that never was.
            foreign: Own,
            viewer: Own,
            member: Own,
        },
        Case {
            field: "nodes",
            query: "query($ids: [ID!]!) { nodes(ids: $ids) { __typename id ... on Brand { name } ... on Mention { text } ... on Interaction { summary } ... on Invitation { email } ... on User { email } } }",
            vars: all_nodes,
            foreign: Own,
            viewer: Own,
            member: Own,
        },
        // --- subscriptions ---
        Case {
            field: "subscription.alerts",
            query: "subscription($id: ID!) { alerts(brandId: $id) { id explanation { summary } } }",
            vars: |f, _| json!({ "id": f.a1 }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "subscription.agencyUpdates",
            query: "subscription($id: ID!) { agencyUpdates(brandIds: [$id]) { __typename } }",
            vars: |f, _| json!({ "id": f.a1 }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "subscription.inboxUpdates",
            query: "subscription($id: ID!) { inboxUpdates(brandId: $id) { id mention { text } } }",
            vars: |f, _| json!({ "id": f.a1 }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        // --- mutations: public ---
        Case {
            field: "signUp",
            query: "mutation($e: String!) { signUp(input: { agencyName: \"Intruder\", name: \"I\", email: $e, password: \"correct horse battery\" }) { accessToken agency { id } } }",
            vars: |_, _| json!({ "e": "owner@victim.example" }),
            foreign: Code("CONFLICT"),
            viewer: Code("CONFLICT"),
            member: Code("CONFLICT"),
        },
        Case {
            field: "logIn",
            query: "mutation($a: ID) { logIn(input: { email: \"owner@intruder.example\", password: \"correct horse battery\", agencyId: $a }) { accessToken agency { id name } } }",
            vars: |f, _| json!({ "a": f.agency_a }),
            foreign: Code("UNAUTHENTICATED"),
            viewer: Code("UNAUTHENTICATED"),
            member: Code("UNAUTHENTICATED"),
        },
        Case {
            field: "refreshToken",
            query: "mutation($t: String!) { refreshToken(refreshToken: $t) { agency { id name } } }",
            vars: |_, me| json!({ "t": me.refresh_token }),
            foreign: Own,
            viewer: Own,
            member: Own,
        },
        Case {
            field: "logOut",
            query: "mutation { logOut(refreshToken: \"vgr_not_a_real_token\") }",
            vars: no_vars,
            foreign: Own,
            viewer: Own,
            member: Own,
        },
        Case {
            field: "acceptInvitation",
            query: "mutation { acceptInvitation(input: { token: \"vgi_guessed\", name: \"I\", password: \"correct horse battery\" }) { accessToken agency { id } } }",
            vars: no_vars,
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        // --- mutations: agency and brands ---
        Case {
            field: "updateAgency",
            query: "mutation { updateAgency(input: { name: \"Renamed by intruder\" }) { id name } }",
            vars: no_vars,
            foreign: Own,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "createBrand",
            query: "mutation { createBrand(input: { name: \"Intruder brand\", timeZone: \"UTC\" }) { id } }",
            vars: no_vars,
            foreign: Own,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "updateBrand",
            query: "mutation($id: ID!) { updateBrand(input: { id: $id, name: \"Hacked\" }) { id name } }",
            vars: |f, _| json!({ "id": f.a1 }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "deleteBrand",
            query: "mutation($id: ID!) { deleteBrand(id: $id) { deletedId } }",
            vars: |f, _| json!({ "id": f.a1 }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "createBrandValue",
            query: "mutation($id: ID!) { createBrandValue(input: { brandId: $id, name: \"Injected\", keywords: [\"x\"] }) { id } }",
            vars: |f, _| json!({ "id": f.a1 }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "createCompetitor",
            query: "mutation($id: ID!) { createCompetitor(input: { brandId: $id, name: \"Injected rival\" }) { id } }",
            vars: |f, _| json!({ "id": f.a1 }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "updateCompetitor",
            query: "mutation($id: ID!) { updateCompetitor(input: { id: $id, keywords: [\"hacked\"] }) { id name keywords } }",
            vars: |f, _| json!({ "id": f.competitor_a1 }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "deleteCompetitor",
            query: "mutation($id: ID!) { deleteCompetitor(id: $id) { deletedId } }",
            vars: |f, _| json!({ "id": f.competitor_a1 }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "updateBrandValue",
            query: "mutation($id: ID!) { updateBrandValue(input: { id: $id, name: \"Hacked\" }) { id name } }",
            vars: |f, _| json!({ "id": f.value_a1 }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "deleteBrandValue",
            query: "mutation($id: ID!) { deleteBrandValue(id: $id) { deletedId } }",
            vars: |f, _| json!({ "id": f.value_a1 }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        // --- mutations: members and keys ---
        Case {
            field: "inviteMember",
            query: "mutation($b: ID!) { inviteMember(input: { email: \"spy@intruder.example\", role: MEMBER, brandIds: [$b] }) { id } }",
            vars: |f, _| json!({ "b": f.a1 }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "revokeInvitation",
            query: "mutation($id: ID!) { revokeInvitation(id: $id) { id status } }",
            vars: |f, _| json!({ "id": f.invitation_a }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "updateMemberRole",
            query: "mutation($id: ID!) { updateMemberRole(memberId: $id, role: ADMIN) { id role } }",
            vars: |f, _| json!({ "id": f.member_a }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "removeMember",
            query: "mutation($id: ID!) { removeMember(memberId: $id) { deletedId } }",
            vars: |f, _| json!({ "id": f.member_a }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "setMemberBrands",
            query: "mutation($id: ID!, $b: ID!) { setMemberBrands(memberId: $id, brandIds: [$b]) { id } }",
            vars: |f, _| json!({ "id": f.member_a, "b": f.a1 }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "createApiKey",
            query: "mutation($b: ID!) { createApiKey(input: { name: \"spy\", brandId: $b }) { secret } }",
            vars: |f, _| json!({ "b": f.a1 }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        // --- the job queue ---
        Case {
            field: "queueStatus",
            query: "{ queueStatus { kind depth failures } }",
            vars: no_vars,
            foreign: Own,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "jobFailures",
            query: "{ jobFailures(includeResolved: true) { edges { node { id error payload } } } }",
            vars: no_vars,
            foreign: Own,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "retryJob",
            query: "mutation($id: ID!) { retryJob(id: $id) { id resolution } }",
            vars: |f, _| json!({ "id": f.failure_a }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "discardJob",
            query: "mutation($id: ID!) { discardJob(id: $id) { id resolution } }",
            vars: |f, _| json!({ "id": f.failure_a }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "createSource",
            query: "mutation($b: ID!) { createSource(input: { brandId: $b, network: BLOG, kind: FEED, target: \"https://intruder.example/feed\", enabled: false }) { id } }",
            vars: |f, _| json!({ "b": f.a1 }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "updateSource",
            query: "mutation($id: ID!) { updateSource(input: { id: $id, target: \"https://intruder.example/feed\" }) { id target } }",
            vars: |f, _| json!({ "id": f.source_a }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "deleteSource",
            query: "mutation($id: ID!) { deleteSource(id: $id) { deletedId } }",
            vars: |f, _| json!({ "id": f.source_a }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "revokeApiKey",
            query: "mutation($id: ID!) { revokeApiKey(id: $id) { id revokedAt } }",
            vars: |f, _| json!({ "id": f.key_a }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        // --- relationships ---
        Case {
            field: "interactions",
            query: "query($id: ID!) { interactions(influencerId: $id) { edges { node { id summary } } } }",
            vars: |f, _| json!({ "id": f.influencer_a }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "ideas",
            query: "query($id: ID!) { ideas(brandId: $id) { edges { node { id title } } } }",
            vars: |f, _| json!({ "id": f.a1 }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "overdueContacts",
            query: "query($id: ID!) { overdueContacts(brandId: $id) { edges { node { id notes } } } }",
            vars: |f, _| json!({ "id": f.a1 }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "updateInfluencerRelationship",
            query: "mutation($id: ID!) { updateInfluencerRelationship(input: { influencerId: $id, status: DECLINED, notes: \"hijacked\" }) { id } }",
            vars: |f, _| json!({ "id": f.influencer_a }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "logInteraction",
            query: "mutation($id: ID!) { logInteraction(input: { influencerId: $id, channel: \"dm\", direction: OUTBOUND, summary: \"spam\" }) { id } }",
            vars: |f, _| json!({ "id": f.influencer_a }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "createIdea",
            query: "mutation($id: ID!) { createIdea(input: { influencerId: $id, title: \"Injected\" }) { id } }",
            vars: |f, _| json!({ "id": f.influencer_a }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "updateIdea",
            query: "mutation($id: ID!) { updateIdea(input: { id: $id, status: REJECTED }) { id title } }",
            vars: |f, _| json!({ "id": f.idea_a }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        // --- SLAs and the inbox ---
        Case {
            field: "slaPolicy",
            query: "query($id: ID!) { slaPolicy(brandId: $id) { source escalationEmails } }",
            vars: |f, _| json!({ "id": f.a1 }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "tickets",
            query: "query($id: ID!) { tickets(brandId: $id) { edges { node { id mention { text } } } } }",
            vars: |f, _| json!({ "id": f.a1 }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "slaCompliance",
            query: "query($id: ID!) { slaCompliance(brandId: $id, from: \"2020-01-01T00:00:00Z\", to: \"2021-01-01T00:00:00Z\") { overall { tickets } } }",
            vars: |f, _| json!({ "id": f.a1 }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "upsertSlaPolicy",
            query: "mutation($id: ID!) { upsertSlaPolicy(input: { brandId: $id, alwaysOpen: true, targets: { urgent: 1, high: 1, normal: 1, low: 1 } }) { source } }",
            vars: |f, _| json!({ "id": f.a1 }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "assignTicket",
            query: "mutation($id: ID!) { assignTicket(id: $id, assigneeId: null) { id } }",
            vars: |f, _| json!({ "id": f.ticket_a }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "respondToTicket",
            query: "mutation($id: ID!) { respondToTicket(id: $id, text: \"hijacked\", channel: \"dm\") { id } }",
            vars: |f, _| json!({ "id": f.ticket_a }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "closeTicket",
            query: "mutation($id: ID!) { closeTicket(id: $id) { id } }",
            vars: |f, _| json!({ "id": f.ticket_a }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "reopenTicket",
            query: "mutation($id: ID!) { reopenTicket(id: $id) { id } }",
            vars: |f, _| json!({ "id": f.ticket_a }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "snoozeTicket",
            query: "mutation($id: ID!) { snoozeTicket(id: $id) { id } }",
            vars: |f, _| json!({ "id": f.ticket_a }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        // --- CSR calendar ---
        Case {
            field: "csrPillars",
            query: "query($id: ID!) { csrPillars(brandId: $id) { id name } }",
            vars: |f, _| json!({ "id": f.a1 }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "contentItems",
            query: "query($id: ID!) { contentItems(brandId: $id) { edges { node { id title comments { body } } } } }",
            vars: |f, _| json!({ "id": f.a1 }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "calendarCoverage",
            query: "query($id: ID!) { calendarCoverage(brandId: $id, from: \"2026-11-01T00:00:00Z\", to: \"2027-06-01T00:00:00Z\") { posts pillars { pillar { name } } } }",
            vars: |f, _| json!({ "id": f.a1 }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "createCsrPillar",
            query: "mutation($id: ID!) { createCsrPillar(input: { brandId: $id, name: \"Injected\" }) { id } }",
            vars: |f, _| json!({ "id": f.a1 }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "updateCsrPillar",
            query: "mutation($id: ID!) { updateCsrPillar(input: { id: $id, name: \"Hacked\" }) { id name } }",
            vars: |f, _| json!({ "id": f.pillar_a }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "deleteCsrPillar",
            query: "mutation($id: ID!) { deleteCsrPillar(id: $id) { deletedId } }",
            vars: |f, _| json!({ "id": f.pillar_a }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "createContentItem",
            query: "mutation($id: ID!) { createContentItem(input: { brandId: $id, channel: \"x\", title: \"Injected\", scheduledAt: \"2027-01-01T10:00:00Z\" }) { id } }",
            vars: |f, _| json!({ "id": f.a1 }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "updateContentItem",
            query: "mutation($id: ID!) { updateContentItem(input: { id: $id, title: \"Hacked\" }) { id title } }",
            vars: |f, _| json!({ "id": f.item_a }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "submitContentItem",
            query: "mutation($id: ID!) { submitContentItem(id: $id) { id status } }",
            vars: |f, _| json!({ "id": f.item_a }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "approveContentItem",
            query: "mutation($id: ID!) { approveContentItem(id: $id) { id status } }",
            vars: |f, _| json!({ "id": f.item_a }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "rejectContentItem",
            query: "mutation($id: ID!) { rejectContentItem(id: $id, note: \"no\") { id status } }",
            vars: |f, _| json!({ "id": f.item_a }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "scheduleContentItem",
            query: "mutation($id: ID!) { scheduleContentItem(id: $id) { id status } }",
            vars: |f, _| json!({ "id": f.item_a }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "publishContentItem",
            query: "mutation($id: ID!) { publishContentItem(id: $id, publishedUrl: \"https://spy.example/p\") { id } }",
            vars: |f, _| json!({ "id": f.item_a }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "holdContentItem",
            query: "mutation($id: ID!) { holdContentItem(id: $id) { id status } }",
            vars: |f, _| json!({ "id": f.item_a }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "releaseContentItem",
            query: "mutation($id: ID!) { releaseContentItem(id: $id) { id status } }",
            vars: |f, _| json!({ "id": f.item_a }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "commentOnContentItem",
            query: "mutation($id: ID!) { commentOnContentItem(id: $id, body: \"spam\") { id } }",
            vars: |f, _| json!({ "id": f.item_a }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "createCalendarShare",
            query: "mutation($id: ID!) { createCalendarShare(brandId: $id) { url token } }",
            vars: |f, _| json!({ "id": f.a1 }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "revokeCalendarShare",
            query: "mutation($id: ID!) { revokeCalendarShare(id: $id) { id revokedAt } }",
            vars: |f, _| json!({ "id": f.share_a }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "shares",
            query: "query($id: ID!) { shares(brandId: $id, includeRevoked: true) { edges { node { id createdBy { email } } } } }",
            vars: |f, _| json!({ "id": f.a1 }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "renewShare",
            query: "mutation($id: ID!) { renewShare(id: $id, expiresInDays: 366) { id expiresAt } }",
            vars: |f, _| json!({ "id": f.report_a }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        // --- shared reports ---
        Case {
            field: "sharedReport",
            query: "{ sharedReport(token: \"vgs_guessed_token\") { brandName } }",
            vars: no_vars,
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "createReportShare",
            query: "mutation($id: ID!) { createReportShare(input: { brandId: $id, from: \"2026-11-01T00:00:00Z\", to: \"2026-12-01T00:00:00Z\", expiresAt: \"2027-06-01T00:00:00Z\" }) { url token } }",
            vars: |f, _| json!({ "id": f.a1 }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "revokeReportShare",
            query: "mutation($id: ID!) { revokeReportShare(id: $id) { id revokedAt } }",
            vars: |f, _| json!({ "id": f.report_a }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        // --- crises and webhooks ---
        Case {
            field: "acknowledgeAlert",
            query: "mutation($id: ID!) { acknowledgeAlert(id: $id) { id status } }",
            vars: |f, _| json!({ "id": f.alert_a }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "resolveAlert",
            query: "mutation($id: ID!) { resolveAlert(id: $id, note: \"closed by intruder\") { id status } }",
            vars: |f, _| json!({ "id": f.alert_a }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "judgeAlert",
            query: "mutation($id: ID!) { judgeAlert(id: $id, verdict: FALSE_ALARM, note: \"judged by intruder\") { id verdict } }",
            vars: |f, _| json!({ "id": f.alert_a }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "reopenAlert",
            query: "mutation($id: ID!) { reopenAlert(id: $id) { id status } }",
            vars: |f, _| json!({ "id": f.alert_a }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "connectBluesky",
            query: "mutation($b: ID!) { connectBluesky(input: { brandId: $b, identifier: \"spy.bsky.social\", appPassword: \"spy\", endpoint: \"https://93.184.216.35\" }) { id } }",
            vars: |f, _| json!({ "b": f.a1 }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "connectApiKey",
            query: "mutation($b: ID!) { connectApiKey(input: { network: TRUSTPILOT, brandId: $b, apiKey: \"spy-key\" }) { id } }",
            vars: |f, _| json!({ "b": f.a1 }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "reconnectApiKey",
            query: "mutation($id: ID!) { reconnectApiKey(id: $id, apiKey: \"spy-key\") { id account } }",
            vars: |f, _| json!({ "id": f.connection_a }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "reconnectBluesky",
            query: "mutation($id: ID!) { reconnectBluesky(id: $id, appPassword: \"spy\") { id account } }",
            vars: |f, _| json!({ "id": f.connection_a }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "startOAuthConnection",
            query: "mutation($b: ID!) { startOAuthConnection(input: { network: YOUTUBE, brandId: $b }) { url } }",
            vars: |f, _| json!({ "b": f.a1 }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "completeOAuthConnection",
            query: "mutation($t: String!) { completeOAuthConnection(ticket: $t) { id } }",
            vars: |f, _| json!({ "t": f.oauth_ticket_a }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "deleteConnection",
            query: "mutation($id: ID!) { deleteConnection(id: $id) { deletedId } }",
            vars: |f, _| json!({ "id": f.connection_a }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "createWebhookEndpoint",
            query: "mutation($b: ID!) { createWebhookEndpoint(input: { url: \"https://93.184.216.35/spy\", brandIds: [$b] }) { id } }",
            vars: |f, _| json!({ "b": f.a1 }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "updateWebhookEndpoint",
            query: "mutation($id: ID!) { updateWebhookEndpoint(input: { id: $id, url: \"https://93.184.216.35/spy\" }) { id url } }",
            vars: |f, _| json!({ "id": f.endpoint_a }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "deleteWebhookEndpoint",
            query: "mutation($id: ID!) { deleteWebhookEndpoint(id: $id) { deletedId } }",
            vars: |f, _| json!({ "id": f.endpoint_a }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "rotateWebhookSecret",
            query: "mutation($id: ID!) { rotateWebhookSecret(id: $id) { id secret } }",
            vars: |f, _| json!({ "id": f.endpoint_a }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "sendTestEvent",
            query: "mutation($id: ID!) { sendTestEvent(endpointId: $id) { id } }",
            vars: |f, _| json!({ "id": f.endpoint_a }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
        Case {
            field: "replayDelivery",
            query: "mutation($id: ID!) { replayDelivery(id: $id) { id status } }",
            vars: |f, _| json!({ "id": f.delivery_a }),
            foreign: Denied,
            viewer: Denied,
            member: Denied,
        },
    ]
}

async fn fixture(app: &TestApp) -> Fixture {
    let owner_a = app.sign_up("Victim Agency", "owner@victim.example").await;
    let t = owner_a.access_token.clone();
    let a1 = app.create_brand(&t, "Victim Brand One").await;
    let a2 = app.create_brand(&t, "Victim Brand Two").await;
    let value = app
        .ok(Some(&t), "mutation($b: ID!) { createBrandValue(input: { brandId: $b, name: \"Secret value\", keywords: [\"secret\"] }) { id } }", json!({ "b": a1 }))
        .await;
    let competitor = app
        .ok(Some(&t), "mutation($b: ID!) { createCompetitor(input: { brandId: $b, name: \"Victim Rival\", keywords: [\"rivalsecret\"] }) { id } }", json!({ "b": a1 }))
        .await;
    let member = app.invite_and_accept(&t, "member@victim.example", "MEMBER", &[&a1]).await;
    let viewer = app.invite_and_accept(&t, "viewer@victim.example", "CLIENT_VIEWER", &[&a2]).await;
    let outsider = app.invite_and_accept(&t, "outsider@victim.example", "MEMBER", &[&a2]).await;
    let client_a1 = app.invite_and_accept(&t, "client@victim.example", "CLIENT_VIEWER", &[&a1]).await;
    let invitation = app
        .ok(Some(&t), "mutation($b: ID!) { inviteMember(input: { email: \"pending@victim.example\", role: MEMBER, brandIds: [$b] }) { id } }", json!({ "b": a1 }))
        .await;
    let key = app
        .ok(
            Some(&t),
            "mutation($b: ID!) { createApiKey(input: { name: \"victim key\", brandId: $b }) { apiKey { id } } }",
            json!({ "b": a1 }),
        )
        .await;
    let me = app.ok(Some(&member.access_token), "{ me { memberId } }", json!({})).await;
    let shift = app
        .ok(
            Some(&t),
            "mutation($m: ID!, $s: DateTime!, $e: DateTime!) { addOnCallShift(input: { memberId: $m, startsAt: $s, endsAt: $e }) { id } }",
            json!({ "m": me["me"]["memberId"], "s": (vigie_domain::now() - chrono::Duration::hours(1)).to_rfc3339(), "e": (vigie_domain::now() + chrono::Duration::days(1)).to_rfc3339() }),
        )
        .await;
    let failure_a = app.record_job_failure(&owner_a.agency_id, "victim job failed").await;
    let source = app
        .ok(
            Some(&t),
            "mutation($b: ID!) { createSource(input: { brandId: $b, network: BLOG, kind: FEED, target: \"https://victim.example/feed.xml\", enabled: false }) { id } }",
            json!({ "b": a1 }),
        )
        .await;
    let source_a = source["createSource"]["id"].as_str().unwrap().to_owned();
    let influencer_a = app.seed_influencer(&source_a, "victimfan", "Victim Brand One: a secret mention").await;
    let connection_a = victim_connection(app, &owner_a.agency_id, &a1).await;
    let oauth_ticket_a = victim_oauth_ticket(app, &owner_a, &a1).await;
    let template = app
        .ok(
            Some(&t),
            "mutation($b: ID!) { createReplyTemplate(input: { brandId: $b, name: \"Victim template\", language: \"en\", body: \"Victim canned answer for {{author}}\" }) { id } }",
            json!({ "b": a1 }),
        )
        .await;
    let template_a = template["createReplyTemplate"]["id"].as_str().unwrap().to_owned();
    // A macro author accusing the brand of failing its stated value opens a value-gap
    // alert on A1.
    app.collect(
        &source_a,
        vec![vigie_tests::new_mention(
            "gap-1",
            "victimstar",
            "Victim Brand One secret recipe is a shameful lie, pure hypocrisy",
            900_000,
        )],
    )
    .await;
    let alerts = vigie_domain::crises::detect::detect(System::for_tests(), &app.services, vigie_tests::db_id(&a1))
        .await
        .unwrap();
    let alert_a = alerts.first().expect("a value-gap alert").to_string();
    let endpoint = app
        .ok(
            Some(&t),
            "mutation { createWebhookEndpoint(input: { url: \"https://93.184.216.34/victim-hook\" }) { id } }",
            json!({}),
        )
        .await;
    let endpoint_a = endpoint["createWebhookEndpoint"]["id"].as_str().unwrap().to_owned();
    let delivery = app
        .ok(Some(&t), "mutation($e: ID!) { sendTestEvent(endpointId: $e) { id } }", json!({ "e": endpoint_a }))
        .await;
    let delivery_a = delivery["sendTestEvent"]["id"].as_str().unwrap().to_owned();
    let interaction = app
        .ok(Some(&t), "mutation($i: ID!) { logInteraction(input: { influencerId: $i, channel: \"email\", direction: OUTBOUND, summary: \"Victim private call notes\" }) { id } }", json!({ "i": influencer_a }))
        .await;
    let interaction_a = interaction["logInteraction"]["id"].as_str().unwrap().to_owned();
    let idea = app
        .ok(
            Some(&t),
            "mutation($i: ID!) { createIdea(input: { influencerId: $i, title: \"Victim secret idea\" }) { id } }",
            json!({ "i": influencer_a }),
        )
        .await;
    let idea_a = idea["createIdea"]["id"].as_str().unwrap().to_owned();
    let member_id = me["me"]["memberId"].as_str().unwrap().to_owned();
    app.ok(
        Some(&t),
        "mutation($i: ID!, $o: ID!) { updateInfluencerRelationship(input: { influencerId: $i, status: ENGAGED, ownerId: $o, tags: [\"vip-secret-tag\"], notes: \"Victim private relationship note\", contactCadenceDays: 30 }) { id } }",
        json!({ "i": influencer_a, "o": member_id }),
    )
    .await;
    let mut ask = vigie_tests::new_mention("ask-1", "victimasker", "Where is my victim order? Please help", 300);
    ask.direct = true;
    app.collect(&source_a, vec![ask]).await;
    let ticket =
        app.ok(Some(&t), "query($b: ID!) { tickets(brandId: $b) { edges { node { id } } } }", json!({ "b": a1 })).await;
    let ticket_a = ticket["tickets"]["edges"][0]["node"]["id"].as_str().expect("a ticket").to_owned();
    app.ok(
        Some(&t),
        "mutation($id: ID!, $m: ID!) { assignTicket(id: $id, assigneeId: $m) { id } }",
        json!({ "id": ticket_a, "m": member_id }),
    )
    .await;
    let pillar = app
        .ok(Some(&t), "mutation($b: ID!) { createCsrPillar(input: { brandId: $b, name: \"Victim pillar\", targetShare: 0.5 }) { id } }", json!({ "b": a1 }))
        .await;
    let pillar_a = pillar["createCsrPillar"]["id"].as_str().unwrap().to_owned();
    let item = app
        .ok(Some(&t), "mutation($b: ID!, $p: ID!) { createContentItem(input: { brandId: $b, channel: \"instagram\", title: \"Victim launch post\", scheduledAt: \"2027-01-04T10:00:00Z\", pillarIds: [$p] }) { id } }", json!({ "b": a1, "p": pillar_a }))
        .await;
    let item_a = item["createContentItem"]["id"].as_str().unwrap().to_owned();
    app.ok(Some(&t), "mutation($id: ID!) { submitContentItem(id: $id) { id } }", json!({ "id": item_a })).await;
    let comment = app
        .ok(
            Some(&t),
            "mutation($id: ID!) { commentOnContentItem(id: $id, body: \"Ready for the client\") { id } }",
            json!({ "id": item_a }),
        )
        .await;
    let comment_a = comment["commentOnContentItem"]["id"].as_str().unwrap().to_owned();
    let mentions = app
        .ok(
            Some(&t),
            "query($b: ID!) { mentions(brandId: $b) { edges { node { id author { id handle } } } } }",
            json!({ "b": a1 }),
        )
        .await;
    let star = mentions["mentions"]["edges"].as_array().unwrap().iter().map(|e| &e["node"]);
    let star = star.clone().find(|n| n["author"]["handle"] == "victimstar").expect("the accusing mention");
    let (mention_a, author_a) =
        (star["id"].as_str().unwrap().to_owned(), star["author"]["id"].as_str().unwrap().to_owned());
    let share =
        app.ok(Some(&t), "mutation($b: ID!) { createCalendarShare(brandId: $b) { id } }", json!({ "b": a1 })).await;
    let share_a = share["createCalendarShare"]["id"].as_str().unwrap().to_owned();
    let report = app
        .ok(Some(&t), "mutation($b: ID!) { createReportShare(input: { brandId: $b, from: \"2026-11-01T00:00:00Z\", to: \"2026-12-01T00:00:00Z\", expiresAt: \"2027-06-01T00:00:00Z\" }) { id } }", json!({ "b": a1 }))
        .await;
    let report_a = report["createReportShare"]["id"].as_str().unwrap().to_owned();
    let foreign = app.sign_up("Intruder Agency", "owner@intruder.example").await;
    app.create_brand(&foreign.access_token, "Intruder Own Brand").await;
    Fixture {
        agency_a: owner_a.agency_id.clone(),
        owner_a,
        a1,
        a2,
        value_a1: value["createBrandValue"]["id"].as_str().unwrap().to_owned(),
        competitor_a1: competitor["createCompetitor"]["id"].as_str().unwrap().to_owned(),
        member_a: me["me"]["memberId"].as_str().unwrap().to_owned(),
        shift_a: shift["addOnCallShift"]["id"].as_str().unwrap().to_owned(),
        invitation_a: invitation["inviteMember"]["id"].as_str().unwrap().to_owned(),
        key_a: key["createApiKey"]["apiKey"]["id"].as_str().unwrap().to_owned(),
        failure_a,
        source_a,
        connection_a,
        oauth_ticket_a,
        template_a,
        influencer_a,
        alert_a,
        endpoint_a,
        delivery_a,
        interaction_a,
        idea_a,
        ticket_a,
        pillar_a,
        item_a,
        share_a,
        report_a,
        comment_a,
        mention_a,
        author_a,
        foreign,
        viewer,
        outsider,
        client_a1,
    }
}

/// A Bluesky connection of A1, stored as signing in would store it (the fixture
/// reaches no network).
async fn victim_connection(app: &TestApp, agency: &str, brand: &str) -> String {
    use sea_orm::{ActiveModelTrait, Set};
    use vigie_domain::entities::{StringList, connection};
    let id = vigie_domain::new_id();
    let sealed = app.services.config.vault.seal(id.as_bytes(), br#"{"kind":"app_password"}"#).unwrap();
    let at = vigie_domain::now();
    connection::ActiveModel {
        id: Set(id),
        agency_id: Set(vigie_tests::db_id(agency)),
        brand_id: Set(Some(vigie_tests::db_id(brand))),
        network: Set("bluesky".into()),
        kind: Set("app_password".into()),
        account: Set("victim.bsky.social".into()),
        account_id: Set(Some("did:plc:victim".into())),
        endpoint: Set("https://bsky.social".into()),
        scopes: Set(StringList::default()),
        key_id: Set(vigie_domain::platform::vault::Vault::key_id_of(&sealed).unwrap().into()),
        secret: Set(sealed),
        version: Set(0),
        expires_at: Set(None),
        healthy: Set(true),
        consecutive_failures: Set(0),
        last_success_at: Set(None),
        last_error: Set(None),
        sign_in_after: Set(None),
        quota_remaining: Set(None),
        quota_resets_at: Set(None),
        created_at: Set(at),
        updated_at: Set(at),
    }
    .insert(&app.services.db)
    .await
    .unwrap();
    global_id(NodeKind::Connection, id).0
}

/// An OAuth authorisation of agency A waiting for its owner to complete it.
async fn victim_oauth_ticket(app: &TestApp, owner: &vigie_tests::Login, brand: &str) -> String {
    use sea_orm::{ActiveModelTrait, Set};
    use vigie_domain::entities::oauth_grant;
    let ticket = "victim-oauth-ticket".to_owned();
    let id = vigie_domain::new_id();
    let at = vigie_domain::now();
    oauth_grant::ActiveModel {
        id: Set(id),
        agency_id: Set(vigie_tests::db_id(&owner.agency_id)),
        brand_id: Set(Some(vigie_tests::db_id(brand))),
        user_id: Set(vigie_tests::db_id(&owner.user_id)),
        network: Set("youtube".into()),
        state_hash: Set(format!("used:{id}")),
        verifier: Set(String::new()),
        ticket_hash: Set(Some(vigie_domain::sha256_hex(&ticket))),
        consent: Set(Some(app.services.config.vault.seal(id.as_bytes(), b"{}").unwrap())),
        expires_at: Set(at + chrono::Duration::minutes(10)),
        created_at: Set(at),
    }
    .insert(&app.services.db)
    .await
    .unwrap();
    ticket
}

#[derive(Clone, Copy, PartialEq)]
enum Intruder {
    Foreign,
    Viewer,
    Member,
}

/// What an intruder must never see.
fn markers(f: &Fixture, intruder: Intruder) -> Vec<String> {
    // A1's own data and its staff's notes: no intruder may see them.
    let mut list: Vec<String> = vec![
        f.a1.clone(),
        "Victim Brand One".into(),
        f.value_a1.clone(),
        "Secret value".into(),
        f.competitor_a1.clone(),
        "Victim Rival".into(),
        "rivalsecret".into(),
        f.key_a.clone(),
        f.failure_a.clone(),
        "victim job failed".into(),
        f.source_a.clone(),
        "victim.example/feed.xml".into(),
        f.connection_a.clone(),
        "victim.bsky.social".into(),
        f.template_a.clone(),
        "Victim canned answer".into(),
        f.influencer_a.clone(),
        "victimfan".into(),
        "a secret mention".into(),
        f.alert_a.clone(),
        "shameful lie".into(),
        f.endpoint_a.clone(),
        "victim-hook".into(),
        f.delivery_a.clone(),
        f.interaction_a.clone(),
        "Victim private call notes".into(),
        f.idea_a.clone(),
        "Victim secret idea".into(),
        f.ticket_a.clone(),
        "Where is my victim order".into(),
        f.pillar_a.clone(),
        "Victim pillar".into(),
        f.item_a.clone(),
        "Victim launch post".into(),
        f.share_a.clone(),
        f.report_a.clone(),
        "vip-secret-tag".into(),
        "Victim private relationship note".into(),
        f.comment_a.clone(),
        f.mention_a.clone(),
        f.author_a.clone(),
    ];
    // The agency's people and settings: a member of the agency may see who works there.
    if intruder != Intruder::Member {
        list.extend([
            f.member_a.clone(),
            f.shift_a.clone(),
            f.invitation_a.clone(),
            "owner@victim.example".into(),
            "member@victim.example".into(),
            "pending@victim.example".into(),
        ]);
    }
    if intruder == Intruder::Foreign {
        list.extend([f.agency_a.clone(), "Victim Agency".into(), f.a2.clone(), "Victim Brand Two".into()]);
    }
    // An id leaks in any of its forms: the bare UUID, or a global id of any kind.
    let ids: Vec<uuid::Uuid> = list.iter().filter_map(|marker| vigie_api::graphql::node::parse_id(marker)).collect();
    for id in ids {
        list.push(id.to_string());
        list.extend(NodeKind::ALL.iter().map(|kind| global_id(*kind, id).0));
    }
    list
}

async fn root_fields(app: &TestApp) -> BTreeSet<String> {
    let data = app
        .ok(
            None,
            "{ __schema { queryType { fields { name } } mutationType { fields { name } } subscriptionType { fields { name } } } }",
            json!({}),
        )
        .await;
    [("queryType", ""), ("mutationType", ""), ("subscriptionType", "subscription.")]
        .iter()
        .flat_map(|(root, prefix)| {
            let fields = data["__schema"][root]["fields"].as_array().cloned().unwrap_or_default();
            fields.into_iter().map(move |f| format!("{prefix}{}", f["name"].as_str().unwrap()))
        })
        .collect()
}

/// A subscription's first answer over graphql-ws, as a GraphQL response.
async fn subscribe(base: &str, login: &Login, query: &str, variables: Value) -> Value {
    let mut socket = Subscription::connect(base, Some(&login.access_token)).await;
    socket.subscribe("1", query, variables).await;
    let message = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        loop {
            let message = socket.message().await;
            if message["id"] == "1" {
                return message;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no answer to {query}"));
    match message["type"].as_str() {
        Some("next") => message["payload"].clone(),
        Some("error") => json!({ "data": null, "errors": message["payload"] }),
        _ => json!({ "data": null, "errors": [], "unexpected": message }),
    }
}

/// What is wrong with `response`, if anything.
fn check(expect: Expect, response: &Value, markers: &[String]) -> Option<String> {
    let text = response.to_string();
    if let Some(marker) = markers.iter().find(|marker| text.contains(marker.as_str())) {
        return Some(format!("saw `{marker}`"));
    }
    let codes = error_codes(response);
    let refused = match expect {
        Expect::Denied => codes.len() == 1 && (codes[0] == "NOT_FOUND" || codes[0] == "FORBIDDEN"),
        Expect::Code(code) => codes == [code],
        Expect::Own => return (!codes.is_empty()).then(|| format!("should succeed on its own data, got {codes:?}")),
    };
    if !refused {
        Some(format!("expected {expect:?}, got {codes:?}"))
    } else if !response["data"].is_null() {
        Some("got data with its error".to_owned())
    } else {
        None
    }
}

async fn every_root_field_is_isolated(backend: Backend) {
    // Introspection lists the root fields (it is off by default with PostgreSQL).
    let app = TestApp::with_config(backend, &[("VIGIE_INTROSPECTION", "true")]).await;
    let f = fixture(&app).await;
    let cases = cases();

    let covered: BTreeSet<String> = cases.iter().map(|c| c.field.to_owned()).collect();
    let fields = root_fields(&app).await;
    let missing: Vec<_> = fields.difference(&covered).collect();
    assert!(missing.is_empty(), "root fields without an isolation case in tests/tests/it/tenancy.rs: {missing:?}");
    let stale: Vec<_> = covered.difference(&fields).collect();
    assert!(stale.is_empty(), "isolation cases for fields that no longer exist: {stale:?}");

    // The victim's owner finds every one of the objects the intruders must not.
    let mine = app
        .ok(
            Some(&f.owner_a.access_token),
            "query($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }",
            all_nodes(&f, &f.owner_a),
        )
        .await;
    for ((kind, id), found) in f.global_ids().iter().zip(mine["nodes"].as_array().unwrap()) {
        assert_eq!((found["__typename"].as_str(), found["id"].as_str()), (Some(kind.as_str()), Some(id.as_str())));
    }

    let foreign_markers = markers(&f, Intruder::Foreign);
    let viewer_markers = markers(&f, Intruder::Viewer);
    let member_markers = markers(&f, Intruder::Member);
    let serving = vigie_api::http::serve(app.services.clone(), "127.0.0.1:0".parse().unwrap()).unwrap();
    tokio::spawn(serving.server);
    let base = format!("http://{}", serving.addr);
    let mut wrong = Vec::new();
    for case in &cases {
        for (who, login, expect, markers) in [
            ("another agency's owner", &f.foreign, case.foreign, &foreign_markers),
            ("a client viewer of another brand", &f.viewer, case.viewer, &viewer_markers),
            ("a member assigned to another brand", &f.outsider, case.member, &member_markers),
        ] {
            let variables = (case.vars)(&f, login);
            let response = if case.field.starts_with("subscription.") {
                subscribe(&base, login, case.query, variables).await
            } else {
                app.gql(Some(&login.access_token), case.query, variables).await
            };
            if let Some(problem) = check(expect, &response, markers) {
                wrong.push(format!("{} as {who}: {problem}: {response}", case.field));
            }
        }
    }
    assert!(wrong.is_empty(), "{} isolation failures:\n{}", wrong.len(), wrong.join("\n"));
    serving.stopper.stop().await;
    staff_details_are_hidden_from_client_viewers(&app, &f).await;

    // Nothing of the victim changed.
    let t = Some(f.owner_a.access_token.as_str());
    let state = app
        .ok(t, "{ agency { name } brands { edges { node { id name values { id name } } } } members { edges { node { id role brands { id } } } } invitations { edges { node { id status } } } apiKeys { edges { node { id revokedAt } } } }", json!({}))
        .await;
    assert_eq!(state["agency"]["name"], "Victim Agency");
    assert_eq!(
        state["brands"]["edges"],
        json!([
            { "node": { "id": f.a1, "name": "Victim Brand One", "values": [{ "id": f.value_a1, "name": "Secret value" }] } },
            { "node": { "id": f.a2, "name": "Victim Brand Two", "values": [] } }
        ])
    );
    let members = state["members"]["edges"].as_array().unwrap();
    assert_eq!(members.len(), 5);
    let member = members.iter().find(|m| m["node"]["id"] == f.member_a.as_str()).unwrap();
    assert_eq!(member["node"]["role"], "MEMBER");
    assert_eq!(member["node"]["brands"], json!([{ "id": f.a1 }]));
    let invitation = state["invitations"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["node"]["id"] == f.invitation_a.as_str())
        .unwrap()
        .clone();
    assert_eq!(invitation["node"]["status"], "PENDING");
    assert!(state["apiKeys"]["edges"][0]["node"]["revokedAt"].is_null());
    let collected = app
        .ok(
            t,
            "query($b: ID!) { sources(brandId: $b) { edges { node { id target } } } influencers(brandId: $b) { edges { node { id } } } }",
            json!({ "b": f.a1 }),
        )
        .await;
    let sources = collected["sources"]["edges"].as_array().unwrap();
    assert!(
        sources.iter().any(|s| s["node"] == json!({ "id": f.source_a, "target": "https://victim.example/feed.xml" }))
    );
    assert!(
        collected["influencers"]["edges"].as_array().unwrap().contains(&json!({ "node": { "id": f.influencer_a } }))
    );
    let crisis = app
        .ok(
            t,
            "query($a: ID!, $e: ID!) { alert(id: $a) { status } webhookEndpoints { id url enabled } webhookDeliveries(endpointId: $e) { edges { node { id } } } }",
            json!({ "a": f.alert_a, "e": f.endpoint_a }),
        )
        .await;
    assert_eq!(crisis["alert"]["status"], "OPEN");
    let crm = app
        .ok(
            t,
            "query($i: ID!, $b: ID!) { interactions(influencerId: $i) { edges { node { id } } } ideas(brandId: $b) { edges { node { id status } } } }",
            json!({ "i": f.influencer_a, "b": f.a1 }),
        )
        .await;
    assert_eq!(crm["interactions"]["edges"], json!([{ "node": { "id": f.interaction_a } }]));
    let inbox = app
        .ok(t, "query($b: ID!) { tickets(brandId: $b) { edges { node { id status assignee { id } responseText } } } slaPolicy(brandId: $b) { source } }", json!({ "b": f.a1 }))
        .await;
    assert_eq!(
        inbox["tickets"]["edges"],
        json!([{ "node": { "id": f.ticket_a, "status": "OPEN", "assignee": { "id": f.member_a }, "responseText": null } }])
    );
    assert_eq!(inbox["slaPolicy"]["source"], "BUILT_IN");
    let calendar = app
        .ok(t, "query($b: ID!) { csrPillars(brandId: $b) { id name } contentItems(brandId: $b) { edges { node { id title status comments { id } } } } }", json!({ "b": f.a1 }))
        .await;
    assert_eq!(calendar["csrPillars"], json!([{ "id": f.pillar_a, "name": "Victim pillar" }]));
    assert_eq!(
        calendar["contentItems"]["edges"],
        json!([{ "node": { "id": f.item_a, "title": "Victim launch post", "status": "IN_REVIEW", "comments": [{ "id": calendar["contentItems"]["edges"][0]["node"]["comments"][0]["id"] }] } }])
    );
    assert_eq!(crm["ideas"]["edges"], json!([{ "node": { "id": f.idea_a, "status": "PROPOSED" } }]));
    assert_eq!(
        crisis["webhookEndpoints"],
        json!([{ "id": f.endpoint_a, "url": "https://93.184.216.34/victim-hook", "enabled": true }])
    );
    assert_eq!(crisis["webhookDeliveries"]["edges"], json!([{ "node": { "id": f.delivery_a } }]));
    let shares = app
        .ok(
            t,
            "query($b: ID!) { shares(brandId: $b) { edges { node { id expiresAt active } } } }",
            json!({ "b": f.a1 }),
        )
        .await;
    let report = shares["shares"]["edges"].as_array().unwrap().iter().find(|e| e["node"]["id"] == f.report_a.as_str());
    assert_eq!(report.expect("the report link")["node"]["expiresAt"], "2027-06-01T00:00:00+00:00");
    let failures = app.ok(t, "{ jobFailures { edges { node { id resolution } } } }", json!({})).await;
    assert_eq!(failures["jobFailures"]["edges"], json!([{ "node": { "id": f.failure_a, "resolution": null } }]));
}
on_both_databases!(every_root_field_is_isolated);

/// A1's own client viewer reads what it may (influencers, tickets, the calendar, an
/// alert) without the agency's internal details: who owns or handles what, their
/// emails, CRM tags, statuses and notes, who reviewed a post.
async fn staff_details_are_hidden_from_client_viewers(app: &TestApp, f: &Fixture) {
    let client = Some(f.client_a1.access_token.as_str());
    let owner = Some(f.owner_a.access_token.as_str());
    const CRM: &str = "query($b: ID!) { influencers(brandId: $b) { edges { node { id relationshipStatus owner { id user { email } } tags notes contactCadenceDays nextContactDueAt contactOverdue } } } }";
    let staff = app.ok(owner, CRM, json!({ "b": f.a1 })).await;
    let staff_view = staff["influencers"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["node"]["id"] == f.influencer_a.as_str())
        .expect("the influencer")["node"]
        .clone();
    assert_eq!(staff_view["relationshipStatus"], "ENGAGED");
    assert_eq!(staff_view["tags"], json!(["vip-secret-tag"]));
    assert_eq!(staff_view["owner"]["user"]["email"], "member@victim.example");
    let seen = app.gql(client, CRM, json!({ "b": f.a1 })).await;
    assert!(seen.get("errors").is_none(), "{seen:#}");
    let nodes = seen["data"]["influencers"]["edges"].as_array().unwrap();
    assert!(nodes.iter().any(|e| e["node"]["id"] == f.influencer_a.as_str()), "the client viewer sees the ranking");
    for node in nodes {
        for field in
            ["relationshipStatus", "owner", "tags", "notes", "contactCadenceDays", "nextContactDueAt", "contactOverdue"]
        {
            assert!(node["node"][field].is_null(), "{field}: {seen:#}");
        }
    }

    let inbox = "query($b: ID!) { tickets(brandId: $b) { edges { node { id assignee { id user { email } } } } } }";
    let tickets = app.gql(client, inbox, json!({ "b": f.a1 })).await;
    let calendar = "query($b: ID!) { contentItems(brandId: $b) { edges { node { id createdBy { email } auditTrail { reviewer { id email } } comments { author { name email } } } } } }";
    let items = app.gql(client, calendar, json!({ "b": f.a1 })).await;
    let alert = "query($a: ID!) { alert(id: $a) { id timeline { kind actor { id email } } } }";
    let timeline = app.gql(client, alert, json!({ "a": f.alert_a })).await;
    for response in [&seen, &tickets, &items, &timeline] {
        let text = response.to_string();
        for secret in [
            "vip-secret-tag",
            "Victim private relationship note",
            "ENGAGED",
            "owner@victim.example",
            "member@victim.example",
            f.member_a.as_str(),
            f.owner_a.user_id.as_str(),
        ] {
            assert!(!text.contains(secret), "a client viewer saw `{secret}`: {response:#}");
        }
    }
    // Where the client viewer may read at all, it reads without errors.
    for response in [&tickets, &items, &timeline] {
        let codes = error_codes(response);
        assert!(codes.is_empty() || codes == ["FORBIDDEN"], "{response:#}");
    }
    let listed = items["data"]["contentItems"]["edges"].as_array().cloned().unwrap_or_default();
    assert_eq!(listed.len(), 1, "the client viewer reviews A1's posts: {items:#}");
    assert!(listed[0]["node"]["createdBy"].is_null());
    let comments = listed[0]["node"]["comments"].as_array().unwrap();
    assert_eq!(comments.len(), 1, "the client viewer reads the agency's comment");
    assert!(comments[0]["author"].is_null(), "but not who wrote it: {items:#}");
    assert!(listed[0]["node"]["auditTrail"].as_array().unwrap().iter().all(|r| r["reviewer"].is_null()));
}

/// The domain's batch reads (what DataLoaders call with ids taken from objects already
/// shown) check those ids against the actor themselves: an intruder's ids read nothing.
async fn batch_reads_take_no_id_on_trust(backend: Backend) {
    use vigie_domain::{Actor, calendar, crises, webhooks};
    let app = TestApp::with_config(backend, &[("VIGIE_INTROSPECTION", "true")]).await;
    let f = fixture(&app).await;
    let db = &app.services.db;
    let id = vigie_tests::db_id;
    let (alert, item, brand, delivery) = (id(&f.alert_a), id(&f.item_a), id(&f.a1), id(&f.delivery_a));
    // As the api makes it: from a verified token, never from bare ids.
    let actor = |login: &Login| {
        let claims = app.services.tokens.verify(&login.access_token).expect("a valid token");
        async move { Actor::of(db, &claims).await }
    };

    let owner = actor(&f.owner_a).await.unwrap();
    assert!(!crises::timelines(db, &owner, &[alert]).await.unwrap().is_empty());
    assert!(!crises::linked_mentions(db, &owner, &[alert], 10).await.unwrap().is_empty());
    assert!(!calendar::comments_of(db, &owner, &[item]).await.unwrap().is_empty());
    assert!(!calendar::reviews_of(db, &owner, &[item]).await.unwrap().is_empty());
    assert!(!calendar::links_of_items(db, &owner, &[item]).await.unwrap().0.is_empty());
    assert!(!calendar::pillars_of(db, &owner, &[brand]).await.unwrap().is_empty());
    webhooks::attempts(db, &owner, &[delivery]).await.expect("the owner reads attempts");

    for intruder in [&f.foreign, &f.viewer, &f.outsider] {
        let intruder = actor(intruder).await.unwrap();
        assert!(crises::timelines(db, &intruder, &[alert]).await.unwrap().is_empty());
        assert!(crises::linked_mentions(db, &intruder, &[alert], 10).await.unwrap().is_empty());
        assert!(calendar::comments_of(db, &intruder, &[item]).await.unwrap().is_empty());
        assert!(calendar::reviews_of(db, &intruder, &[item]).await.unwrap().is_empty());
        let (pillars, values) = calendar::links_of_items(db, &intruder, &[item]).await.unwrap();
        assert!(pillars.is_empty() && values.is_empty());
        assert!(calendar::pillars_of(db, &intruder, &[brand]).await.unwrap().is_empty());
        match webhooks::attempts(db, &intruder, &[delivery]).await {
            Ok(attempts) => assert!(attempts.is_empty()),
            Err(refused) => assert_eq!(refused.code(), "FORBIDDEN"),
        }
    }
}
on_both_databases!(batch_reads_take_no_id_on_trust);
