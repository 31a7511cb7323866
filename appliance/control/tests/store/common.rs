//! Test helpers: a database per test on the shared embedded cluster, and spec fixtures.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Weak};

use relevo_control::store::audit::{self, AuditEntry, AuditFilter};
use relevo_control::store::{self, Actor};
use relevo_control::EmbeddedPg;
use relevo_engine::rtmp::RtmpUrl;
use relevo_engine::spec::{
    key_len, BackupSource, BackupSpec, FailoverDelay, GracePeriod, InputSource, Latency, Name,
    OutputKind, OutputSpec, Passphrase, RevertDelay, SrtCaller, SrtSecurity, StreamKey,
};
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgPool};
use tokio::sync::Mutex;

static CLUSTER: Mutex<Weak<EmbeddedPg>> = Mutex::const_new(Weak::new());
static WIPED: std::sync::Once = std::sync::Once::new();
static NEXT_DB: AtomicU32 = AtomicU32::new(0);

/// Where this binary's cluster lives: under the target directory, wiped once per run and
/// left behind afterwards so that `postgres.log` can be read after a failure.
pub fn state_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("relevo-control-store-pg");
    WIPED.call_once(|| {
        let _ = std::fs::remove_dir_all(&dir);
    });
    dir
}

/// The shared cluster, started if no test holds it.
pub async fn cluster() -> Arc<EmbeddedPg> {
    let mut slot = CLUSTER.lock().await;
    if let Some(pg) = slot.upgrade() {
        return pg;
    }
    // The last holder may still be stopping the previous server (its drop runs outside this
    // lock): wait until it has removed its pid file.
    let pid_file = state_dir().join("postgres").join("postmaster.pid");
    for _ in 0..1500 {
        if !pid_file.exists() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let pg = Arc::new(
        EmbeddedPg::start(&state_dir())
            .await
            .unwrap_or_else(|e| panic!("starting the embedded PostgreSQL: {e}")),
    );
    *slot = Arc::downgrade(&pg);
    pg
}

/// A fresh, migrated database; the cluster stays up while this lives.
pub struct TestDb {
    pub pool: PgPool,
    pub _cluster: Arc<EmbeddedPg>,
}

pub async fn test_db() -> TestDb {
    let cluster = cluster().await;
    let name = format!(
        "test_{}_{}",
        std::process::id(),
        NEXT_DB.fetch_add(1, Ordering::Relaxed)
    );
    let mut admin = sqlx::PgConnection::connect_with(&cluster.connect_options("postgres"))
        .await
        .expect("connect to the cluster");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .expect("create the test database");
    let _ = admin.close().await;
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .connect(&cluster.url_for(&name))
        .await
        .expect("connect to the test database");
    store::migrate(&pool).await.expect("migrate");
    TestDb {
        pool,
        _cluster: cluster,
    }
}

/// The newest `limit` entries of the audit log, newest first.
pub async fn audit_log(pool: &PgPool, limit: i64) -> Vec<AuditEntry> {
    let filter = AuditFilter {
        limit,
        ..AuditFilter::default()
    };
    audit::query(pool, &filter).await.expect("audit").entries
}

pub fn actor() -> Actor {
    Actor::user(1, "ana@example.org", Some("192.0.2.7".parse().expect("ip")))
}

pub fn name(s: &str) -> Name {
    Name::new(s).expect("valid name")
}

pub fn key(s: &str) -> StreamKey {
    StreamKey::new(s).expect("valid key")
}

pub fn latency(ms: u32) -> Latency {
    Latency::new(ms).expect("valid latency")
}

pub fn security(pass: &str, bytes: u32) -> Option<SrtSecurity> {
    Some(SrtSecurity {
        passphrase: Passphrase::new(pass).expect("valid passphrase"),
        key_len: key_len(bytes).expect("valid key length"),
    })
}

pub fn grace(s: u64) -> GracePeriod {
    GracePeriod::from_secs(s).expect("valid grace")
}

pub fn listen(k: &str) -> InputSource {
    InputSource::Listen {
        key: key(k),
        security: None,
        latency: Latency::DEFAULT,
        srt_port: None,
    }
}

/// A backup feed from `source`, lost after `failover_ms`, back after `revert_s` (`None`: by
/// hand only).
pub fn backup(source: BackupSource, failover_ms: u64, revert_s: Option<u64>) -> BackupSpec {
    BackupSpec {
        source,
        failover: FailoverDelay::from_ms(failover_ms).expect("valid failover"),
        revert: revert_s.map(|s| RevertDelay::from_secs(s).expect("valid revert")),
    }
}

pub fn rtmp(url: &str) -> RtmpUrl {
    RtmpUrl::parse(url).expect("valid RTMP URL")
}

pub fn srt_caller(host: &str, port: u16, stream_id: Option<&str>) -> SrtCaller {
    SrtCaller {
        host: host.to_owned(),
        port,
        stream_id: stream_id.map(str::to_owned),
        security: security("caller-passphrase", 32),
        latency: latency(500),
        allow_private: true,
    }
}

pub fn output(n: &str, kind: OutputKind) -> OutputSpec {
    OutputSpec {
        name: name(n),
        enabled: true,
        kind,
    }
}

pub fn pull_rtmp_output(n: &str, k: &str) -> OutputSpec {
    output(n, OutputKind::PullRtmp { key: key(k) })
}
