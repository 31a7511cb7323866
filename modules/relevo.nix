# services.relevo: the Relevo relay as a hardened systemd service.
#
# The module writes the TOML file that `relevo serve --config` reads (README.md, «El fichero
# de configuración»). The binary refuses unknown fields, so only keys it understands go into
# that file: `listen.*` (from the typed port options), `tls.*` and `input = [ … ]` (flows
# declared in Nix, from `settings`). Everything else reaches it through the environment.
#
# Flow changes are applied with SIGHUP (`systemctl reload`), which never interrupts running
# flows; a change of listeners or certificate paths, which the binary reads only at start,
# restarts the service.
{
  config,
  lib,
  pkgs,
  ...
}:

let
  cfg = config.services.relevo;
  settingsFormat = pkgs.formats.toml { };

  # The credentials directory of a system service (systemd.exec(5), $CREDENTIALS_DIRECTORY).
  credentialsDir = "/run/credentials/relevo.service";

  tlsEnabled = cfg.tls.certificateFile != null;
  tlsViaCredentials = tlsEnabled && cfg.tls.group == null;

  hostPort =
    address: port:
    if lib.hasInfix ":" address then "[${address}]:${toString port}" else "${address}:${toString port}";

  listen = {
    srt = hostPort cfg.listenAddress cfg.srtPort;
    rtmp = hostPort cfg.listenAddress cfg.rtmpPort;
    http = hostPort cfg.httpAddress cfg.httpPort;
  }
  // lib.optionalAttrs tlsEnabled { rtmps = hostPort cfg.listenAddress cfg.rtmpsPort; };

  tls = lib.optionalAttrs tlsEnabled (
    (cfg.settings.tls or { })
    // (
      if tlsViaCredentials then
        {
          certificate = "${credentialsDir}/rtmps-certificate";
          key = "${credentialsDir}/rtmps-key";
        }
      else
        {
          certificate = cfg.tls.certificateFile;
          key = cfg.tls.keyFile;
        }
    )
  );

  # `grace` is the default publisher grace period of the flows declared here.
  withGrace =
    input:
    if cfg.grace == null || input ? grace_period_s then
      input
    else
      input // { grace_period_s = cfg.grace; };

  # `[http]`: the typed trustedProxies option over anything else given in settings.http.
  http =
    (cfg.settings.http or { })
    // lib.optionalAttrs (cfg.trustedProxies != [ ]) { trusted_proxies = cfg.trustedProxies; };

  # `[recording]`: the typed recording options over anything else in settings.recording.
  recording = (cfg.settings.recording or { }) // {
    dir = cfg.recording.directory;
    min_free_percent = cfg.recording.minFreePercent;
    min_free_gib = cfg.recording.minFreeGiB;
  };

  # `[hls]`: the typed allowed origins over anything else in settings.hls.
  hls = (cfg.settings.hls or { }) // {
    allowed_origins = cfg.hls.allowedOrigins;
  };

  # `[history]`: the typed retention over anything else in settings.history.
  history = (cfg.settings.history or { }) // {
    retention_days = cfg.history.retentionDays;
  };

  stateDir = "/var/lib/relevo";

  # Own SRT ports (`srt_port`) of the inputs declared in `settings.input` that
  # `srt.inputPorts` does not open.
  closedOwnPorts = lib.subtractLists cfg.srt.inputPorts (
    lib.concatMap (i: lib.optional (i ? srt_port) i.srt_port) (cfg.settings.input or [ ])
  );

  rendered =
    builtins.removeAttrs cfg.settings [
      "tls"
      "http"
      "recording"
      "hls"
      "history"
    ]
    // lib.optionalAttrs (http != { }) { inherit http; }
    // {
      inherit
        listen
        recording
        hls
        history
        ;
      input = map withGrace (cfg.settings.input or [ ]);
    }
    // lib.optionalAttrs tlsEnabled { inherit tls; };

  generated = settingsFormat.generate "relevo.toml" rendered;

  # Checked at build time with the binary's own parser, so a bad flow fails `nixos-rebuild`
  # rather than the service.
  configFile =
    if cfg.checkConfig then
      pkgs.runCommand "relevo.toml" { } ''
        ${lib.getExe cfg.package} config check ${generated}
        cp ${generated} $out
      ''
    else
      generated;

  isStorePath = p: lib.hasPrefix builtins.storeDir (toString p);
