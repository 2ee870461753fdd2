//! Kafka over TLS and SASL: stunnel (a real TLS terminator) in front of a tansu broker that
//! requires SASL/SCRAM-SHA-512 and advertises the TLS port, so every client Strata makes (topic
//! creation, the simulator's producer, the group consumer, the lag look-up) must speak
//! SASL_SSL. A wrong CA and a wrong password fail with the reason.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::harness::{Env, OwnBroker, free_port, json_output, self_signed, succeed, wait_until};

/// stunnel accepting TLS on `port` and forwarding to `to`; killed when dropped.
struct Stunnel(Child);

impl Stunnel {
    fn start(dir: &Path, port: u16, to: &str, cert: &Path, key: &Path) -> Self {
        let conf = dir.join("stunnel.conf");
        std::fs::write(
            &conf,
            format!(
                "foreground = yes\npid =\n[kafka]\naccept = 127.0.0.1:{port}\nconnect = {to}\n\
                 cert = {}\nkey = {}\n",
                cert.display(),
                key.display()
            ),
        )
        .unwrap();
        let bin = std::env::var("STRATA_TEST_STUNNEL").unwrap_or_else(|_| "stunnel".into());
        let child = Command::new(&bin)
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{bin}: {e} (scripts/test installs stunnel4)"));
        wait_until("stunnel to listen", Duration::from_secs(60), || {
            std::net::TcpStream::connect(("127.0.0.1", port))
                .ok()
                .map(|_| ())
        });
        Self(child)
    }
}

impl Drop for Stunnel {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn config(dir: &Path, name: &str, ca: &Path, password_file: &Path) -> std::path::PathBuf {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!(
            "[kafka.properties]\n\"security.protocol\" = \"SASL_SSL\"\n\
             \"sasl.mechanisms\" = \"SCRAM-SHA-512\"\n\"sasl.username\" = \"strata\"\n\
             \"ssl.ca.location\" = \"{}\"\n\
             [kafka.secrets]\n\"sasl.password\" = {{ file = \"{}\" }}\n",
            ca.display(),
            password_file.display()
        ),
    )
    .unwrap();
    path
}

#[test]
fn every_kafka_client_works_over_sasl_ssl_and_says_why_a_login_fails() {
    let dir = tempfile::tempdir().unwrap();
    let tls_port = free_port();
    let broker = OwnBroker::launch(
        tempfile::tempdir().unwrap(),
        free_port(),
        Some(tls_port),
        false,
    )
    .with_user("strata", "s3cret-pw", Some(tls_port));
    let (cert, key) = self_signed(dir.path(), "broker");
    let _tls = Stunnel::start(dir.path(), tls_port, &broker.addr, &cert, &key);

    let secret = dir.path().join("kafka-password");
    std::fs::write(&secret, "s3cret-pw\n").unwrap();
    let good = config(dir.path(), "good", &cert, &secret);
    let env = Env::with_brokers(2, format!("127.0.0.1:{tls_port}"));
    let with = |c: &Path| {
        let mut cmd = env.strata();
        cmd.arg("--config").arg(c);
        cmd
    };

    // The simulator creates the topics and produces; ingest consumes as a group member.
    let out = with(&good)
        .args([
            "simulate",
            "--quiet",
            "--count",
            "3000",
            "--partitions",
            "2",
        ])
        .output()
        .unwrap();
    assert_eq!(json_output(&out)["produced"].as_u64(), Some(3000));
    let out = with(&good)
        .args(["ingest", "--until-caught-up", "--batch-max-wait-ms", "300"])
        .output()
        .unwrap();
    assert_eq!(json_output(&out)["rows_written"].as_u64(), Some(3000));
    assert_eq!(env.bronze_counts().0, 3000);

    // The lag look-up: every partition read over SASL_SSL, nothing pending.
    let out = succeed(with(&good).args(["status", "--format", "json"]));
    let status: serde_json::Value = serde_json::from_str(&out).unwrap();
    let lag = status["ingest_lag"]
        .as_array()
        .unwrap_or_else(|| panic!("{status}"));
    assert_eq!(lag.len(), 4, "{status}");
    assert!(lag.iter().all(|p| p["lag"] == 0), "{status}");

    // A CA that did not sign the broker's certificate: the handshake's reason is reported.
    let (other_ca, _) = self_signed(dir.path(), "other");
    let wrong_ca = config(dir.path(), "wrong-ca", &other_ca, &secret);
    let out = with(&wrong_ca)
        .args(["ingest", "--until-caught-up"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("SSL handshake failed") && err.contains("certificate verify failed"),
        "{err}"
    );

    // A wrong password: SASL's own error.
    let wrong = dir.path().join("wrong-password");
    std::fs::write(&wrong, "not-it").unwrap();
    let wrong_pw = config(dir.path(), "wrong-pw", &cert, &wrong);
    let out = with(&wrong_pw)
        .args(["ingest", "--until-caught-up"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("SASL authentication"), "{err}");

    // A secret file that is not there stops the start, naming the key.
    let missing = config(dir.path(), "missing", &cert, &dir.path().join("nope"));
    let out = with(&missing)
        .args(["ingest", "--until-caught-up"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("kafka.secrets.\"sasl.password\""), "{err}");
}
