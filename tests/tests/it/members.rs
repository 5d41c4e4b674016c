//! Invitations (with a real SMTP server), roles, brand assignment and API keys.

use serde_json::{Value, json};
use std::time::{Duration, Instant};
use vigie_domain::System;
use vigie_tests::redis_server::{RedisCluster, RedisServer};
use vigie_tests::smtp::SmtpServer;
use vigie_tests::{Backend, Login, Replica, TestApp, assert_error, invitation_code, on_both_databases, redis_url};

const INVITE: &str = "mutation($input: InviteMemberInput!) { inviteMember(input: $input) { id email role status } }";
const ACCEPT: &str =
    "mutation($input: AcceptInvitationInput!) { acceptInvitation(input: $input) { accessToken role agency { name } } }";

/// An app that sends its mail, from `robot@vigie.test`, to a real SMTP server on
/// loopback, with its job runtime running.
async fn with_smtp(backend: Backend) -> (SmtpServer, TestApp, vigie_tests::Jobs) {
    let smtp = SmtpServer::start();
    let app =
        TestApp::with_config(backend, &[("SMTP_URL", &smtp.url), ("VIGIE_MAIL_FROM", "Vigie <robot@vigie.test>")])
            .await;
    let jobs = app.start_jobs();
    (smtp, app, jobs)
}

async fn invitation_email_is_delivered_over_smtp_and_accepted(backend: Backend) {
    let (smtp, app, jobs) = with_smtp(backend).await;
    let owner = app.sign_up("Agence Soleil", "owner@example.com").await;
    let brand = app.create_brand(&owner.access_token, "Soleil").await;
    let invited = app
        .ok(
            Some(&owner.access_token),
            INVITE,
            json!({ "input": { "email": "New.Person@Example.com", "role": "CLIENT_VIEWER", "brandIds": [brand] } }),
        )
        .await;
    assert_eq!(invited["inviteMember"]["status"], "PENDING");
    assert_eq!(invited["inviteMember"]["email"], "new.person@example.com");

    let mail = smtp.wait_for("new.person@example.com").await;
    assert!(mail.from.contains("robot@vigie.test"));
    assert!(mail.raw.contains("Join Agence Soleil on Vigie"));
    assert!(mail.raw.contains("text/html"), "the invitation has an HTML part");
    let code = invitation_code(&mail.raw);

    let accepted = app
        .ok(
            None,
            ACCEPT,
            json!({ "input": { "token": code, "name": "New Person", "password": "another good password" } }),
        )
        .await;
    assert_eq!(accepted["acceptInvitation"]["role"], "CLIENT_VIEWER");
    assert_eq!(accepted["acceptInvitation"]["agency"]["name"], "Agence Soleil");
    let viewer = accepted["acceptInvitation"]["accessToken"].as_str().unwrap();
    let brands = app.ok(Some(viewer), "{ brands { edges { node { id } } } }", json!({})).await;
    assert_eq!(brands["brands"]["edges"], json!([{ "node": { "id": brand } }]));

    // The outbox keeps no live token once the email is sent.
    let row = vigie_tests::eventually("the outbox row to turn sent", std::time::Duration::from_secs(10), async || {
        use sea_orm::EntityTrait;
        let rows = vigie_domain::entities::email_outbox::Entity::find().all(&app.services.db).await.unwrap();
        let row = rows.into_iter().find(|r| r.to_address == "new.person@example.com").expect("the outbox row");
        if row.status == "sent" { Ok(row) } else { Err(row.status) }
    })
    .await;
    let stored = format!("{}{}", row.text_body, row.html_body.clone().unwrap_or_default());
    assert!(!stored.contains(&code[4..]), "{stored}");
    assert!(stored.contains("vgi_[redacted]"), "{stored}");

    // Single use.
    assert_error(
        &app.gql(
            None,
            ACCEPT,
            json!({ "input": { "token": code, "name": "Again", "password": "another good password" } }),
        )
        .await,
        "NOT_FOUND",
    );
    jobs.stop().await;
}
on_both_databases!(invitation_email_is_delivered_over_smtp_and_accepted);

