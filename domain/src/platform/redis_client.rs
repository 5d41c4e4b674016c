//! The one way Vigie reaches Redis (queue, bus, rate limits, persisted queries): one
//! server or a Redis Cluster, over plain `redis://` or `rediss://` verified against the
//! system's roots or, with `VIGIE_REDIS_CA`, against the operator's own authority.
//!
//! [`Redis`] says where Redis is; [`Redis::connect`] gives a [`Connection`] that
//! reconnects by itself and speaks every command either way (the cluster one follows
//! `MOVED` and `ASK` and routes each command by its key's slot). Callers keep the keys
//! that one command or script touches in one hash slot, which a cluster requires.

use std::sync::Once;
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{Client, Cmd, Pipeline, RedisFuture, RedisResult, TlsCertificates, Value};

/// Where Redis is. Cheap to clone.
#[derive(Clone)]
pub enum Redis {
    /// One server (or a proxy in front of several).
    Node(Client),
    /// A Redis Cluster, found through its seed nodes.
    Cluster {
        /// One client per seed, for pub/sub (see [`Redis::pubsub`]).
        seeds: Vec<Client>,
        urls: Vec<String>,
        ca: Option<Vec<u8>>,
    },
}

/// How long a caller waits for Redis before giving up.
#[derive(Clone, Copy, Debug)]
pub struct Patience {
    pub connect: Duration,
    pub response: Duration,
    pub retries: usize,
}

impl Patience {
    /// For calls in front of a request (rate limits, persisted queries): short timeouts
    /// and one retry, for callers that do without Redis rather than wait for it.
    pub const QUICK: Patience =
        Patience { connect: Duration::from_secs(1), response: Duration::from_millis(500), retries: 1 };
    /// For the queue and the bus: a job is worth waiting a few seconds for.
    pub const STEADY: Patience =
        Patience { connect: Duration::from_secs(5), response: Duration::from_secs(5), retries: 8 };
}

impl Redis {
    /// `urls`: one server's URL, or with `cluster` the seed nodes of a cluster (any of
    /// them is enough; several survive one being down). `ca` (PEM) replaces the system's
    /// roots for `rediss://`.
    pub fn open(urls: &[String], cluster: bool, ca: Option<&[u8]>) -> RedisResult<Self> {
        install_crypto_provider();
        let client = |url: &str| match ca {
            Some(pem) => {
                Client::build_with_tls(url, TlsCertificates { client_tls: None, root_cert: Some(pem.to_vec()) })
            }
            None => Client::open(url),
        };
        let seeds = urls.iter().map(|url| client(url)).collect::<RedisResult<Vec<Client>>>()?;
        match (cluster, seeds.as_slice()) {
            (false, [one]) => Ok(Redis::Node(one.clone())),
            (true, [_, ..]) => Ok(Redis::Cluster { seeds, urls: urls.to_vec(), ca: ca.map(<[u8]>::to_vec) }),
            _ => Err(redis::RedisError::from((
                redis::ErrorKind::InvalidClientConfig,
                "one Redis URL, or with a cluster one or more seed URLs",
            ))),
        }
    }

    /// One server's client, for `url` (tests and benches).
    pub fn node(url: &str) -> RedisResult<Self> {
        Self::open(&[url.to_owned()], false, None)
    }

    /// Whether this is a cluster, where a command's keys must share a hash slot.
    pub fn is_cluster(&self) -> bool {
        matches!(self, Redis::Cluster { .. })
    }

    /// A connection that reconnects by itself, waiting as long as `patience` says.
    pub async fn connect(&self, patience: Patience) -> RedisResult<Connection> {
        match self {
            Redis::Node(client) => {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(patience.connect))
                    .set_response_timeout(Some(patience.response))
                    .set_number_of_retries(patience.retries)
                    .set_max_delay(Duration::from_secs(5));
                Ok(Connection::Node(ConnectionManager::new_with_config(client.clone(), config).await?))
            }
            Redis::Cluster { urls, ca, .. } => {
                let mut builder = ClusterClientBuilder::new(urls.iter().map(String::as_str))
                    .connection_timeout(patience.connect)
                    .response_timeout(patience.response)
                    .retries(u32::try_from(patience.retries).unwrap_or(u32::MAX))
                    .max_retry_wait(5_000);
                if let Some(pem) = ca {
                    builder = builder.certs(TlsCertificates { client_tls: None, root_cert: Some(pem.clone()) });
                }
                Ok(Connection::Cluster(builder.build()?.get_async_connection().await?))
            }
        }
    }

    /// A pub/sub connection. Classic pub/sub is broadcast to every node of a cluster, so
    /// one seed serves; `attempt` picks the next seed after a failure.
    pub async fn pubsub(&self, attempt: usize) -> RedisResult<redis::aio::PubSub> {
        match self {
            Redis::Node(client) => client.get_async_pubsub().await,
            Redis::Cluster { seeds, .. } => seeds[attempt % seeds.len()].get_async_pubsub().await,
        }
    }
}

/// A connection to one server or to a cluster; clones share it.
#[derive(Clone)]
pub enum Connection {
    Node(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Connection::Node(conn) => conn.req_packed_command(cmd),
            Connection::Cluster(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Connection::Node(conn) => conn.req_packed_commands(pipeline, offset, count),
            Connection::Cluster(conn) => conn.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Connection::Node(conn) => conn.get_db(),
            Connection::Cluster(conn) => conn.get_db(),
        }
    }
}

/// The redis crate builds its TLS settings from rustls's process-wide provider, which
/// rustls cannot choose alone when two are compiled in (ring through reqwest, aws-lc
/// through another dependency): ring is installed once, unless one already is.
fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
