//! A Redis server of a test's own (for tests that stop and restart it, or that need TLS),
//! with an append-only file so that a restart keeps the data, as production Redis must;
//! and a Redis Cluster of three such servers.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `redis-server` child process on a free loopback port.
pub struct RedisServer {
    pub port: u16,
    /// A cluster node's bus port (by default Redis takes `port + 10000`, which may be busy).
    bus_port: u16,
    dir: PathBuf,
    child: Option<Child>,
    /// With TLS, the directory of `ca.crt`, `server.crt` and `server.key` (shared by the
    /// nodes of a cluster, which one authority signs).
    certs: Option<PathBuf>,
    cluster: bool,
}

/// A loopback port free when asked (another process may take it before Redis does,
/// hence the retries in [`RedisServer::new`]).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl RedisServer {
    pub fn start() -> Self {
        Self::new(None, false)
    }

    /// A server that speaks TLS only, with a certificate for 127.0.0.1 signed by a
    /// certificate authority made for it ([`RedisServer::ca`]).
    pub fn start_tls() -> Self {
        Self::new(Some(None), false)
    }

    /// `tls`: `None` for plain TCP, `Some(None)` for certificates of its own,
    /// `Some(Some(dir))` for the ones in `dir`.
    fn new(tls: Option<Option<PathBuf>>, cluster: bool) -> Self {
        let dir = scratch_dir();
        let certs = tls.map(|shared| {
            shared.unwrap_or_else(|| {
                make_certificates(&dir);
                dir.clone()
            })
        });
        let mut server = RedisServer { port: 0, bus_port: 0, dir, child: None, certs, cluster };
        for _ in 0..5 {
            (server.port, server.bus_port) = (free_port(), free_port());
            if server.launch() {
                return server;
            }
        }
        panic!("redis-server did not start on a free port in five tries");
    }

    pub fn url(&self) -> String {
        let scheme = if self.certs.is_some() { "rediss" } else { "redis" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// The PEM file of the authority that signed a TLS server's certificate.
    pub fn ca(&self) -> PathBuf {
        self.certs.as_ref().expect("a TLS server").join("ca.crt")
    }

    /// The port arguments: plain, or TLS only on the same port.
    fn listen(&self) -> Vec<String> {
        let port = self.port.to_string();
        let Some(certs) = &self.certs else {
            return vec!["--port".into(), port];
        };
        let file = |name: &str| certs.join(name).display().to_string();
        let mut args = vec![
            "--port".into(),
            "0".into(),
            "--tls-port".into(),
            port,
            "--tls-cert-file".into(),
            file("server.crt"),
            "--tls-key-file".into(),
            file("server.key"),
            "--tls-ca-cert-file".into(),
            file("ca.crt"),
            "--tls-auth-clients".into(),
            "no".into(),
        ];
        if self.cluster {
            // The nodes talk to each other over TLS too.
            args.extend(["--tls-cluster".into(), "yes".into()]);
        }
        args
    }

    /// Starts the server; `false` when it exited instead (its port was taken).
    fn launch(&mut self) -> bool {
        let mut command = Command::new("redis-server");
        command.args(self.listen()).args(["--bind", "127.0.0.1", "--save", ""]);
        if self.cluster {
            // The cluster's tests kill workers, not Redis: no append-only file to sync.
            command.args(["--cluster-enabled", "yes", "--cluster-node-timeout", "5000", "--appendonly", "no"]);
            command.args(["--cluster-port", &self.bus_port.to_string()]);
        } else {
            command.args(["--appendonly", "yes", "--appendfsync", "always"]);
        }
        let child = command
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed for the tests (tests/run installs it)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Some(child) = &mut self.child
                && child.try_wait().unwrap().is_some()
            {
                self.child = None;
                return false;
            }
            assert!(Instant::now() < deadline, "redis-server did not start on port {}", self.port);
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    }

    /// Stops the server cleanly (the append-only file keeps its data).
    pub fn stop(&mut self) {
        let _ = self.cli_command().arg("shutdown").output();
        if let Some(mut child) = self.child.take() {
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port.
    pub fn restart(&mut self) {
        self.stop();
        assert!(self.launch(), "redis-server did not start again on port {}", self.port);
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A Redis Cluster of three primaries (no replicas) on loopback, its slots shared out by
/// `redis-cli --cluster create`.
pub struct RedisCluster {
    pub nodes: Vec<RedisServer>,
    /// With TLS, the certificates the nodes share (one authority signs them all).
    certs: Option<PathBuf>,
}

impl RedisCluster {
    pub fn start() -> Self {
        Self::new(false)
    }

    /// A cluster that speaks TLS only, to clients and between its nodes, with one
    /// certificate authority ([`RedisCluster::ca`]).
    pub fn start_tls() -> Self {
        Self::new(true)
    }

    fn new(tls: bool) -> Self {
        let certs = tls.then(|| {
            let certs = scratch_dir();
            make_certificates(&certs);
            certs
        });
        let nodes: Vec<RedisServer> = (0..3).map(|_| RedisServer::new(certs.clone().map(Some), true)).collect();
        let addresses: Vec<String> = nodes.iter().map(|node| format!("127.0.0.1:{}", node.port)).collect();
        let output = nodes[0]
            .cli_command()
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .expect("redis-cli must be installed for the tests (tests/run installs it)");
        assert!(output.status.success(), "redis-cli --cluster create: {}", String::from_utf8_lossy(&output.stdout));
        let cluster = RedisCluster { nodes, certs };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !cluster.nodes.iter().all(|node| node.cli(&["cluster", "info"]).contains("cluster_state:ok")) {
            assert!(Instant::now() < deadline, "the cluster did not settle");
            std::thread::sleep(Duration::from_millis(50));
        }
        cluster
    }

    /// The seed nodes, as `REDIS_URL` takes them with `VIGIE_REDIS_CLUSTER=true`.
    pub fn url(&self) -> String {
        self.nodes.iter().map(RedisServer::url).collect::<Vec<_>>().join(",")
    }

    /// The seed nodes' URLs.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }

    /// The PEM file of the authority that signed a TLS cluster's certificates.
    pub fn ca(&self) -> PathBuf {
        self.certs.as_ref().expect("a TLS cluster").join("ca.crt")
    }

    /// How many keys each primary holds whose name starts with `prefix`.
    pub fn keys_per_node(&self, prefix: &str) -> Vec<usize> {
        let pattern = format!("*{prefix}*");
        self.nodes.iter().map(|node| node.cli(&["--scan", "--pattern", &pattern]).lines().count()).collect()
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        self.nodes.clear();
        if let Some(certs) = &self.certs {
            let _ = std::fs::remove_dir_all(certs);
        }
    }
}

impl RedisServer {
    /// What `redis-cli` prints for `args` against this server.
    pub fn cli(&self, args: &[&str]) -> String {
        let output = self.cli_command().args(args).output().unwrap();
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// `redis-cli` for this server (over TLS with its authority when it speaks TLS).
    fn cli_command(&self) -> Command {
        let mut cli = Command::new("redis-cli");
        if self.certs.is_some() {
            cli.args(["--tls", "--cacert"]).arg(self.ca());
        }
        cli.args(["-p", &self.port.to_string()]);
        cli
    }
}

/// A new directory under the system's temporary one.
fn scratch_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vigie-redis-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A certificate authority (`ca.crt`) and a server certificate for 127.0.0.1 and
/// localhost signed by it (`server.crt`, `server.key`), made with openssl in `dir`.
fn make_certificates(dir: &std::path::Path) {
    let run = |args: &[&str]| {
        let output = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl");
        assert!(output.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    };
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    run(&[
        &["req", "-x509"][..],
        &ec,
        &["-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=Vigie test CA"],
    ]
    .concat());
    run(&[&["req"][..], &ec, &["-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"]].concat());
    std::fs::write(dir.join("san.cnf"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n").unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "san.cnf",
    ]);
}
