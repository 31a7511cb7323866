use relevo_control::embedded_pg::{search_dirs, PgBinaries, SERVICE_USER, SMALL_APPLIANCE};
use relevo_control::store;
use relevo_control::{EmbeddedPg, EmbeddedPgError};
use sqlx::Connection;

#[test]
fn missing_postgresql_is_a_clear_error_naming_where_it_looked() {
    let empty = tempfile::tempdir().expect("tempdir");
    let dirs = vec![empty.path().to_path_buf(), "/nonexistent/pg/bin".into()];

    let err = PgBinaries::find_in(&dirs).expect_err("nothing to find");

    assert!(matches!(&err, EmbeddedPgError::BinariesNotFound { searched } if *searched == dirs));
    let message = err.to_string();
    assert!(message.contains("initdb and postgres"), "{message}");
    assert!(message.contains("apt-get install postgresql"), "{message}");
    assert!(
        message.contains(&empty.path().display().to_string()),
        "{message}"
    );
}

#[test]
fn debian_and_nixos_places_are_searched_after_path() {
    let dirs = search_dirs();
    let nixos = dirs
        .iter()
        .position(|d| d.ends_with("run/current-system/sw/bin"));
    assert_eq!(nixos, Some(dirs.len() - 1));
}

/// Its own cluster: a restart must find the data again without running initdb.
#[tokio::test]
async fn cluster_listens_on_a_socket_only_and_keeps_data_across_restarts() {
    let state = tempfile::tempdir().expect("tempdir");
    // Running as root the server runs as the relevo user, which must traverse the state dir.
    std::fs::set_permissions(
        state.path(),
        <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o755),
    )
    .expect("chmod");

    let pg = EmbeddedPg::start(state.path()).await.expect("start");
    let mut conn = sqlx::PgConnection::connect(&pg.url())
        .await
        .expect("connect by URL");
    let listen: String = sqlx::query_scalar("SHOW listen_addresses")
        .fetch_one(&mut conn)
        .await
        .expect("show");
    let mut sized = Vec::new();
    for (name, _) in SMALL_APPLIANCE {
        let value: String = sqlx::query_scalar("SELECT current_setting($1)")
            .bind(name)
            .fetch_one(&mut conn)
            .await
            .expect("current_setting");
        sized.push((*name, value));
    }
    let workers: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'logical replication launcher'",
    )
    .fetch_one(&mut conn)
    .await
    .expect("pg_stat_activity");
    sqlx::raw_sql("CREATE TABLE kept (v int); INSERT INTO kept VALUES (42)")
        .execute(&mut conn)
        .await
        .expect("write");
    conn.close().await.expect("close");
    let data_dir = pg.data_dir().to_path_buf();
    pg.shutdown().await;

    assert_eq!(listen, "", "no TCP listener");
    // Sized for one small appliance (issue #19), not PostgreSQL's shared-server defaults.
    let wanted: Vec<(&str, String)> = SMALL_APPLIANCE
        .iter()
        .map(|(n, v)| (*n, (*v).to_owned()))
        .collect();
    assert_eq!(sized, wanted);
    assert!(
        sized.contains(&("max_worker_processes", "0".to_owned()))
            && sized.contains(&("jit", "off".to_owned())),
        "{sized:?}"
    );
    assert_eq!(workers, 0, "no logical replication launcher");
    let owner = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(&data_dir).expect("stat"));
    if nix::unistd::Uid::effective().is_root() {
        let relevo = nix::unistd::User::from_name(SERVICE_USER)
            .expect("lookup")
            .expect("user exists");
        assert_eq!(
            owner,
            relevo.uid.as_raw(),
            "data dir belongs to {SERVICE_USER}"
        );
    }
    assert!(!data_dir.join("postmaster.pid").exists(), "stopped cleanly");

    let pg = EmbeddedPg::start(state.path()).await.expect("restart");
    let mut conn = sqlx::PgConnection::connect(&pg.url())
        .await
        .expect("connect");
    let kept: i32 = sqlx::query_scalar("SELECT v FROM kept")
        .fetch_one(&mut conn)
        .await
        .expect("read");
    assert_eq!(kept, 42);
}

/// The pool opens connections only for concurrent use, up to its maximum, and renews them
/// (issue #19: the connections of a start-up burst used to stay for good, a server process
/// each). A burst of twice the maximum is served, none waiting past the acquire timeout.
#[tokio::test]
async fn the_pool_is_bounded_and_renews_its_connections() {
    let cluster = crate::common::cluster().await;
    let pool = store::connect(&cluster.url_for("postgres"))
        .await
        .expect("connect");
    let o = pool.options();
    assert_eq!(o.get_max_connections(), store::POOL_MAX_CONNECTIONS);
    assert_eq!(o.get_min_connections(), 0);
    assert_eq!(o.get_idle_timeout(), Some(store::POOL_IDLE_TIMEOUT));
    assert_eq!(o.get_max_lifetime(), Some(store::POOL_MAX_LIFETIME));

    let mut burst = tokio::task::JoinSet::new();
    for _ in 0..2 * store::POOL_MAX_CONNECTIONS {
        let pool = pool.clone();
        burst.spawn(async move {
            sqlx::query_scalar::<_, i32>("SELECT 1 FROM pg_sleep(0.05)")
                .fetch_one(&pool)
                .await
        });
    }
    let mut answered = 0;
    while let Some(answer) = burst.join_next().await {
        assert_eq!(answer.expect("task").expect("query"), 1);
        answered += 1;
    }
    assert_eq!(answered, 2 * store::POOL_MAX_CONNECTIONS);
    assert!(
        pool.size() <= store::POOL_MAX_CONNECTIONS,
        "{}",
        pool.size()
    );
    pool.close().await;
}
