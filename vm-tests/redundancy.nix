# Redundant ingest between VMs: `client` runs two encoders of the same programme, the main
# one by SRT and the backup by RTMP on the input's backup key. Stopping the main encoder puts
# the backup on air while a player keeps reading the same RTMP output; starting it again
# brings the main feed back after its stable time. The Rust integration tests
# (`appliance/engine/tests/redundancy.rs`) run the same scenarios on the host, with
# recordings checked for continuity.
{
  name = "relevo-redundancy";

  nodes = {
    appliance = {
      imports = [ ./common.nix ];
      services.relevo.settings.input = [
        {
          name = "estudio-a";
          key = "estudio-a-key";
          backup = {
            key = "estudio-a-backup-key";
            failover_ms = 1000;
            revert_s = 5;
          };
          output = [
            {
              name = "monitor";
              pull = "rtmp";
              key = "estudio-a-monitor";
            }
          ];
        }
      ];
    };

    client =
      { config, ... }:
      {
        imports = [ ./peer.nix ];
        relevoTest.ffmpeg = {
          publish-main =
            "${config.relevoTest.source} -f mpegts"
            + " 'srt://appliance:8890?streamid=publish:estudio-a-key&latency=200000'";
          publish-backup =
            "${config.relevoTest.source} -f flv rtmp://appliance/live/estudio-a-backup-key";
        };
      };
  };

  testScript = ''
    ${builtins.readFile ./helpers.py}

    on_air = 'relevo_input_on_air{{input="estudio-a",feed="{}"}} 1'

    appliance.start()
    client.start()
    appliance.wait_for_unit("relevo.service")

    with subtest("Both encoders connect; the main feed is on air"):
        wait_metric(appliance, 'relevo_input_state{input="estudio-a",state="live"} 1')
        wait_metric(appliance, on_air.format("main"))

    with subtest("The main encoder stops: the backup goes on air and a player keeps reading"):
        client.systemctl("stop publish-main.service")
        wait_metric(appliance, on_air.format("backup"))
        client.succeed(
            "ffmpeg -v error -i rtmp://appliance/live/estudio-a-monitor -t 8 -c copy -f flv /tmp/backup.flv"
        )
        client.succeed("probe-has /tmp/backup.flv v:0 h264 150")
        client.succeed("probe-has /tmp/backup.flv a:0 aac 200")

    with subtest("The main encoder returns and takes over after its stable time"):
        client.systemctl("start publish-main.service")
        wait_metric(appliance, on_air.format("main"))
        appliance.wait_until_succeeds(
            f"{curl_api(appliance)} | grep -E '^relevo_input_feed_switches_total\\{{input=\"estudio-a\",reason=\"revert\"\\}} [1-9]'"
        )
  '';
}
