//! A PostgreSQL server of a test's own (for tests that stop and restart it), in a
//! temporary directory on a free loopback port, with the machine's PostgreSQL binaries.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A private PostgreSQL cluster; stopped and removed on drop.
pub struct PgServer {
    pub port: u16,
    dir: PathBuf,
    bin: PathBuf,
}

/// The newest installed PostgreSQL's `bin` directory.
fn bin_dir() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL must be installed for the tests (tests/run installs it)")
        .filter_map(|entry| entry.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("pg_ctl").exists())
        .collect();
    versions.sort_by_key(|p| p.parent().and_then(|v| v.file_name()?.to_str()?.parse::<u32>().ok()));
    versions.pop().expect("a PostgreSQL with pg_ctl under /usr/lib/postgresql")
}

/// PostgreSQL refuses to run as root: as root, run its tools as `postgres`.
fn as_owner(program: &Path) -> Command {
    let root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    if root {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

fn run(mut command: Command, what: &str) {
    let output = command.stdout(Stdio::null()).output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(output.status.success(), "{what} failed: {}", String::from_utf8_lossy(&output.stderr));
}

/// A free port below the kernel's ephemeral range (32768 and up), where `bind(0)` (the
/// other test servers' choice) and outgoing connections never land: the server keeps it
/// while it is down for a crash test, and takes it back on restart.
fn private_port() -> u16 {
    let start = 21_000 + (uuid::Uuid::now_v7().as_u128() % 4_000) as u16;
    (start..25_000)
        .chain(21_000..start)
        .find(|port| std::net::TcpListener::bind(("127.0.0.1", *port)).is_ok())
        .expect("a free port between 21000 and 25000")
}

impl PgServer {
    /// Creates and starts a cluster with a `vigie` database.
    pub fn start() -> Self {
        let port = private_port();
        let dir = std::env::temp_dir().join(format!("vigie-pg-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let _ = Command::new("chown").args(["-R", "postgres:postgres"]).arg(&dir).output();
        let server = PgServer { port, dir, bin: bin_dir() };
        let mut initdb = as_owner(&server.bin.join("initdb"));
        initdb.arg("-D").arg(server.data()).args(["-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"]);
        run(initdb, "initdb");
        server.launch();
        let mut createdb = Command::new(server.bin.join("createdb"));
        createdb.args(["-h", "127.0.0.1", "-p", &port.to_string(), "-U", "postgres", "vigie"]);
        run(createdb, "createdb");
        server
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/vigie", self.port)
    }

    fn launch(&self) {
        let mut start = as_owner(&self.bin.join("pg_ctl"));
        start.arg("-D").arg(self.data()).arg("-l").arg(self.dir.join("log")).args(["-w", "start", "-o"]).arg(format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off",
            self.port,
            self.dir.display()
        ));
        run(start, "pg_ctl start");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "PostgreSQL did not start on port {}", self.port);
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server the hard way (`immediate`: no checkpoint, connections cut), as
    /// a crash would; committed data survives through the WAL.
    pub fn crash(&self) {
        let mut stop = as_owner(&self.bin.join("pg_ctl"));
        stop.arg("-D").arg(self.data()).args(["-w", "-m", "immediate", "stop"]);
        run(stop, "pg_ctl stop");
    }

    /// Starts it again on the same port (replaying the WAL).
    pub fn restart(&self) {
        self.launch();
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let mut stop = as_owner(&self.bin.join("pg_ctl"));
        stop.arg("-D").arg(self.data()).args(["-w", "-m", "immediate", "stop"]);
        let _ = stop.stdout(Stdio::null()).stderr(Stdio::null()).status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