in
{
  options.services.relevo = {
    enable = lib.mkEnableOption "Relevo, the SRT/RTMP relay";

    package = lib.mkPackageOption pkgs "relevo" { };

    listenAddress = lib.mkOption {
      type = lib.types.str;
      default = "0.0.0.0";
      description = "Address of the SRT, RTMP and RTMPS listeners.";
    };

    srtPort = lib.mkOption {
      type = lib.types.port;
      default = 8890;
      description = "UDP port of the SRT listener (publishers and pull readers).";
    };

    srt.inputPorts = lib.mkOption {
      type = lib.types.listOf (lib.types.ints.between 1024 65535);
      default = [ ];
      example = [
        9001
        9002
      ];
      description = ''
        UDP ports that inputs have as their own SRT port (`srt_port`, for encoders that cannot
        send a stream id: any caller on the port publishes to that input, with its
        passphrase). The relay opens an input's port itself when the input is enabled; this
        list only opens them in the firewall with `openFirewall`, for inputs declared here
        and for those created in the panel or the API alike.
      '';
    };

    rtmpPort = lib.mkOption {
      type = lib.types.port;
      default = 1935;
      description = "TCP port of the RTMP listener.";
    };

    rtmpsPort = lib.mkOption {
      type = lib.types.port;
      default = 1936;
      description = "TCP port of the RTMPS listener; it only listens when `tls` is configured.";
    };

    httpAddress = lib.mkOption {
      type = lib.types.str;
      default = "127.0.0.1";
      description = ''
        Address of the HTTP listener (`/metrics`, `/healthz`, `/api/v1`, later the panel).
        Keep it on loopback behind a TLS reverse proxy; `openFirewall` never opens it.
      '';
    };

    httpPort = lib.mkOption {
      type = lib.types.port;
      default = 8080;
      description = "TCP port of the HTTP listener.";
    };

    trustedProxies = lib.mkOption {
      type = lib.types.listOf lib.types.str;
      default = [ ];
      example = [
        "127.0.0.1"
        "::1"
      ];
      description = ''
        Addresses of the reverse proxies in front of the HTTP listener (`[http]
        trusted_proxies`). Only their `X-Forwarded-For`/`-Proto` headers are believed: the
        client address in the audit log and the rate limits, and the `Secure` cookie. They
        are also exempt from the per-address connection cap, so the proxy must cap its own
        clients (the appliance's nginx does).
      '';
    };

    domain = lib.mkOption {
      type = lib.types.nullOr lib.types.str;
      default = null;
      example = "relevo.example.com";
      description = ''
        Public DNS name of this relay. The appliance profile uses it for nginx and the ACME
        certificate; it is not written into the binary's configuration file.
      '';
    };

    openFirewall = lib.mkOption {
      type = lib.types.bool;
      default = false;
      description = ''
        Open the media ports: `rtmpPort` (and `rtmpsPort` with TLS) on TCP, `srtPort` and
        `srt.inputPorts` on UDP. The HTTP port is never opened.
      '';
    };

    grace = lib.mkOption {
      type = lib.types.nullOr (lib.types.ints.between 0 300);
      default = null;
      example = 30;
      description = ''
        Default `grace_period_s` (seconds outputs wait for a dropped publisher) of the inputs
        declared in `settings.input` that do not set their own; `null` keeps the binary's
        default (10 s).
      '';
    };

    settings = lib.mkOption {
      type = lib.types.submodule { freeformType = settingsFormat.type; };
      default = { };
      example = lib.literalExpression ''
        {
          input = [
            {
              name = "Estudio A";
              key = "estudio-a";
              passphrase = "cambie-esta-frase";
              key_length = 32;
              latency_ms = 200;
              output = [
                { name = "YouTube"; push = "rtmp://a.rtmp.youtube.com/live2/xxxx"; }
                { name = "Lectura SRT"; pull = "srt"; key = "estudio-a-srt"; }
              ];
            }
          ];
        }
      '';
      description = ''
        Relevo's configuration file as Nix (format: README.md). Flows go in `input`; they
        are read-only in the panel. `listen` comes from the port options and `tls`
        certificate/key from `tls.*`; only `tls.extra_roots` may be given here. Unknown
        keys are rejected by the binary (and by the build, with `checkConfig`).

        Stream keys and passphrases written here end up in the world-readable Nix store:
        declare production flows with secrets in the panel or the API instead.
      '';
    };

    checkConfig = lib.mkOption {
      type = lib.types.bool;
      default = true;
      description = ''
        Validate the generated file with `relevo config check` at build time. Turn it off
        if `settings.tls.extra_roots` points at a file that only exists at run time.
      '';
    };

    tls = {
      certificateFile = lib.mkOption {
        type = lib.types.nullOr lib.types.str;
        default = null;
        example = "/var/lib/acme/relevo.example.com/fullchain.pem";
        description = "PEM certificate chain for RTMPS. Setting it enables the RTMPS listener.";
      };

      keyFile = lib.mkOption {
        type = lib.types.nullOr lib.types.str;
        default = null;
        example = "/var/lib/acme/relevo.example.com/key.pem";
        description = "PEM private key for RTMPS. A path on the machine, never in the Nix store.";
      };

      group = lib.mkOption {
        type = lib.types.nullOr lib.types.str;
        default = null;
        example = "relevo-tls";
        description = ''
          How the service gets the certificate files.

          `null`: through systemd `LoadCredential`: systemd copies them, as root, into the
          service's private credentials directory when it starts, so the files may be
          readable by root only. A renewed certificate is used after the next restart.

          A group name: the service joins this group and reads the files in place; the
          binary notices a renewed certificate on disk and uses it for new connections
          without a restart, so running streams are not cut. The appliance uses this
          with the ACME certificate's group.
        '';
      };
    };

    database = {
      createLocally = lib.mkOption {
        type = lib.types.bool;
        default = true;
        description = ''
          Create a local PostgreSQL database and role `relevo`, reached over the Unix socket
          with peer authentication (the service runs as user `relevo`).
        '';
      };

      url = lib.mkOption {
        type = lib.types.nullOr lib.types.str;
        default = if cfg.database.createLocally then "postgresql:///relevo?host=/run/postgresql" else null;
        defaultText = lib.literalExpression ''
          if config.services.relevo.database.createLocally
          then "postgresql:///relevo?host=/run/postgresql" else null
        '';
        description = ''
          Passed as `RELEVO_DATABASE_URL`. A password, if any, belongs in `environmentFile`,
          not here. With `null` the binary runs its own private cluster under its state
          directory (DESIGN.md §3).
        '';
      };
    };

    recording = {
      directory = lib.mkOption {
        type = lib.types.str;
        default = "${stateDir}/recordings";
        description = ''
          Where record outputs write their files (`[recording] dir`), one folder per input
          and output. It must lie inside the service's state directory, the only place the
          sandboxed service may write; to record on a disk of its own, mount it there (the
          appliance's `relevo.appliance.recordingDisk` does). Recordings are files, never part
          of the database dumps.
        '';
      };

      minFreePercent = lib.mkOption {
        type = lib.types.ints.between 0 50;
        default = 5;
        description = ''
          Free space, in percent of the recordings' filesystem, that no recording uses: at
          the floor recordings stop with the state "disk full" (live outputs go on) and
          resume by themselves when space returns. The floor is the smaller of this and
          `minFreeGiB`, as journald's `SystemKeepFree`.
        '';
      };

      minFreeGiB = lib.mkOption {
        type = lib.types.ints.unsigned;
        default = 2;
        description = "Free space in GiB that no recording uses (see `minFreePercent`).";
      };
    };

    hls.allowedOrigins = lib.mkOption {
      type = lib.types.listOf lib.types.str;
      default = [ "*" ];
      example = [ "https://www.example.com" ];
      description = ''
        Web origins whose pages may read the HLS outputs with their own player
        (`[hls] allowed_origins`, CORS): `*` for any, or `scheme://host[:port]` entries. The
        embeddable player `/play/KEY` is served by the relay itself and needs no entry.
      '';
    };

    history.retentionDays = lib.mkOption {
      type = lib.types.ints.between 1 3650;
      default = 30;
      example = 90;
      description = ''
        Days of flow history kept (`[history] retention_days`): per-minute rows of every
        input and output and their events; older ones are deleted once an hour. About
        31 MiB of PostgreSQL a day for 50 inputs with one output each (see the README).
      '';
    };

    memoryMax = lib.mkOption {
      type = lib.types.str;
      default = "75%";
      example = "4G";
      description = ''
        systemd `MemoryMax` of the relay: past it the kernel stops the relay (and systemd
        restarts it) rather than starving PostgreSQL, the journal or sshd. A percentage is of
        the machine's memory. Each SRT output or reader costs about 2 MB (libsrt's buffers),
        each RTMP one about 25 kB plus its queue.
      '';
    };

    environmentFile = lib.mkOption {
      type = lib.types.nullOr lib.types.str;
      default = null;
      example = "/run/keys/relevo.env";
      description = "File of `RELEVO_*` overrides, read by systemd (for secrets; not in the store).";
    };
  };

  config = lib.mkIf cfg.enable {
    # An input declared here with its own SRT port that the firewall keeps closed.
    warnings = lib.optional (cfg.openFirewall && closedOwnPorts != [ ]) (
      "relevo: the own SRT ports ${lib.concatMapStringsSep ", " toString closedOwnPorts} of "
      + "inputs in settings.input are not in services.relevo.srt.inputPorts: the firewall keeps them closed."
    );

    assertions = [
      {
        assertion = (cfg.tls.certificateFile == null) == (cfg.tls.keyFile == null);
        message = "relevo: set both services.relevo.tls.certificateFile and tls.keyFile, or neither.";
      }
      {
        assertion =
          !(isStorePath (toString cfg.tls.keyFile)) && !(isStorePath (toString cfg.tls.certificateFile));
        message = "relevo: the RTMPS key must not be in the Nix store; give a path on the machine as a string.";
      }
      {
        assertion = !(lib.elem cfg.srtPort cfg.srt.inputPorts);
        message = "relevo: services.relevo.srt.inputPorts must not list srtPort (${toString cfg.srtPort}), the shared SRT port.";
      }
      {
        assertion = !(cfg.settings ? listen);
        message = "relevo: set listeners with services.relevo.{listenAddress,srtPort,rtmpPort,rtmpsPort,httpAddress,httpPort}, not settings.listen.";
      }
      {
        assertion = !(cfg.settings ? tls && (cfg.settings.tls ? certificate || cfg.settings.tls ? key));
        message = "relevo: give the RTMPS certificate with services.relevo.tls.certificateFile/keyFile, not settings.tls.";
      }
      {
        assertion = cfg.settings ? tls -> tlsEnabled;
        message = "relevo: settings.tls.extra_roots needs services.relevo.tls.certificateFile/keyFile (the binary wants a complete [tls] section).";
      }
      {
        assertion = lib.hasPrefix "${stateDir}/" cfg.recording.directory;
        message = "relevo: services.relevo.recording.directory must lie inside ${stateDir}/ (the service may write nowhere else); mount a recordings disk there.";
      }
      {
        assertion = cfg.database.createLocally -> config.services.postgresql.enable;
        message = "relevo: database.createLocally needs services.postgresql.enable (set by this module; was it forced off?).";
      }
    ];

    environment.etc."relevo/relevo.toml".source = configFile;

    networking.firewall = lib.mkIf cfg.openFirewall {
      allowedTCPPorts = [ cfg.rtmpPort ] ++ lib.optional tlsEnabled cfg.rtmpsPort;
      allowedUDPPorts = [ cfg.srtPort ] ++ cfg.srt.inputPorts;
    };

    # The control plane's database: users, flows from the panel/API, settings, audit log.
    # `relevo serve` applies its migrations at start.
    services.postgresql = lib.mkIf cfg.database.createLocally {
      enable = true;
      # Errors without DETAIL (a unique or CHECK violation's DETAIL quotes the row: stream
      # keys, passphrases) and without the failing statement: the journal is no place for
      # secrets. Reason for mkDefault: a database shared with other services may want more.
      settings = {
        log_error_verbosity = lib.mkDefault "terse";
        log_min_error_statement = lib.mkDefault "panic";
        # Sized for one small dedicated box, as the embedded cluster
        # (relevo_control::embedded_pg::SMALL_APPLIANCE, issue #19, `bench/memory.sh`): the
        # control plane's transactions are small; no parallel query or logical replication
        # (two cores, small tables); nobody replicates (the backups are pg_dump). `jit` is
        # already off here (nixpkgs, without enableJIT). shared_buffers stays at 128MB: the
        # flow history's reads need it.
        wal_buffers = lib.mkDefault "1MB";
        huge_pages = lib.mkDefault "off";
        max_worker_processes = lib.mkDefault 0;
        max_wal_senders = lib.mkDefault 0;
        max_replication_slots = lib.mkDefault 0;
      };
      ensureDatabases = [ "relevo" ];
      ensureUsers = [
        {
          name = "relevo";
          ensureDBOwnership = true;
        }
      ];
    };

    systemd.services.relevo = {
      description = "Relevo SRT/RTMP relay";
      wantedBy = [ "multi-user.target" ];
      wants = [ "network-online.target" ] ++ lib.optional cfg.database.createLocally "postgresql.target";
      after = [ "network-online.target" ] ++ lib.optional cfg.database.createLocally "postgresql.target";

      # Flows (the `input` list) are applied by SIGHUP without touching running streams;
      # listeners and certificate paths are read at start only, so they restart.
      reloadTriggers = [ configFile ];
      restartTriggers = [
        (builtins.toJSON {
          inherit listen tls;
          inherit (cfg) environmentFile;
        })
      ];

      environment = lib.optionalAttrs (cfg.database.url != null) {
        RELEVO_DATABASE_URL = cfg.database.url;
      };

      serviceConfig = {
        ExecStart = "${lib.getExe cfg.package} serve --config /etc/relevo/relevo.toml";
        ExecReload = "${pkgs.coreutils}/bin/kill -HUP $MAINPID";
        Restart = "on-failure";
        RestartSec = "2s";
        # Outputs and readers are unlimited: one descriptor each, plus listeners.
        LimitNOFILE = 65536;
        # A runaway (a leak, a flood the relay's own limits missed) must not take the
        # database, the journal and sshd with it: a memory cap, a thread cap (tokio's
        # workers and blocking pool, libsrt's few threads per UDP port stay far below it),
        # and the OOM killer's first choice.
        MemoryMax = cfg.memoryMax;
        TasksMax = 4096;
        OOMScoreAdjust = 500;

        # A dynamic user named `relevo`, so PostgreSQL peer authentication maps it to the
        # role `relevo`.
        DynamicUser = true;
        User = "relevo";
        Group = "relevo";
        SupplementaryGroups = lib.optional (cfg.tls.group != null) cfg.tls.group;
        StateDirectory = "relevo";
        StateDirectoryMode = "0700";
        WorkingDirectory = "/var/lib/relevo";
        EnvironmentFile = lib.optional (cfg.environmentFile != null) cfg.environmentFile;
        LoadCredential = lib.optionals tlsViaCredentials [
          "rtmps-certificate:${cfg.tls.certificateFile}"
          "rtmps-key:${cfg.tls.keyFile}"
        ];

        # Hardening; checked by `systemd-analyze security` in vm-tests/security.nix.
        # Every port is ≥ 1024 by default, so no capability at all.
        CapabilityBoundingSet = [ "" ];
        NoNewPrivileges = true;
        UMask = "0077";
        ProtectSystem = "strict";
        ProtectHome = true;
        PrivateTmp = true;
        PrivateDevices = true;
        DevicePolicy = "closed";
        # No PrivateUsers: it would hide the certificate group (tls.group) from the service.
        ProtectHostname = true;
        ProtectClock = true;
        ProtectKernelTunables = true;
        ProtectKernelModules = true;
        ProtectKernelLogs = true;
        ProtectControlGroups = true;
        ProtectProc = "invisible";
        ProcSubset = "pid";
        RestrictAddressFamilies = [
          "AF_INET"
          "AF_INET6"
          "AF_UNIX"
        ];
        RestrictNamespaces = true;
        RestrictRealtime = true;
        RestrictSUIDSGID = true;
        RemoveIPC = true;
        LockPersonality = true;
        MemoryDenyWriteExecute = true;
        SystemCallArchitectures = "native";
        SystemCallFilter = [
          "@system-service"
          "~@privileged"
          "~@resources"
        ];
        # A filtered call fails with EPERM instead of killing a relay that carries live streams.
        SystemCallErrorNumber = "EPERM";
      };
    };
  };
}