async fn without_smtp_emails_are_logged_and_kept_in_the_outbox(backend: Backend) {
    let app = TestApp::new(backend).await;
    let owner = app.sign_up("Agency", "owner@example.com").await;
    app.ok(Some(&owner.access_token), INVITE, json!({ "input": { "email": "x@example.com", "role": "MEMBER" } })).await;
    let (log, guard) = vigie_tests::logs::capture(tracing::Level::INFO);
    assert_eq!(app.services.mailer.dispatch_due(System::for_tests(), &app.services.db).await.unwrap(), 1);
    drop(guard);
    use sea_orm::EntityTrait;
    let rows = vigie_domain::entities::email_outbox::Entity::find().all(&app.services.db).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status, "logged");
    let code = invitation_code(&rows[0].text_body);
    let logged = log.text();
    assert!(logged.contains("x@example.com"), "the email was logged: {logged}");
    assert!(logged.contains("vgi_[redacted]"), "{logged}");
    assert!(!logged.contains(&code[4..]), "the invitation token reached the log: {logged}");
    assert_eq!(
        app.services.mailer.dispatch_due(System::for_tests(), &app.services.db).await.unwrap(),
        0,
        "each email is handled once"
    );
}
on_both_databases!(without_smtp_emails_are_logged_and_kept_in_the_outbox);

async fn roles_and_brand_assignments(backend: Backend) {
    let app = TestApp::new(backend).await;
    let owner = app.sign_up("Agency", "owner@example.com").await;
    let (one, two) =
        (app.create_brand(&owner.access_token, "One").await, app.create_brand(&owner.access_token, "Two").await);
    let admin = app.invite_and_accept(&owner.access_token, "admin@example.com", "ADMIN", &[]).await;
    let member = app.invite_and_accept(&admin.access_token, "member@example.com", "MEMBER", &[&one]).await;

    // A member sees and edits assigned brands only, and cannot create brands.
    let seen = app.ok(Some(&member.access_token), "{ brands { edges { node { name } } } }", json!({})).await;
    assert_eq!(seen["brands"]["edges"], json!([{ "node": { "name": "One" } }]));
    let update = "mutation($id: ID!) { updateBrand(input: { id: $id, sector: \"food\" }) { sector } }";
    app.ok(Some(&member.access_token), update, json!({ "id": one })).await;
    assert_error(&app.gql(Some(&member.access_token), update, json!({ "id": two })).await, "NOT_FOUND");
    assert_error(
        &app.gql(
            Some(&member.access_token),
            "mutation { createBrand(input: { name: \"N\", timeZone: \"UTC\" }) { id } }",
            json!({}),
        )
        .await,
        "FORBIDDEN",
    );

    // Admins cannot grant owner; only owners manage admins.
    assert_error(
        &app.gql(Some(&admin.access_token), INVITE, json!({ "input": { "email": "o2@example.com", "role": "OWNER" } }))
            .await,
        "FORBIDDEN",
    );
    let members = app
        .ok(
            Some(&owner.access_token),
            "{ members { edges { node { id role user { email } brands { name } } } } }",
            json!({}),
        )
        .await;
    let edges = members["members"]["edges"].as_array().unwrap().clone();
    assert_eq!(edges.len(), 3);
    let id_of = |email: &str| {
        edges.iter().find(|e| e["node"]["user"]["email"] == email).unwrap()["node"]["id"].as_str().unwrap().to_owned()
    };
    let member_edge = edges.iter().find(|e| e["node"]["user"]["email"] == "member@example.com").unwrap();
    assert_eq!(member_edge["node"]["brands"], json!([{ "name": "One" }]));

    let role = "mutation($id: ID!, $role: MemberRole!) { updateMemberRole(memberId: $id, role: $role) { role } }";
    assert_error(
        &app.gql(Some(&admin.access_token), role, json!({ "id": id_of("owner@example.com"), "role": "MEMBER" })).await,
        "FORBIDDEN",
    );
    let last_owner =
        app.gql(Some(&owner.access_token), role, json!({ "id": id_of("owner@example.com"), "role": "ADMIN" })).await;
    assert_error(&last_owner, "BAD_USER_INPUT");

    // Re-assigning brands takes effect on the member's next request.
    let set =
        "mutation($id: ID!, $brands: [ID!]!) { setMemberBrands(memberId: $id, brandIds: $brands) { brands { name } } }";
    let reassigned =
        app.ok(Some(&admin.access_token), set, json!({ "id": id_of("member@example.com"), "brands": [two] })).await;
    assert_eq!(reassigned["setMemberBrands"]["brands"], json!([{ "name": "Two" }]));
    let seen = app.ok(Some(&member.access_token), "{ brands { edges { node { name } } } }", json!({})).await;
    assert_eq!(seen["brands"]["edges"], json!([{ "node": { "name": "Two" } }]));

    // A removed member's tokens stop working at once.
    app.ok(
        Some(&owner.access_token),
        "mutation($id: ID!) { removeMember(memberId: $id) { deletedId } }",
        json!({ "id": id_of("member@example.com") }),
    )
    .await;
    assert_error(&app.gql(Some(&member.access_token), "{ me { role } }", json!({})).await, "UNAUTHENTICATED");
    let refresh = app
        .gql(
            None,
            "mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken } }",
            json!({ "t": member.refresh_token }),
        )
        .await;
    assert_error(&refresh, "UNAUTHENTICATED");
}
on_both_databases!(roles_and_brand_assignments);

