# An input's own SRT port between VMs: an encoder that cannot send a stream id (here
# srt-live-transmit without `streamid`, fed by ffmpeg) publishes to the input's own port,
# opened in the appliance's firewall by `services.relevo.srt.inputPorts`; a caller without
# the passphrase is refused there first, and a player reads the stream from the shared SRT
# port. The Rust integration test `appliance/engine/tests/srt_own_port.rs` runs the same
# scenarios (and the refusals, the port moved, a port in use) on the host.
{
  name = "relevo-srt-port";

  nodes = {
    appliance = {
      imports = [ ./common.nix ];
      services.relevo.srt.inputPorts = [ 9001 ];
      services.relevo.settings.input = [
        {
          name = "campo";
          key = "campo-key";
          passphrase = "campo-frase-secreta";
          key_length = 16;
          srt_port = 9001;
          output = [
            {
              name = "lectura";
              pull = "srt";
              key = "campo-lectura";
            }
          ];
        }
      ];
    };

    client =
      {
        config,
        lib,
        pkgs,
        ...
      }:
      let
        # ffmpeg's test stream piped into srt-live-transmit (7 TS packets per SRT message)
        # calling the own port with no stream id; `query` adds SRT options.
        encoder =
          query:
          pkgs.writeShellScript "encoder-without-streamid" ''
            ${lib.getExe' pkgs.ffmpeg-headless "ffmpeg"} -nostdin -loglevel warning \
              ${config.relevoTest.source} -f mpegts - \
              | ${lib.getExe' pkgs.srt "srt-live-transmit"} -a:no -chunk:1316 file://con \
                'srt://appliance:9001?latency=200${query}'
          '';
        # Started by the test script; stopping the unit stops the whole pipeline.
        publisher = query: {
          description = "encoder without a stream id (test peer)";
          startLimitIntervalSec = 0;
          serviceConfig = {
            DynamicUser = true;
            ExecStart = "${encoder query}";
            Restart = "always";
            RestartSec = "1s";
          };
        };
      in
      {
        imports = [ ./peer.nix ];
        systemd.services = {
          publish-without-passphrase = publisher "";
          publish-own-port = publisher "&passphrase=campo-frase-secreta";
        };
      };
  };

  testScript = ''
    ${builtins.readFile ./helpers.py}

    appliance.start()
    client.start()
    appliance.wait_for_unit("relevo.service")
    client.wait_for_unit("multi-user.target")
    # The relay opens the input's own port at start (srt-live-transmit calls only once).
    appliance.wait_until_succeeds("ss -Hlun 'sport = :9001' | grep -q 9001")

    with subtest("A caller without the passphrase is refused on the own port"):
        client.systemctl("start publish-without-passphrase.service")
        appliance.wait_until_succeeds(
            f"{curl_api(appliance)} | grep -E '^relevo_input_rejections_total\\{{input=\"campo\"\\}} [1-9]'"
        )
        wait_metric(appliance, 'relevo_input_state{input="campo",state="idle"} 1')
        client.systemctl("stop publish-without-passphrase.service")

    with subtest("An encoder without a stream id publishes on the input's own port"):
        client.systemctl("start publish-own-port.service")
        wait_metric(appliance, 'relevo_input_state{input="campo",state="live"} 1')

    with subtest("A player reads it from the shared SRT port"):
        client.succeed(
            "ffmpeg -v error -i 'srt://appliance:8890?streamid=read:campo-lectura&latency=200000'"
            " -t 8 -c copy -f mpegts /tmp/read.ts"
        )
        client.succeed("probe-has /tmp/read.ts v:0 h264 150")
        client.succeed("probe-has /tmp/read.ts a:0 aac 200")
  '';
}
