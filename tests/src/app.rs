//! The application driven in-process through the real GraphQL schema, with its job
//! runtime, and the helpers that read its answers.

use crate::{Backend, TestDb, invitation_code, new_mention, test_config};
use serde_json::{Value, json};
use std::sync::Arc;
use vigie_api::graphql::{self, Gateway};
use vigie_domain::Services;
use vigie_domain::System;

/// The standard job runtime running over a [`TestApp`]'s services.
pub struct Jobs {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Jobs {
    /// Stops the runtime and waits for the jobs in hand.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        self.task.await.expect("the job runtime ends cleanly");
    }
}

/// The application over a fresh database, driven through the real schema.
pub struct TestApp {
    pub services: Arc<Services>,
    pub gateway: Gateway,
    pub db: TestDb,
}

/// A second api process of a [`TestApp`] (see [`TestApp::replica`]).
pub struct Replica {
    pub services: Arc<Services>,
    pub gateway: Gateway,
}

impl Replica {
    /// Runs a GraphQL request on this replica and returns the whole response as JSON.
    pub async fn gql(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        run_graphql(&self.gateway, &self.services, token, query, variables).await
    }
}

async fn run_graphql(
    gateway: &Gateway,
    services: &Arc<Services>,
    token: Option<&str>,
    query: &str,
    variables: Value,
) -> Value {
    let request = async_graphql::Request::new(query).variables(async_graphql::Variables::from_json(variables));
    let response = graphql::execute(gateway, services, token, request).await;
    serde_json::to_value(&response).expect("response as JSON")
}

/// A logged-in user as seen by tests.
#[derive(Clone, Debug)]
pub struct Login {
    pub access_token: String,
    pub refresh_token: String,
    pub user_id: String,
    pub agency_id: String,
}

impl TestApp {
    pub async fn new(backend: Backend) -> Self {
        Self::with_config(backend, &[]).await
    }

    /// The application over a given queue (so tests can keep a handle on its backend).
    pub async fn with_queue(backend: Backend, queue: Arc<dyn vigie_domain::platform::queue::Queue>) -> Self {
        let db = TestDb::new(backend).await;
        let config = Arc::new(test_config(&db, &[]));
        let conn =
            vigie_domain::platform::db::connect(&config.database_url, config.api_pool_size()).await.expect("database");
        vigie_domain::platform::db::migrate(&conn).await.expect("migrations");
        let services = Arc::new(Services::with_queue(config, conn, queue).expect("services"));
        let gateway = Gateway::build(services.clone());
        TestApp { services, gateway, db }
    }

    pub async fn with_config(backend: Backend, extra: &[(&str, &str)]) -> Self {
        let db = TestDb::new(backend).await;
        let config = Arc::new(test_config(&db, extra));
        let services = Arc::new(Services::start(config).await.expect("services start"));
        let gateway = Gateway::build(services.clone());
        TestApp { services, gateway, db }
    }

    /// Starts the standard job runtime (every job and periodic task) over this app.
    pub fn start_jobs(&self) -> Jobs {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let runtime = vigie_domain::platform::jobs::Runtime::new(
            self.services.clone(),
            vigie_domain::job_registry(),
            Default::default(),
        );
        Jobs { stop, task: tokio::spawn(runtime.run(stopped)) }
    }

    /// Another api process over the same database and Redis: its own services, caches
    /// and bus subscription.
    pub async fn replica(&self) -> Replica {
        let services = Arc::new(Services::start(self.services.config.clone()).await.expect("replica services"));
        Replica { gateway: Gateway::build(services.clone()), services }
    }

    /// Runs a GraphQL request and returns the whole response as JSON.
    pub async fn gql(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        run_graphql(&self.gateway, &self.services, token, query, variables).await
    }

    /// Runs a request that must succeed and returns its `data`.
    pub async fn ok(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let response = self.gql(token, query, variables).await;
        assert!(response.get("errors").is_none(), "unexpected errors: {response:#}");
        response["data"].clone()
    }

