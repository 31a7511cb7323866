use relevo_control::embedded_pg::{search_dirs, PgBinaries, SERVICE_USER};
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
    sqlx::raw_sql("CREATE TABLE kept (v int); INSERT INTO kept VALUES (42)")
        .execute(&mut conn)
        .await
        .expect("write");
    conn.close().await.expect("close");
    let data_dir = pg.data_dir().to_path_buf();
    pg.shutdown().await;

    assert_eq!(listen, "", "no TCP listener");
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