/// Api replicas keep verified callers for minutes here, yet an access change made
/// through one replica takes effect on the others as soon as the bus carries it: brands
/// taken away are gone, a removed member is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_changes_reach_every_replica_over_redis() {
    access_changes_reach_every_replica(&[("REDIS_URL", &redis_url())]).await;
}

/// The same through a three-primary Redis Cluster: the notices go over classic pub/sub,
/// which the cluster forwards from whichever node takes the publish.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_changes_reach_every_replica_over_a_redis_cluster() {
    let cluster = RedisCluster::start();
    access_changes_reach_every_replica(&[("REDIS_URL", &cluster.url()), ("VIGIE_REDIS_CLUSTER", "true")]).await;
}

async fn access_changes_reach_every_replica(redis: &[(&str, &str)]) {
    let setup = AccessSetup::new(redis).await;
    let (app, other, member) = (&setup.app, &setup.other, &setup.member);
    setup.wait_until_kept(&setup.one, "One").await;

    setup.assign(&[&setup.two]).await;
    eventually(|| other.gql(Some(&member.access_token), BRAND, json!({ "id": setup.one })), "NOT_FOUND").await;

    let remove = "mutation($id: ID!) { removeMember(memberId: $id) { deletedId } }";
    app.ok(Some(&setup.owner.access_token), remove, json!({ "id": setup.member_id })).await;
    eventually(|| other.gql(Some(&member.access_token), "{ me { role } }", json!({})), "UNAUTHENTICATED").await;
}

/// While a replica cannot hear the bus it keeps no caller, so an access change whose
/// notice was lost (published while Redis was down) still takes effect there at once.
/// Once the subscription is back, callers are kept again and notices reach them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_are_not_kept_while_the_bus_is_down() {
    let mut redis = RedisServer::start();
    let setup = AccessSetup::new(&[("REDIS_URL", &redis.url())]).await;
    let (other, member) = (&setup.other, &setup.member);
    setup.wait_until_kept(&setup.one, "One").await;

    redis.stop();
    // Nothing asks the replica meanwhile, so only its follower can empty the cache: on
    // hearing the subscription drop, which also turns the cache off.
    let started = Instant::now();
    while other.services.callers.cached() > 0 {
        assert!(started.elapsed() < Duration::from_secs(10), "the replica kept its callers with the bus down");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    setup.assign(&[&setup.two]).await;
    for _ in 0..3 {
        let seen = other.gql(Some(&member.access_token), BRAND, json!({ "id": setup.one })).await;
        assert_eq!(seen["errors"][0]["extensions"]["code"], "NOT_FOUND", "{seen:#}");
        let seen = other.gql(Some(&member.access_token), BRAND, json!({ "id": setup.two })).await;
        assert_eq!(seen["data"]["brand"]["name"], "Two", "{seen:#}");
    }
    assert_eq!(other.services.callers.cached(), 0, "no caller is kept while the bus is down");

    redis.restart();
    setup.wait_until_kept(&setup.two, "Two").await;
    setup.assign(&[&setup.one]).await;
    eventually(|| other.gql(Some(&member.access_token), BRAND, json!({ "id": setup.two })), "NOT_FOUND").await;
}