    /// Logs in with a password; returns the access token.
    pub async fn log_in(&self, email: &str, password: &str) -> String {
        let query = "mutation($e: String!, $p: String!) { logIn(input: { email: $e, password: $p }) { accessToken } }";
        let data = self.ok(None, query, json!({ "e": email, "p": password })).await;
        data["logIn"]["accessToken"].as_str().expect("an access token").to_owned()
    }

    /// Signs up a new agency and returns its owner's login.
    pub async fn sign_up(&self, agency: &str, email: &str) -> Login {
        let data = self
            .ok(
                None,
                "mutation($input: SignUpInput!) { signUp(input: $input) { accessToken refreshToken user { id } agency { id } } }",
                json!({ "input": { "agencyName": agency, "name": "Owner", "email": email, "password": "correct horse battery" } }),
            )
            .await;
        login_from(&data["signUp"])
    }

    /// Creates a disabled Mastodon hashtag source (`#verdure`) for `brand`, to collect
    /// mentions through, and returns its id.
    pub async fn create_source(&self, token: Option<&str>, brand: &str) -> String {
        let query = "mutation($b: ID!) { createSource(input: { brandId: $b, network: MASTODON, kind: HASHTAG, target: \"verdure\", enabled: false }) { id } }";
        let data = self.ok(token, query, json!({ "b": brand })).await;
        data["createSource"]["id"].as_str().expect("source id").to_owned()
    }

    /// Creates a brand and returns its id.
    pub async fn create_brand(&self, token: &str, name: &str) -> String {
        let data = self
            .ok(
                Some(token),
                "mutation($input: CreateBrandInput!) { createBrand(input: $input) { id } }",
                json!({ "input": { "name": name, "timeZone": "Europe/Paris", "trackedKeywords": [name] } }),
            )
            .await;
        data["createBrand"]["id"].as_str().unwrap().to_owned()
    }
}

/// Reads an `AuthPayload` selection (`accessToken refreshToken user { id } agency { id }`).
pub fn login_from(payload: &Value) -> Login {
    Login {
        access_token: payload["accessToken"].as_str().expect("accessToken").to_owned(),
        refresh_token: payload["refreshToken"].as_str().expect("refreshToken").to_owned(),
        user_id: payload["user"]["id"].as_str().unwrap_or_default().to_owned(),
        agency_id: payload["agency"]["id"].as_str().unwrap_or_default().to_owned(),
    }
}

/// The `extensions.code` of each error of a response.
pub fn error_codes(response: &Value) -> Vec<String> {
    response["errors"]
        .as_array()
        .map(|errors| errors.iter().map(|e| e["extensions"]["code"].as_str().unwrap_or("<none>").to_owned()).collect())
        .unwrap_or_default()
}

/// Asserts that a response failed with `code` and that `data` holds nothing.
pub fn assert_error(response: &Value, code: &str) {
    let codes = error_codes(response);
    assert_eq!(codes, vec![code.to_owned()], "expected {code}: {response:#}");
    let data = &response["data"];
    assert!(
        data.is_null() || data.as_object().is_some_and(|o| o.values().all(Value::is_null)),
        "data leaked: {response:#}"
    );
}

impl TestApp {
    /// Records a dead-lettered job of `agency_id` (as the runtime does) and returns its
    /// failure id.
    pub async fn record_job_failure(&self, agency_id: &str, error: &str) -> String {
        use sea_orm::{ActiveModelTrait, Set};
        use vigie_domain::entities::job_failure;
        use vigie_domain::platform::queue::Envelope;
        let tenant = db_id(agency_id);
        let envelope = Envelope::new(Some(tenant), &vigie_domain::platform::mail::DispatchEmail {}).unwrap();
        let row = job_failure::ActiveModel {
            id: Set(vigie_domain::new_id()),
            agency_id: Set(Some(tenant)),
            job_id: Set(envelope.id.to_string()),
            kind: Set(envelope.kind.clone()),
            payload: Set(serde_json::to_value(&envelope).unwrap()),
            error: Set(error.to_owned()),
            attempts: Set(5),
            failed_at: Set(vigie_domain::now()),
            resolved_at: Set(None),
            resolution: Set(None),
        }
        .insert(&self.services.db)
        .await
        .unwrap();
        global_id(NodeKind::JobFailure, row.id).0
    }

