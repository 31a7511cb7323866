# History and alerts between VMs: `client` publishes to the appliance and runs a webhook
# receiver. An admin configures (through the API) a webhook channel signed with a secret and
# an "input not live" rule; stopping the encoder sends one `alert.started` message to the
# receiver, starting it again one `alert.resolved`. The input's history then shows the
# publisher's events and an availability below one. The Rust integration tests
# (`appliance/relevo/tests/{alerts,history,history_api}.rs`) run the same scenarios on the
# host, with email through a real SMTP server and the signature checked.
{
  name = "relevo-alerts";

  nodes = {
    appliance = {
      imports = [ ./common.nix ];
      services.relevo.history.retentionDays = 7;
      services.relevo.settings.input = [
        {
          name = "estudio-a";
          key = "estudio-a-key";
        }
      ];
    };

    client =
      { config, pkgs, ... }:
      {
        imports = [ ./peer.nix ];
        relevoTest.ffmpeg.publish =
          "${config.relevoTest.source} -f flv rtmp://appliance/live/estudio-a-key";
        networking.firewall.allowedTCPPorts = [ 9000 ];
        # Each POST's body as one line of /tmp/hooks.jsonl.
        systemd.services.webhook-receiver = {
          wantedBy = [ "multi-user.target" ];
          serviceConfig.ExecStart = pkgs.writers.writePython3 "webhook-receiver" { } ''
            from http.server import BaseHTTPRequestHandler, HTTPServer


            class Hook(BaseHTTPRequestHandler):
                def do_POST(self):
                    body = self.rfile.read(int(self.headers["Content-Length"]))
                    with open("/tmp/hooks.jsonl", "ab") as f:
                        f.write(body.replace(b"\n", b" ") + b"\n")
                    self.send_response(204)
                    self.end_headers()


            HTTPServer(("0.0.0.0", 9000), Hook).serve_forever()
          '';
        };
      };
  };

  testScript = ''
    ${builtins.readFile ./helpers.py}
    import json

    def api(method, path, body=None):
        data = f"-d '{json.dumps(body)}' -H 'Content-Type: application/json'" if body else ""
        return appliance.succeed(
            f"curl -sf -X {method} -H 'Authorization: Bearer {api_token(appliance)}' {data} {API}{path}"
        )

    def hooks(event):
        return int(client.succeed(f"grep -c '\"event\":\"{event}\"' /tmp/hooks.jsonl || true").strip() or 0)

    appliance.start()
    client.start()
    appliance.wait_for_unit("relevo.service")
    client.wait_for_unit("webhook-receiver.service")

    with subtest("The encoder is live"):
        wait_metric(appliance, 'relevo_input_state{input="estudio-a",state="live"} 1')

    with subtest("An admin sets a signed webhook and an input-down rule"):
        api("POST", "/api/v1/alerts/channels", {
            "name": "guardia", "kind": "webhook", "enabled": True, "lang": "es",
            "url": "http://client:9000/hook", "secret": "vm-test-secret",
        })
        api("POST", "/api/v1/alerts/rules", {
            "name": "estudio caído", "condition": "input_down", "input": "estudio-a",
            "for_secs": 3, "enabled": True,
        })

    with subtest("The encoder stops: one message when the alert starts"):
        client.systemctl("stop publish.service")
        client.wait_until_succeeds("grep -q '\"event\":\"alert.started\"' /tmp/hooks.jsonl")

    with subtest("The encoder returns: one message when it resolves"):
        client.systemctl("start publish.service")
        client.wait_until_succeeds("grep -q '\"event\":\"alert.resolved\"' /tmp/hooks.jsonl")
        assert hooks("alert.started") == 1, "one start message"

    with subtest("The history shows the outage"):
        events = json.loads(api("GET", "/api/v1/events?input=estudio-a&kind=publisher."))
        kinds = [e["kind"] for e in events["events"]]
        assert "publisher.disconnected" in kinds, kinds
        availability = json.loads(api("GET", "/api/v1/availability/estudio-a"))
        assert 0 < availability["ratio"] < 1, availability
  '';
}
