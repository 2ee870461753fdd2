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
        Self {
            dir: tempfile::tempdir().unwrap(),
            brokers: brokers(),
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

    /// Poll until bronze.events holds `n` rows.
    pub fn wait_for_rows(&self, n: u64, timeout: Duration) -> (u64, u64, u64) {
        let t0 = Instant::now();
        loop {
            let c = self.bronze_counts();
            if c.0 >= n || t0.elapsed() > timeout {
                return c;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
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

pub fn scripts_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts"))
}