    /// The text of the last email queued to `to` in the outbox.
    pub async fn last_outbox_text(&self, to: &str) -> String {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
        use vigie_domain::entities::email_outbox;
        email_outbox::Entity::find()
            .filter(email_outbox::Column::ToAddress.eq(to))
            .order_by_desc(email_outbox::Column::Id)
            .one(&self.services.db)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("no email to {to} in the outbox"))
            .text_body
    }

    /// Invites `email` with `role` (a GraphQL enum name) on `brand_ids`, accepts through
    /// the code in the outbox, and returns the new member's login.
    pub async fn invite_and_accept(&self, token: &str, email: &str, role: &str, brand_ids: &[&str]) -> Login {
        self.ok(
            Some(token),
            "mutation($input: InviteMemberInput!) { inviteMember(input: $input) { id } }",
            json!({ "input": { "email": email, "role": role, "brandIds": brand_ids } }),
        )
        .await;
        let code = invitation_code(&self.last_outbox_text(email).await);
        let data = self
            .ok(
                None,
                "mutation($input: AcceptInvitationInput!) { acceptInvitation(input: $input) { accessToken refreshToken user { id } agency { id } } }",
                json!({ "input": { "token": code, "name": "Invitee", "password": "correct horse battery" } }),
            )
            .await;
        login_from(&data["acceptInvitation"])
    }

    /// Stores (and so scores) `mentions` as if `source_id` had collected them, then
    /// refreshes the brand's influencers at once (without waiting for the queue).
    pub async fn collect(&self, source_id: &str, mentions: Vec<vigie_domain::mentions::store::NewMention>) {
        use sea_orm::EntityTrait;
        use vigie_domain::entities::{brand, source};
        use vigie_domain::mentions::store::{self, Provenance};
        let db = &self.services.db;
        let source = source::Entity::find_by_id(db_id(source_id)).one(db).await.unwrap().unwrap();
        let brand = brand::Entity::find_by_id(source.brand_id).one(db).await.unwrap().unwrap();
        store::store(System::for_tests(), &self.services, &brand, &source, mentions, Provenance::Collected)
            .await
            .unwrap();
        vigie_domain::influencers::refresh_stale(System::for_tests(), &self.services, brand.id).await.unwrap();
    }

    /// Collects one mention by `handle` through `source_id` and returns the id of the
    /// influencer it makes.
    pub async fn seed_influencer(&self, source_id: &str, handle: &str, text: &str) -> String {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        use vigie_domain::entities::{author, brand_influencer};
        self.collect(source_id, vec![new_mention(&format!("{handle}-1"), handle, text, 5_000)]).await;
        let db = &self.services.db;
        let author = author::Entity::find().filter(author::Column::Handle.eq(handle)).one(db).await.unwrap().unwrap();
        let row = brand_influencer::Entity::find()
            .filter(brand_influencer::Column::AuthorId.eq(author.id))
            .one(db)
            .await
            .unwrap()
            .expect("scoring made an influencer");
        global_id(NodeKind::Influencer, row.id).0
    }
}

pub use vigie_api::graphql::node::{NodeKind, global_id};

/// The database id behind an id the API returned (a global id, or a bare UUID).
pub fn db_id(id: &str) -> uuid::Uuid {
    vigie_api::graphql::node::parse_id(id).unwrap_or_else(|| panic!("not an id: {id}"))
}
