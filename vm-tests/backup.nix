# Backups of the PostgreSQL database on a timer, with retention, and a restore.
#
# What exists today: the `relevo` database (empty until the store of issue 4), the
# postgresqlBackup timer, dated history with retention, and the restore procedure of the
# README, checked with a probe table. With issue 4 this test will also create flows through
# the API, back up (database dump and `relevo config export`), wipe the database, restore,
# and check that the flows come back (GET /api/v1/inputs) and start streaming again.
{
  name = "relevo-backup";

  nodes.appliance = {
    imports = [ ./common.nix ];
    relevo.appliance.backup.keep = 2;
  };

  testScript = ''
    ${builtins.readFile ./helpers.py}

    psql = "runuser -u postgres -- psql -v ON_ERROR_STOP=1"
    dump = "/var/backup/postgresql/relevo.sql.gz"
    history = "/var/backup/postgresql/history"

    appliance.wait_for_unit("relevo.service")
    appliance.wait_until_succeeds(f"{psql} -d relevo -c 'SELECT 1'")

    with subtest("The backup timer is scheduled"):
        appliance.succeed("systemctl is-active postgresqlBackup-relevo.timer")

    with subtest("A backup run dumps the relevo database"):
        appliance.succeed(
            f"{psql} -d relevo -c \"CREATE TABLE backup_probe (v text); INSERT INTO backup_probe VALUES ('antes del backup')\""
        )
        appliance.succeed("systemctl start postgresqlBackup-relevo.service")
        appliance.succeed(f"test -s {dump}")
        appliance.succeed(f"zcat {dump} | grep -q 'CREATE DATABASE relevo'")
        appliance.succeed(f"zcat {dump} | grep -q 'antes del backup'")

    with subtest("Retention keeps the newest dated copies"):
        for _ in range(3):
            appliance.succeed("systemctl start postgresqlBackup-relevo.service")
        count = appliance.succeed(f"ls {history}/relevo-*.sql.gz | wc -l").strip()
        assert count == "2", f"{count} dated dumps kept, expected 2"
        appliance.succeed("test -s /var/backup/postgresql/relevo.prev.sql.gz")

    with subtest("Restore after losing the database"):
        appliance.succeed("systemctl stop relevo.service")
        appliance.succeed(f"{psql} -d postgres -c 'DROP DATABASE relevo'")
        appliance.fail(f"{psql} -d relevo -c 'SELECT 1'")
        appliance.succeed(f"zcat {dump} | {psql} -d postgres")
        appliance.succeed(f"{psql} -d relevo -tAc 'SELECT v FROM backup_probe' | grep -qx 'antes del backup'")
        owner = appliance.succeed(
            f"{psql} -d postgres -tAc \"SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'relevo'\""
        ).strip()
        assert owner == "relevo", f"restored database owned by {owner}"
        appliance.succeed("systemctl start relevo.service")
        appliance.wait_for_unit("relevo.service")
        appliance.wait_until_succeeds("curl -sf http://127.0.0.1:8080/healthz")
  '';
}
