# What an attacker on the network sees: only the expected ports listen outside loopback and
# the firewall opens nothing else; relevo.service's sandbox scores well in
# `systemd-analyze security`; the RTMPS key stays readable by root and the certificate group
# only. Anonymous access: only /healthz and the login page answer; the panel sends to the
# login page, the API and the WebSocket answer 401 without a token, /metrics is refused
# through nginx. Issue 14: HSTS on the panel; the service's memory, task and OOM limits; the
# keys in private files outside the database; no stream key in PostgreSQL's journal after a
# key clash. The Rust tests `privileges`, `keys` and the store's `pg_log` cover the same on
# the host.
{
  name = "relevo-security";

  nodes = {
    appliance = {
      imports = [ ./common.nix ];
      services.relevo.settings.input = [
        {
          name = "studio";
          key = "studio-key";
        }
      ];
    };

    client = {
      imports = [ ./peer.nix ];
    };
  };

  testScript =
    { nodes, ... }:
    ''
      ${builtins.readFile ./helpers.py}

      ip = "${nodes.appliance.networking.primaryIPAddress}"
      https = f"curl -sk --resolve relevo.test:443:{ip}"

      start_all()
      appliance.wait_for_unit("relevo.service")
      appliance.wait_for_unit("nginx.service")
      appliance.wait_for_unit("postgresql.service")
      appliance.wait_for_open_port(8080)
      appliance.wait_for_open_port(1936)

      with subtest("Only the expected ports listen outside loopback"):
          expected = {"tcp/22", "tcp/80", "tcp/443", "tcp/1935", "tcp/1936", "udp/8890"}
          dhcp = {"udp/68", "udp/546"}  # DHCP clients, if the VM runs one
          found: set[str] = set()
          for line in appliance.succeed("ss -lntuH").splitlines():
              fields = line.split()
              addr, _, port = fields[4].rpartition(":")
              if addr.startswith("127.") or addr.startswith("[::1]") or "%lo" in addr:
                  continue
              found.add(f"{fields[0]}/{port}")
          assert found - dhcp == expected, f"listening outside loopback: {sorted(found)}"
          # HTTP (8080) and PostgreSQL (5432) are on loopback only.
          appliance.succeed("ss -lntH | grep -qF '127.0.0.1:8080'")

      with subtest("The firewall opens nothing else"):
          appliance.fail("iptables-save | grep -E -- '--dport (8080|5432) '")
          client.fail(f"curl -s --max-time 5 http://{ip}:8080/healthz")

      with subtest("relevo.service's hardening holds"):
          # "→ Overall exposure level for relevo.service: 1.9 OK"; 0 is best, 10 worst.
          report = appliance.succeed("systemd-analyze security relevo.service --no-pager")
          print(report)
          overall = [line for line in report.splitlines() if "Overall exposure level" in line]
          assert overall, report
          exposure = float(overall[0].split(":", 1)[1].split()[0])
          assert exposure <= 3.0, f"exposure {exposure} > 3.0"
          props = appliance.succeed(
              "systemctl show relevo.service --property=DynamicUser,NoNewPrivileges,"
              "ProtectSystem,CapabilityBoundingSet,RestrictAddressFamilies,UMask"
          )
          print(props)
          assert "DynamicUser=yes" in props and "NoNewPrivileges=yes" in props, props
          assert "ProtectSystem=strict" in props and "CapabilityBoundingSet=\n" in props + "\n", props

      with subtest("The RTMPS key is not in the store and not world-readable"):
          config = appliance.succeed("cat /etc/relevo/relevo.toml")
          assert "PRIVATE KEY" not in config, config
          assert 'key = "/var/lib/acme/relevo.test/key.pem"' in config, config
          appliance.fail("runuser -u nobody -- cat /var/lib/acme/relevo.test/key.pem")

      with subtest("Anonymous access is refused"):
          client.succeed(f"{https} https://relevo.test/healthz")
          client.succeed(
              f"{https} -o /dev/null -w '%{{http_code}}' https://relevo.test/metrics | grep -x 403"
          )
          # The panel sends a visitor to sign in; the login page itself answers.
          client.succeed(
              f"{https} -o /dev/null -w '%{{http_code}} %{{redirect_url}}' https://relevo.test/ "
              "| grep -x '303 https://relevo.test/login?next=%2F'"
          )
          client.succeed(f"{https} https://relevo.test/login | grep -q 'type=\"password\"'")
          for path in ["/api/v1/inputs", "/api/v1/status", "/api/v1/users", "/api/v1/config/export"]:
              client.succeed(
                  f"{https} -o /dev/null -w '%{{http_code}}' https://relevo.test{path} | grep -x 401"
              )
          client.succeed(
              f"{https} -o /dev/null -w '%{{http_code}}' -H 'Connection: Upgrade' -H 'Upgrade: websocket' "
              "-H 'Sec-WebSocket-Version: 13' -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' "
              "https://relevo.test/api/v1/events | grep -x 401"
          )
          # The session cookie is Secure behind HTTPS.
          client.succeed(f"{https} -D - -o /dev/null https://relevo.test/login | grep -i '^set-cookie: relevo_csrf=.*; Secure'")
    
      with subtest("HSTS on the panel"):
          client.succeed(
              f"{https} -D - -o /dev/null https://relevo.test/login "
              "| grep -i '^strict-transport-security: max-age=31536000'"
          )

      with subtest("A runaway relay cannot starve the rest of the machine"):
          props = appliance.succeed(
              "systemctl show relevo.service --property=MemoryMax,TasksMax,OOMScoreAdjust"
          )
          print(props)
          assert "MemoryMax=infinity" not in props, props
          assert "TasksMax=4096" in props and "OOMScoreAdjust=500" in props, props

      with subtest("Keys live in private files, not in the database"):
          appliance.succeed("test $(stat -c %a /var/lib/private/relevo) = 700")
          appliance.succeed("test $(stat -c %a /var/lib/private/relevo/keys) = 700")
          for f in ["jwt.key", "totp.key"]:
              appliance.succeed(f"test $(stat -c %a /var/lib/private/relevo/keys/{f}) = 600")
          appliance.fail(
              "runuser -u postgres -- psql -d relevo -tAc 'SELECT 1 FROM server_keys'"
          )

      with subtest("A stream key clash leaves no key in PostgreSQL's journal"):
          token = api_token(appliance)
          body = '{"name": "clash-%s", "key": "vm-clash-secret-key"}'
          for n in ["a", "b"]:
              appliance.succeed(
                  f"curl -s -o /dev/null -H 'Authorization: Bearer {token}' "
                  f"-H 'Content-Type: application/json' -d '{body % n}' {API}/api/v1/inputs"
              )
          appliance.wait_until_succeeds(
              "journalctl -u postgresql.service | grep -q 'stream key already in use'"
          )
          appliance.fail("journalctl -u postgresql.service | grep -q vm-clash-secret-key")
    '';
}
