# A peer node of the VM tests (encoder, receiver, player): ffmpeg from nixpkgs, a probe
# helper and ffmpeg processes declared as restartable systemd units. Units retry forever
# (once a second) so that publishers and players simply connect once the relay is up.
{
  config,
  lib,
  pkgs,
  ...
}:

let
  ffmpeg = pkgs.ffmpeg-headless; # built with libsrt and x264

  # probe-has FILE STREAM CODEC MIN: FILE's STREAM (v:0, a:0) has codec CODEC and at least
  # MIN packets, as ffprobe counts them.
  probe-has = pkgs.writeShellApplication {
    name = "probe-has";
    runtimeInputs = [ ffmpeg ];
    text = ''
      out=$(ffprobe -v error -select_streams "$2" -count_packets \
        -show_entries stream=codec_name,nb_read_packets -of csv=p=0 "$1")
      echo "$1 $2: $out"
      [ "''${out%%,*}" = "$3" ] && [ "''${out##*,}" -ge "$4" ]
    '';
  };
in
{
  options.relevoTest = {
    ffmpeg = lib.mkOption {
      type = lib.types.attrsOf lib.types.str;
      default = { };
      description = ''
        ffmpeg arguments per systemd unit (the unit's name). Each runs in its own state
        directory /var/lib/<name>, so relative output files land there.
      '';
    };

    source = lib.mkOption {
      type = lib.types.str;
      readOnly = true;
      default =
        "-re -f lavfi -i testsrc2=size=640x360:rate=25 -f lavfi -i sine=frequency=440:sample_rate=48000"
        + " -c:v libx264 -preset ultrafast -tune zerolatency -g 50 -pix_fmt yuv420p -c:a aac -b:a 96k";
      description = "ffmpeg input and encoding arguments of a test publisher (H.264 + AAC, GOP 2 s).";
    };
  };

  config = {
    environment.systemPackages = [
      ffmpeg
      probe-has
      pkgs.curl
      pkgs.openssl
    ];

    systemd.services = lib.mapAttrs (name: args: {
      description = "ffmpeg ${name} (test peer)";
      wantedBy = [ "multi-user.target" ];
      wants = [ "network-online.target" ];
      after = [ "network-online.target" ];
      startLimitIntervalSec = 0;
      serviceConfig = {
        DynamicUser = true;
        StateDirectory = name;
        WorkingDirectory = "/var/lib/${name}";
        ExecStart = "${lib.getExe' ffmpeg "ffmpeg"} -nostdin -loglevel warning ${args}";
        Restart = "always";
        RestartSec = "1s";
      };
    }) config.relevoTest.ffmpeg;
  };
}
