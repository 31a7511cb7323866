# HLS through the appliance's HTTPS: a real SRT publisher, an HLS output, and a client that
# plays the stream from nginx on 443 (the placeholder certificate: no ACME server here) the
# way a player or a CDN does. The Rust integration tests `hls`, `hls_http` and
# `hls_player` (headless Chromium) run the same scenarios on the host.
{
  name = "relevo-hls";

  nodes = {
    appliance = {
      imports = [ ./common.nix ];
      services.relevo.hls.allowedOrigins = [ "https://www.example.com" ];
      services.relevo.settings.input = [
        {
          name = "estudio-a";
          key = "estudio-a-key";
          output = [
            {
              name = "web";
              pull = "hls";
              key = "web-hls-key-0123456789";
            }
          ];
        }
      ];
    };

    client =
      { config, nodes, ... }:
      {
        imports = [ ./peer.nix ];
        networking.hosts.${nodes.appliance.networking.primaryIPAddress} = [ "relevo.test" ];
        relevoTest.ffmpeg.publish-srt =
          "${config.relevoTest.source} -f mpegts"
          + " 'srt://relevo.test:8890?streamid=publish:estudio-a-key&latency=200000'";
      };
  };

  testScript = ''
    ${builtins.readFile ./helpers.py}

    base = "https://relevo.test/hls/web-hls-key-0123456789"
    # The placeholder certificate is self-signed: the client does not verify it.
    curl = "curl -sk"

    appliance.start()
    client.start()
    appliance.wait_for_unit("nginx.service")
    appliance.wait_for_unit("relevo.service")
    wait_metric(appliance, 'relevo_input_state{input="estudio-a",state="live"} 1')

    with subtest("The playlist comes through nginx with Relevo's headers"):
        client.wait_until_succeeds(f"{curl} -f {base}/index.m3u8 | grep -q '^#EXTINF'", timeout=60)
        headers = client.succeed(f"{curl} -D - -o /dev/null {base}/index.m3u8").lower()
        assert "content-type: application/vnd.apple.mpegurl" in headers, headers
        assert "cache-control: public, max-age=1" in headers, headers

    with subtest("Segments are immutable for a CDN, and CORS names the allowed origin"):
        segment = client.succeed(
            f"{curl} -f {base}/index.m3u8 | grep -m1 -E '^seg.*[.]m4s$'"
        ).strip()
        headers = client.succeed(
            f"{curl} -D - -o /dev/null -H 'Origin: https://www.example.com' {base}/{segment}"
        ).lower()
        assert "immutable" in headers, headers
        assert "access-control-allow-origin: https://www.example.com" in headers, headers
        other = client.succeed(
            f"{curl} -D - -o /dev/null -H 'Origin: https://evil.example' {base}/{segment}"
        ).lower()
        assert "access-control-allow-origin" not in other, other

    with subtest("A player reads 10 s of video and audio over HTTPS"):
        client.succeed(
            f"ffmpeg -v error -tls_verify 0 -i {base}/index.m3u8 -t 10 -c copy -f mpegts /tmp/played.ts"
        )
        client.succeed("probe-has /tmp/played.ts v:0 h264 200")
        client.succeed("probe-has /tmp/played.ts a:0 aac 300")

    with subtest("The embeddable player page and an unknown key"):
        client.succeed(f"{curl} -f https://relevo.test/play/web-hls-key-0123456789 | grep -q '<video'")
        client.succeed(
            f"{curl} -o /dev/null -w '%{{http_code}}' https://relevo.test/hls/no-such-key/index.m3u8 | grep -x 404"
        )

    with subtest("/metrics counts the player"):
        appliance.wait_until_succeeds(
            f"{curl_api(appliance)} | grep -E '^relevo_hls_segments_served_total\\{{input=\"estudio-a\",output=\"web\"\\}} [1-9]'"
        )
  '';
}
