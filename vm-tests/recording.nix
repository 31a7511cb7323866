# Recording on a disk of its own: the appliance mounts a labelled disk at the recordings
# directory, a real SRT publisher is recorded to fragmented MP4 in 10 s files, and ffprobe
# reads the files: H.264 video and AAC audio, on the recordings disk, never in the database
# dumps. The Rust integration tests `recording` and `recording_disk` run the same scenarios
# (and the disk-full and retention ones) on the host.
{
  name = "relevo-recording";

  nodes = {
    appliance =
      { pkgs, ... }:
      {
        imports = [ ./common.nix ];
        # /dev/vdb, formatted with the label by the test script before the relay records.
        virtualisation.emptyDiskImages = [ 256 ];
        relevo.appliance.recordingDisk.label = "relevo-rec";
        environment.systemPackages = [
          pkgs.ffmpeg-headless
          pkgs.util-linux
          pkgs.e2fsprogs
        ];
        services.relevo.settings.input = [
          {
            name = "estudio-a";
            key = "estudio-a-key";
            output = [
              {
                name = "grabacion";
                record = "mp4";
                segment_s = 10;
              }
            ];
          }
        ];
      };

    client =
      { config, ... }:
      {
        imports = [ ./peer.nix ];
        relevoTest.ffmpeg.publish-srt =
          "${config.relevoTest.source} -f mpegts"
          + " 'srt://appliance:8890?streamid=publish:estudio-a-key&latency=200000'";
      };
  };

  testScript = ''
    ${builtins.readFile ./helpers.py}

    recordings = "/var/lib/private/relevo/recordings"

    appliance.start()
    appliance.wait_for_unit("relevo.service")

    with subtest("The labelled disk is mounted at the recordings directory, owned by the relay"):
        appliance.succeed("mkfs.ext4 -q -L relevo-rec /dev/vdb")
        appliance.succeed("udevadm settle")
        appliance.succeed("systemctl start var-lib-private-relevo-recordings.mount")
        appliance.succeed("systemctl restart relevo.service")
        appliance.wait_for_unit("relevo.service")
        appliance.succeed(f"findmnt -n -o SOURCE {recordings} | grep -q vdb")
        appliance.succeed(f"stat -c '%U %a' {recordings} | grep -qx 'relevo 750'")

    client.start()

    with subtest("A real SRT stream is recorded in 10 s MP4 files that ffprobe reads"):
        wait_metric(appliance, 'relevo_input_state{input="estudio-a",state="live"} 1')
        # Two whole files: the third has begun.
        appliance.wait_until_succeeds(
            f"test $(find {recordings} -name '*.mp4' | wc -l) -ge 3", timeout=120
        )
        first = appliance.succeed(f"find {recordings} -name '*.mp4' | sort | head -n 1").strip()
        assert "/estudio-a/grabacion/" in first, first
        appliance.succeed(f"findmnt -n -o SOURCE -T {first} | grep -q vdb")
        codecs = appliance.succeed(
            f"ffprobe -v error -show_entries stream=codec_name -of csv=p=0 {first}"
        ).split()
        assert sorted(codecs) == ["aac", "h264"], codecs
        duration = float(
            appliance.succeed(f"ffprobe -v error -show_entries format=duration -of csv=p=0 {first}")
        )
        assert 9 <= duration <= 13, duration
        # A clean copy: no timestamp warnings.
        out = appliance.succeed(f"ffmpeg -v warning -i {first} -c copy -f null - 2>&1")
        assert out.strip() == "", out

    with subtest("The recording output reports its files in /metrics"):
        appliance.wait_until_succeeds(
            f"{curl_api(appliance)} | grep -E '^relevo_record_files_total\\{{input=\"estudio-a\",output=\"grabacion\"\\}} ([3-9]|[1-9][0-9]+)$'"
        )

    with subtest("Recordings are files, not rows: the database dump does not carry them"):
        appliance.succeed("systemctl start postgresqlBackup-relevo.service")
        size = int(appliance.succeed("stat -c %s /var/backup/postgresql/relevo.sql.gz"))
        assert size < 1024 * 1024, size
  '';
}