const BRAND: &str = "query($id: ID!) { brand(id: $id) { name } }";

/// An agency with brands `One` and `Two`, a member assigned to `One`, and a second
/// replica, all over the Redis `redis` sets up (`REDIS_URL`…) with callers kept for five
/// minutes.
struct AccessSetup {
    app: TestApp,
    other: Replica,
    owner: Login,
    member: Login,
    member_id: Value,
    one: String,
    two: String,
}

impl AccessSetup {
    async fn new(redis: &[(&str, &str)]) -> Self {
        let config = [redis, &[("VIGIE_CALLER_CACHE_SECS", "300")]].concat();
        let app = TestApp::with_config(Backend::Postgres, &config).await;
        let other = app.replica().await;
        let owner = app.sign_up("Agency", "owner@example.com").await;
        let (one, two) =
            (app.create_brand(&owner.access_token, "One").await, app.create_brand(&owner.access_token, "Two").await);
        let member = app.invite_and_accept(&owner.access_token, "member@example.com", "MEMBER", &[&one]).await;
        let members =
            app.ok(Some(&owner.access_token), "{ members { edges { node { id user { email } } } } }", json!({})).await;
        let member_id = members["members"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["node"]["user"]["email"] == "member@example.com")
            .unwrap()["node"]["id"]
            .clone();
        AccessSetup { app, other, owner, member, member_id, one, two }
    }

