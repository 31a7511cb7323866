# Update and roll back. The appliance switches to a second configuration (a specialisation
# that declares one more flow, as a `nixos-rebuild switch` with an edited flake would) and
# back. Flow changes reach Relevo as a reload (SIGHUP), so the publisher, the reader and
# the relay process itself keep running through both switches.
{
  name = "relevo-update";

  nodes = {
    appliance = {
      imports = [ ./common.nix ];
      services.relevo.settings.input = [
        {
          name = "studio";
          key = "studio-key";
          output = [
            {
              name = "monitor";
              pull = "rtmp";
              key = "studio-monitor";
            }
          ];
        }
      ];
      # Lists concatenate: the second configuration keeps `studio` and adds `backup-studio`.
      specialisation.second.configuration = {
        services.relevo.settings.input = [
          {
            name = "backup-studio";
            key = "backup-studio-key";
          }
        ];
      };
    };

    client =
      { config, ... }:
      {
        imports = [ ./peer.nix ];
        relevoTest.ffmpeg = {
          publish = "${config.relevoTest.source} -f flv rtmp://appliance/live/studio-key";
          monitor = "-i rtmp://appliance/live/studio-monitor -c copy -f flv -y out.flv";
        };
      };
  };

  testScript = ''
    ${builtins.readFile ./helpers.py}

    live = 'relevo_input_state{input="studio",state="live"} 1'
    reading = 'relevo_output_peers{input="studio",output="monitor",kind="pull_rtmp"} 1'
    publishes = f"{curl_api(appliance)} | grep -F 'relevo_input_publishes_total{{input=\"studio\"}}'"

    start_all()
    appliance.wait_for_unit("relevo.service")
    wait_metric(appliance, live)
    wait_metric(appliance, reading)
    client.wait_until_succeeds("probe-has /var/lib/monitor/out.flv v:0 h264 50")
    base = appliance.succeed("readlink -f /run/current-system").strip()
    pid = main_pid(appliance)
    published = appliance.succeed(publishes)

    with subtest("Switch to the second configuration: the new flow appears, nothing restarts"):
        switch_to(appliance, f"{base}/specialisation/second")
        wait_metric(appliance, 'relevo_input_state{input="backup-studio",state="idle"} 1')
        wait_metric(appliance, live)
        wait_metric(appliance, reading)
        assert main_pid(appliance) == pid, "relevo restarted on a flow change"
        assert appliance.succeed(publishes) == published, "the publisher had to reconnect"

    with subtest("Roll back to the first configuration: the flow goes, the stream stays"):
        switch_to(appliance, base)
        appliance.wait_until_fails(
            f"{curl_api(appliance)} | grep -qF 'input=\"backup-studio\"'"
        )
        wait_metric(appliance, live)
        wait_metric(appliance, reading)
        assert main_pid(appliance) == pid, "relevo restarted on a rollback"
        assert appliance.succeed(publishes) == published, "the publisher had to reconnect"
        # The reader's file keeps growing: the stream was never cut.
        size = int(client.succeed("stat -c %s /var/lib/monitor/out.flv"))
        client.wait_until_succeeds(f"test $(stat -c %s /var/lib/monitor/out.flv) -gt {size}")
  '';
}
