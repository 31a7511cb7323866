# Backups with a tested restore: flows created through the API are in the database dump
# and in the configuration export; after the database is lost, the dump brings them back
# (and the admin account with them), and an export imports into an empty appliance.
# Also: the timers exist and retention keeps the newest copies. The Rust integration test
# `api_flows` runs the export → import round trip on the host.
{
  name = "relevo-backup";

  nodes.appliance = {
    imports = [ ./common.nix ];
    relevo.appliance = {
      backup.keep = 2;
      configExport.keep = 2;
    };
  };

  testScript = ''
    ${builtins.readFile ./helpers.py}

    import json

    psql = "runuser -u postgres -- psql -v ON_ERROR_STOP=1"
    dump = "/var/backup/postgresql/relevo.sql.gz"
    history = "/var/backup/postgresql/history"
    exports = "/var/lib/private/relevo-export"

    def api(method, path, body=None):
        token = api_token(appliance)
        data = f"-H 'Content-Type: application/json' -d '{json.dumps(body)}'" if body is not None else ""
        return appliance.succeed(
            f"curl -sf -X {method} -H 'Authorization: Bearer {token}' {data} {API}{path}"
        )

    def input_names():
        return sorted(i["name"] for i in json.loads(api("GET", "/api/v1/inputs"))["inputs"])

    appliance.wait_for_unit("relevo.service")
    appliance.wait_until_succeeds(f"{psql} -d relevo -c 'SELECT 1'")

    with subtest("The backup and export timers are scheduled"):
        appliance.succeed("systemctl is-active postgresqlBackup-relevo.timer")
        appliance.succeed("systemctl is-active relevo-config-export.timer")

    with subtest("Flows created through the API"):
        created = json.loads(api("POST", "/api/v1/inputs", {"name": "estudio-api", "key": "clave-estudio-api"}))
        api("POST", f"/api/v1/inputs/{created['id']}/outputs", {"name": "lectores", "pull": "rtmp", "key": "clave-lectores"})
        assert input_names() == ["estudio-api"], input_names()

    with subtest("A backup run dumps the database; an export run writes the flows"):
        appliance.succeed("systemctl start postgresqlBackup-relevo.service")
        appliance.succeed(f"test -s {dump}")
        appliance.succeed(f"zcat {dump} | grep -q 'CREATE DATABASE relevo'")
        appliance.succeed(f"zcat {dump} | grep -q 'estudio-api'")
        appliance.succeed("systemctl start relevo-config-export.service")
        export = appliance.succeed(f"ls {exports}/relevo-config-*.json | tail -n 1").strip()
        assert "estudio-api" in appliance.succeed(f"cat {export}")
        mode = appliance.succeed(f"stat -c %a {export}").strip()
        assert mode == "600", f"the export (secrets inside) has mode {mode}"

    with subtest("Retention keeps the newest dated copies"):
        for _ in range(3):
            appliance.succeed("systemctl start postgresqlBackup-relevo.service")
            appliance.succeed("sleep 1; systemctl start relevo-config-export.service")
        count = appliance.succeed(f"ls {history}/relevo-*.sql.gz | wc -l").strip()
        assert count == "2", f"{count} dated dumps kept, expected 2"
        appliance.succeed("test -s /var/backup/postgresql/relevo.prev.sql.gz")
        count = appliance.succeed(f"ls {exports}/relevo-config-*.json | wc -l").strip()
        assert count == "2", f"{count} exports kept, expected 2"

    with subtest("Restore the dump after losing the database: the flows come back"):
        appliance.succeed("systemctl stop relevo.service")
        appliance.succeed(f"{psql} -d postgres -c 'DROP DATABASE relevo'")
        appliance.fail(f"{psql} -d relevo -c 'SELECT 1'")
        appliance.succeed(f"zcat {dump} | {psql} -d postgres")
        owner = appliance.succeed(
            f"{psql} -d postgres -tAc \"SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'relevo'\""
        ).strip()
        assert owner == "relevo", f"restored database owned by {owner}"
        appliance.succeed("systemctl start relevo.service")
        appliance.wait_until_succeeds(f"curl -sf {API}/healthz")
        # The token was created before the dump, so it is in the restored database too.
        assert input_names() == ["estudio-api"], input_names()

    with subtest("An export imports into an empty appliance"):
        appliance.succeed("systemctl stop relevo.service")
        appliance.succeed(f"{psql} -d postgres -c 'DROP DATABASE relevo'")
        appliance.succeed(f"{psql} -d postgres -c 'CREATE DATABASE relevo OWNER relevo'")
        _TOKENS.clear()
        appliance.succeed("systemctl start relevo.service")
        assert input_names() == [], input_names()
        # The export is readable by its owner only; hand a copy to the importing user.
        appliance.succeed(f"install -m 0644 {export} /tmp/relevo-config.json")
        appliance.succeed(
            "runuser -u postgres -- env RELEVO_DATABASE_URL='postgresql:///relevo?host=/run/postgresql' "
            "relevo config import /tmp/relevo-config.json"
        )
        appliance.succeed("systemctl reload-or-restart relevo.service")
        appliance.wait_until_succeeds(f"curl -sf {API}/healthz")
        assert input_names() == ["estudio-api"], input_names()
  '';
}