    /// Asks the other replica for `brand` (named `name`) as the member until it keeps
    /// the member, which it does once its bus subscription is in place.
    async fn wait_until_kept(&self, brand: &str, name: &str) {
        let started = Instant::now();
        while self.other.services.callers.cached() == 0 {
            assert!(started.elapsed() < Duration::from_secs(15), "the replica never kept a caller");
            let seen = self.other.gql(Some(&self.member.access_token), BRAND, json!({ "id": brand })).await;
            assert_eq!(seen["data"]["brand"]["name"], name, "{seen:#}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Assigns the member to `brands` through the first replica.
    async fn assign(&self, brands: &[&String]) {
        let set = "mutation($id: ID!, $brands: [ID!]!) { setMemberBrands(memberId: $id, brandIds: $brands) { id } }";
        self.app.ok(Some(&self.owner.access_token), set, json!({ "id": self.member_id, "brands": brands })).await;
    }
}

/// Asks until the answer fails with `code`; the bus carries a change in milliseconds,
/// far below the five minutes the callers are kept for in this test.
async fn eventually<F: std::future::Future<Output = Value>>(ask: impl Fn() -> F, code: &str) {
    let started = Instant::now();
    loop {
        let answer = ask().await;
        if answer["errors"][0]["extensions"]["code"] == code {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "still answered after 5 s: {answer:#}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn api_keys_are_shown_once_stored_hashed_and_revocable(backend: Backend) {
    let app = TestApp::new(backend).await;
    let owner = app.sign_up("Agency", "owner@example.com").await;
    let brand = app.create_brand(&owner.access_token, "Brand").await;
    let t = Some(owner.access_token.as_str());
    let created = app
        .ok(t, "mutation($b: ID) { createApiKey(input: { name: \"ingest\", brandId: $b }) { secret apiKey { id prefix brand { name } } } }", json!({ "b": brand }))
        .await;
    let secret = created["createApiKey"]["secret"].as_str().unwrap().to_owned();
    let id = created["createApiKey"]["apiKey"]["id"].as_str().unwrap().to_owned();
    assert!(
        secret.starts_with("vgk_") && secret.starts_with(created["createApiKey"]["apiKey"]["prefix"].as_str().unwrap())
    );
    assert_eq!(created["createApiKey"]["apiKey"]["brand"]["name"], "Brand");

    use sea_orm::EntityTrait;
    let stored = vigie_domain::entities::api_key::Entity::find().all(&app.services.db).await.unwrap();
    assert!(stored.iter().all(|k| k.secret_hash != secret && !k.secret_hash.contains(&secret)));

    let principal = vigie_domain::api_keys::authenticate(&app.services, &secret).await.unwrap();
    assert_eq!(principal.brand_id(), Some(vigie_tests::db_id(&brand)));
    let listed = app.ok(t, "{ apiKeys { edges { node { id lastUsedAt revokedAt } } } }", json!({})).await;
    assert!(!listed["apiKeys"]["edges"][0]["node"]["lastUsedAt"].is_null());
    assert!(!listed.to_string().contains(&secret), "the secret is never listed");

    app.ok(t, "mutation($id: ID!) { revokeApiKey(id: $id) { revokedAt } }", json!({ "id": id })).await;
    let refused = vigie_domain::api_keys::authenticate(&app.services, &secret).await;
    assert!(matches!(refused, Err(vigie_domain::Error::Unauthenticated(_))));
}
on_both_databases!(api_keys_are_shown_once_stored_hashed_and_revocable);

/// A manager's `senderEmail` is not verified: it becomes `Reply-To`, and `From` stays
/// the instance's own address, so Vigie cannot be made to send mail as someone else.
async fn an_agency_sender_is_a_reply_to_never_the_from(backend: Backend) {
    let (smtp, app, jobs) = with_smtp(backend).await;
    let owner = app.sign_up("Agence Soleil", "owner@example.com").await;
    let update = "mutation { updateAgency(input: { name: \"Agence Soleil <ceo@bank.example>\", senderEmail: \"ceo@bank.example\" }) { senderEmail } }";
    app.ok(Some(&owner.access_token), update, json!({})).await;
    app.ok(Some(&owner.access_token), INVITE, json!({ "input": { "email": "to@example.com", "role": "MEMBER" } }))
        .await;
    let mail = smtp.wait_for("to@example.com").await;
    assert_eq!(mail.from, "robot@vigie.test", "the envelope sender");
    let headers: Vec<&str> = mail.raw.split("\r\n\r\n").next().unwrap().lines().collect();
    let header = |name: &str| {
        headers
            .iter()
            .find(|l| l.to_lowercase().starts_with(&format!("{name}:")))
            .map(|l| l.to_string())
            .unwrap_or_default()
    };
    assert!(header("from").contains("<robot@vigie.test>"), "{}", mail.raw);
    assert!(header("from").contains("Agence Soleil ceobank.example via Vigie"), "{}", mail.raw);
    assert!(!header("from").contains("@bank.example"), "the name cannot pass for an address: {}", mail.raw);
    assert!(header("reply-to").contains("<ceo@bank.example>"), "{}", mail.raw);
    jobs.stop().await;
}
on_both_databases!(an_agency_sender_is_a_reply_to_never_the_from);

async fn invitations_are_capped_per_agency_per_day(backend: Backend) {
    let app = TestApp::with_config(backend, &[("VIGIE_INVITATIONS_PER_DAY", "3")]).await;
    let owner = app.sign_up("Agency", "owner@example.com").await;
    let invite = |email: String| json!({ "input": { "email": email, "role": "MEMBER" } });
    for i in 0..3 {
        app.ok(Some(&owner.access_token), INVITE, invite(format!("p{i}@example.com"))).await;
    }
    // Re-inviting the same address counts too: each one is an email.
    let refused = app.gql(Some(&owner.access_token), INVITE, invite("p0@example.com".into())).await;
    assert_error(&refused, "RATE_LIMITED");
    let outbox = vigie_tests::count(&app.services.db, "SELECT COUNT(*) FROM email_outbox").await;
    assert_eq!(outbox, 3, "no email for the refused invitation");
    let other = app.sign_up("Other", "other@example.com").await;
    app.ok(Some(&other.access_token), INVITE, invite("q@example.com".into())).await;
}
on_both_databases!(invitations_are_capped_per_agency_per_day);
