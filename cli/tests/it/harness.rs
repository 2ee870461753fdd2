use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The broker started by `scripts/test`. Tests that need Kafka fail loudly without it rather
/// than pass without having tested anything.
pub fn brokers() -> String {
    std::env::var("STRATA_TEST_BROKERS").expect(
        "STRATA_TEST_BROKERS is not set: run the suite with scripts/test, which starts a broker",
    )
}

/// A Kafka-protocol broker of the test's own (tansu, from `STRATA_TEST_TANSU`), for tests
/// that stop or stall it; killed when dropped.
pub struct OwnBroker {
    pub child: Child,
    pub addr: String,
    dir: tempfile::TempDir,
}

impl OwnBroker {
    pub fn start() -> Self {
        Self::launch(tempfile::tempdir().unwrap(), free_port(), None, false)
    }

    /// tansu on `port`, storing in `dir`, advertising `advertised` (a TLS terminator in front
    /// of it) or itself, and requiring SASL when `authentication` is set.
    pub fn launch(
        dir: tempfile::TempDir,
        port: u16,
        advertised: Option<u16>,
        authentication: bool,
    ) -> Self {
        let addr = format!("127.0.0.1:{port}");
        let url = format!("tcp://{addr}");
        let shown = format!("tcp://127.0.0.1:{}", advertised.unwrap_or(port));
        let mut cmd = Command::new(tansu());
        cmd.current_dir(dir.path())
            .args(["broker", "--listener-url", &url])
            .args(["--advertised-listener-url", &shown])
            .args(["--storage-engine", "sqlite://tansu.db"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if authentication {
            cmd.arg("--authentication");
        }
        let child = cmd.spawn().unwrap();
        wait_until(
            "the test's own broker to listen",
            Duration::from_secs(60),
            || std::net::TcpStream::connect(&addr).ok().map(|_| ()),
        );
        Self { child, addr, dir }
    }

    /// Add a SCRAM-SHA-512 user, then restart on the same storage requiring SASL.
    pub fn with_user(mut self, user: &str, password: &str, advertised: Option<u16>) -> Self {
        let out = Command::new(tansu())
            .args([
                "user",
                "create",
                "--broker",
                &format!("tcp://{}", self.addr),
            ])
            .args([user, password, "--mechanism", "scram512"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "tansu user create: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let _ = self.child.kill();
        let _ = self.child.wait();
        let port: u16 = self.addr.rsplit(':').next().unwrap().parse().unwrap();
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
        wait_until(
            "the broker's port to be free",
            Duration::from_secs(60),
            || std::net::TcpListener::bind(&self.addr).ok().map(|_| ()),
        );
        Self::launch(dir, port, advertised, true)
    }

    /// SIGSTOP or SIGCONT the broker.
    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for OwnBroker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tansu() -> String {
    std::env::var("STRATA_TEST_TANSU").expect(
        "STRATA_TEST_TANSU is not set: run the suite with scripts/test, which installs tansu",
    )
}

/// A self-signed certificate and key for `127.0.0.1` and `localhost`, in `dir`.
pub fn self_signed(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let (cert, key) = (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}.key")),
    );
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=localhost"])
        .args([
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl is not installed: run the suite with scripts/test");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    (cert, key)
}

pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// A test's own lake directory and topics.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub brokers: String,
    pub topics: Vec<String>,
    pub group: String,
}

impl Env {
    pub fn new(topics: usize) -> Self {
        Self::with_brokers(topics, brokers())
    }

    pub fn with_brokers(topics: usize, brokers: String) -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            brokers,
            topics: (0..topics).map(|i| unique(&format!("t{i}"))).collect(),
            group: unique("g"),
        }
    }

    pub fn lake(&self) -> PathBuf {
        self.dir.path().join("lake")
    }

    /// `strata` with this environment's brokers, lake, topics and group.
    pub fn strata(&self) -> Command {
        self.strata_at(&self.lake(), &self.group)
    }

    /// `strata` with this environment's brokers and topics, and another lake and group.
    pub fn strata_at(&self, lake: &Path, group: &str) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_strata"));
        c.arg("--brokers")
            .arg(&self.brokers)
            .arg("--lake")
            .arg(lake)
            .arg("--group")
            .arg(group)
            .env_remove("STRATA_CONFIG")
            .env("RUST_LOG", "warn");
        for t in &self.topics {
            c.arg("--topic").arg(t);
        }
        c
    }

    pub fn simulate(&self, args: &[&str]) -> Value {
        let out = self
            .strata()
            .args(["simulate", "--quiet"])
            .args(args)
            .output()
            .unwrap();
        json_output(&out)
    }

    pub fn ingest_until_caught_up(&self, extra: &[&str]) -> Value {
        let out = self
            .strata()
            .args(["ingest", "--until-caught-up", "--batch-max-wait-ms", "300"])
            .args(extra)
            .output()
            .unwrap();
        json_output(&out)
    }

    pub fn spawn_ingest(&self, extra: &[&str]) -> Child {
        self.strata()
            .args(["ingest", "--batch-max-wait-ms", "200"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }

    pub fn sql(&self, query: &str) -> Vec<Value> {
        let out = Command::new(env!("CARGO_BIN_EXE_strata"))
            .arg("--lake")
            .arg(self.lake())
            .args(["sql", "--format", "json", "--", query])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "strata sql failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    pub fn count(&self, query: &str) -> u64 {
        let rows = self.sql(query);
        rows[0]
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_u64)
            .unwrap_or(0)
    }

    /// Rows, distinct (topic, partition, offset) and valid rows in bronze.events.
    pub fn bronze_counts(&self) -> (u64, u64, u64) {
        if !self.lake().join("bronze/events/_delta_log").exists() {
            return (0, 0, 0);
        }
        let rows = self.sql(
            "SELECT count(*) AS n, \
             count(DISTINCT concat(topic, '/', CAST(\"partition\" AS VARCHAR), '/', CAST(\"offset\" AS VARCHAR))) AS d, \
             sum(CASE WHEN valid THEN 1 ELSE 0 END) AS v FROM bronze.events",
        );
        let g = |k: &str| rows[0][k].as_u64().unwrap_or(0);
        (g("n"), g("d"), g("v"))
    }

    /// The latest committed version of bronze.events (`None` before its first commit), read
    /// from the log listing: cheap enough to poll.
    pub fn bronze_version(&self) -> Option<u64> {
        delta_version(&self.lake().join("bronze/events"))
    }

    /// Ingest until Bronze holds `n` rows: `--until-caught-up` rounds, each a new group member.
    /// A round may see only part of the partitions (the broker still counts a killed member),
    /// and the next join moves them; the deadline bounds the whole.
    pub fn ingest_until_rows(&self, n: u64, deadline: Duration) -> (u64, u64, u64) {
        let t0 = Instant::now();
        // A round that gets stuck (partitions held by a killed member the broker still counts)
        // gives up after a minute, and the next round's join moves them.
        let round = self.dir.path().join("ingest-round.toml");
        std::fs::write(&round, "[ingest]\ncaught_up_timeout_s = 60\n").unwrap();
        loop {
            let out = self
                .strata()
                .arg("--config")
                .arg(&round)
                .args(["ingest", "--until-caught-up", "--batch-max-wait-ms", "300"])
                .output()
                .unwrap();
            let counts = self.bronze_counts();
            if counts.0 >= n {
                return counts;
            }
            assert!(
                t0.elapsed() < deadline,
                "bronze.events holds {counts:?} rows of {n} after {deadline:?} of ingest rounds; \
                 last round: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

/// A lake in `dest` holding a copy of `lake`'s Bronze (what a replay starts from).
pub fn copy_bronze(lake: &Path, dest: &Path) {
    std::fs::create_dir_all(dest).unwrap();
    let status = Command::new("cp")
        .arg("-r")
        .arg(lake.join("bronze"))
        .arg(dest)
        .status()
        .unwrap();
    assert!(status.success(), "cp -r {}/bronze failed", lake.display());
}

/// Poll `check` until it returns `Some`, or fail after `deadline` saying what was awaited.
pub fn wait_until<T>(what: &str, deadline: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let t0 = Instant::now();
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(
            t0.elapsed() < deadline,
            "gave up after {deadline:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The latest version in a Delta table's log (`None` if it has no commit yet).
pub fn delta_version(table: &Path) -> Option<u64> {
    std::fs::read_dir(table.join("_delta_log"))
        .ok()?
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".json")?.parse::<u64>().ok()
        })
        .max()
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn http_get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).unwrap();
    body
}

pub fn http_get_with_token(port: u16, path: &str, token: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\n\r\n"
    )
    .unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).unwrap();
    body
}

/// A counter or gauge from a Prometheus text page (summed over its label sets), if the
/// page answers and has it.
pub fn metric(port: u16, name: &str) -> Option<f64> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(s, "GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut page = String::new();
    s.read_to_string(&mut page).ok()?;
    let values: Vec<f64> = page
        .lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
        .collect();
    (!values.is_empty()).then(|| values.iter().sum())
}

/// `strata status --format json` of the environment's lake.
pub fn status(env: &Env) -> Value {
    let out = succeed(
        Command::new(env!("CARGO_BIN_EXE_strata"))
            .arg("--lake")
            .arg(env.lake())
            .args(["status", "--format", "json", "--no-broker"]),
    );
    serde_json::from_str(&out).unwrap()
}

/// Every job's output has consumed its inputs' latest versions.
pub fn caught_up(status: &Value) -> bool {
    let tables = status["tables"].as_array().unwrap();
    let outputs: Vec<&Value> = tables
        .iter()
        .filter(|t| t["behind_s"].is_number())
        .collect();
    outputs.len() == 10 && outputs.iter().all(|t| t["behind_s"].as_f64() == Some(0.0))
}

/// Run a `strata` command that must succeed; its stdout.
pub fn succeed(mut cmd: impl std::borrow::BorrowMut<Command>) -> String {
    let cmd = cmd.borrow_mut();
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn json_output(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "command failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

pub fn sigkill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

pub fn sigterm(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

pub fn python() -> Option<PathBuf> {
    std::env::var_os("STRATA_TEST_PYTHON").map(PathBuf::from)
}

/// DuckDB's independent computation of Gold from the lake's raw Bronze events
/// (scripts/check_gold.py), as JSON.
pub fn check_gold(lake: &Path) -> Value {
    check_gold_with(lake, lake, None)
}

/// `check_gold` with the raw events read from `events` (a lake's copy of Bronze), leaving out
/// the records that hold `without`.
pub fn check_gold_with(lake: &Path, events: &Path, without: Option<&str>) -> Value {
    let Some(python) = python() else {
        panic!("STRATA_TEST_PYTHON is not set: run the suite with scripts/test");
    };
    let mut c = Command::new(python);
    c.arg(scripts_dir().join("check_gold.py"))
        .arg(lake)
        .arg("--events")
        .arg(events);
    if let Some(v) = without {
        c.arg("--without").arg(v);
    }
    json_output(&c.output().unwrap())
}

pub fn scripts_dir() -> PathBuf {
    manifest_dir().join("../scripts")
}

/// The cli package directory cargo runs the tests in (a test binary built in another checkout
/// of the same commit is reused as fresh, so the build-time path may not exist).
pub fn manifest_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| env!("CARGO_MANIFEST_DIR").into(), PathBuf::from)
}
