# Real streams between VMs. `client` publishes SRT (AES-256 passphrase) and RTMP with
# ffmpeg into the appliance; `receiver` listens for the appliance's SRT push output and
# pulls two RTMP outputs (one of them remuxed from the SRT input); ffprobe checks what
# arrives. Flows are declared in Nix (services.relevo.settings.input).
{
  name = "relevo-streams";

  nodes = {
    appliance = {
      imports = [ ./common.nix ];
      services.relevo.settings.input = [
        {
          name = "studio-srt";
          key = "studio-srt-key";
          passphrase = "relevo-test-passphrase";
          key_length = 32;
          latency_ms = 200;
          output = [
            {
              name = "to-receiver";
              push = "srt://receiver:9000";
              latency_ms = 200;
            }
            {
              name = "srt-as-rtmp";
              pull = "rtmp";
              key = "studio-srt-view";
            }
          ];
        }
        {
          name = "studio-rtmp";
          key = "studio-rtmp-key";
          output = [
            {
              name = "rtmp-view";
              pull = "rtmp";
              key = "studio-rtmp-view";
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
          publish-srt =
            "${config.relevoTest.source} -f mpegts"
            + " 'srt://appliance:8890?streamid=publish:studio-srt-key&passphrase=relevo-test-passphrase&pbkeylen=32&latency=200000'";
          publish-rtmp = "${config.relevoTest.source} -f flv rtmp://appliance/live/studio-rtmp-key";
        };
      };

    receiver = {
      imports = [ ./peer.nix ];
      networking.firewall.allowedUDPPorts = [ 9000 ];
      relevoTest.ffmpeg = {
        srt-sink = "-i 'srt://0.0.0.0:9000?mode=listener&latency=200000' -c copy -f mpegts -y out.ts";
        pull-rtmp = "-i rtmp://appliance/live/studio-rtmp-view -c copy -f flv -y out.flv";
        pull-srt-as-rtmp = "-i rtmp://appliance/live/studio-srt-view -c copy -f flv -y out.flv";
      };
    };
  };

  testScript = ''
    ${builtins.readFile ./helpers.py}

    start_all()
    appliance.wait_for_unit("relevo.service")
    appliance.wait_for_open_port(8080)

    with subtest("SRT publisher with an AES-256 passphrase and RTMP publisher are live"):
        wait_metric(appliance, 'relevo_input_state{input="studio-srt",state="live"} 1')
        wait_metric(appliance, 'relevo_input_state{input="studio-rtmp",state="live"} 1')

    with subtest("The SRT push output reaches the receiver's SRT listener"):
        wait_metric(
            appliance,
            'relevo_output_state{input="studio-srt",output="to-receiver",kind="push_srt",state="live"} 1',
        )
        receiver.wait_until_succeeds("probe-has /var/lib/srt-sink/out.ts v:0 h264 100")
        receiver.wait_until_succeeds("probe-has /var/lib/srt-sink/out.ts a:0 aac 100")

    with subtest("The receiver pulls RTMP from the RTMP input and from the SRT input"):
        for reader in ["pull-rtmp", "pull-srt-as-rtmp"]:
            receiver.wait_until_succeeds(f"probe-has /var/lib/{reader}/out.flv v:0 h264 100")
            receiver.wait_until_succeeds(f"probe-has /var/lib/{reader}/out.flv a:0 aac 100")
        wait_metric(
            appliance,
            'relevo_output_peers{input="studio-rtmp",output="rtmp-view",kind="pull_rtmp"} 1',
        )
        wait_metric(
            appliance,
            'relevo_output_peers{input="studio-srt",output="srt-as-rtmp",kind="pull_rtmp"} 1',
        )
  '';
}
