# The Relevo appliance profile: services.relevo plus everything a dedicated relay box needs —
# PostgreSQL, nginx with an ACME certificate in front of the panel, the same certificate for
# RTMPS, backups, kernel tuning for SRT, SSH by key only and as little mutable state as
# `nixos-rebuild` updates allow. Hardware and boot live in images/ (installed.nix, ami.nix);
# the per-installation values (domain, e-mail, SSH keys) in modules/site.nix.
#
# Most values are `mkDefault`, each with its reason, so a site can override them.
#
# First boot, admin account: no account and no default password exist. Relevo logs a
# one-time link (`https://DOMAIN/setup#token=…`, 24 h) that creates the first admin in the
# panel: `journalctl -u relevo | grep setup#token` over SSH (key from
# `relevo.appliance.sshAuthorizedKeys`, or the EC2 key pair on the AMI). Flows can also be
# declared as code through `services.relevo.settings.input`.
{
  config,
  lib,
  pkgs,
  ...
}:

let
  cfg = config.relevo.appliance;
  relevo = config.services.relevo;
  # A placeholder only so that evaluation reaches the assertion below with a clear message.
  domain = if relevo.domain != null then relevo.domain else "domain-not-set.invalid";
  certDir = config.security.acme.certs.${domain}.directory;
  # Group that may read the ACME certificate: nginx (panel) and relevo (RTMPS).
  tlsGroup = "relevo-tls";
  # The service has DynamicUser: its state directory is /var/lib/private/relevo behind the
  # /var/lib/relevo symlink, and a mount goes on the real path.
  recordingMount = "/var/lib/private/" + lib.removePrefix "/var/lib/" relevo.recording.directory;
in
{
  options.relevo.appliance = {
    acmeEmail = lib.mkOption {
      type = lib.types.str;
      example = "noc@example.com";
      description = "Contact address given to the ACME server (expiry notices).";
    };

    acmeServer = lib.mkOption {
      type = lib.types.str;
      default = "https://acme-v02.api.letsencrypt.org/directory";
      example = "https://acme-staging-v02.api.letsencrypt.org/directory";
      description = "ACME directory URL: Let's Encrypt by default, any ACME CA works.";
    };

    postgresqlPackage = lib.mkOption {
      type = lib.types.package;
      default = pkgs.postgresql_17;
      defaultText = lib.literalExpression "pkgs.postgresql_17";
      description = ''
        PostgreSQL, pinned to one major version: a major upgrade needs a dump and restore
        (or pg_upgrade) and must never happen as a side effect of a nixpkgs update.
      '';
    };

    sshAuthorizedKeys = lib.mkOption {
      type = lib.types.listOf lib.types.str;
      default = [ ];
      description = ''
        Public keys allowed to log in as root over SSH (the only way in: no passwords).
        On EC2 the instance's key pair is added at first boot as well.
      '';
    };

    metricsAllowFrom = lib.mkOption {
      type = lib.types.listOf lib.types.str;
      default = [ ];
      example = [ "10.0.0.0/8" ];
      description = ''
        Networks allowed to read `/metrics` through nginx (HTTPS). Everyone else gets 403;
        on the box itself it is always at http://127.0.0.1:''${httpPort}/metrics.
      '';
    };

    backup = {
      enable = lib.mkOption {
        type = lib.types.bool;
        default = true;
        description = "Dump the `relevo` database on a timer (services.postgresqlBackup).";
      };

      startAt = lib.mkOption {
        type = lib.types.str;
        default = "*-*-* 03:15:00";
        description = "When to dump (systemd.time(7)).";
      };

      keep = lib.mkOption {
        type = lib.types.ints.positive;
        default = 14;
        description = ''
          How many dated dumps to keep in `<location>/history/` besides the latest
          (`relevo.sql.gz`) and the previous one (`relevo.prev.sql.gz`).
        '';
      };
    };

    # `relevo config export`: the flows and settings kept in the database as one JSON file that
    # `relevo config import` restores on a fresh appliance (independent of PostgreSQL's version).
    configExport = {
      enable = lib.mkOption {
        type = lib.types.bool;
        default = true;
        description = ''
          Write Relevo's configuration export on a timer, next to the database dump: one
          dated JSON file per run (mode 0600: it holds stream keys and passphrases) in
          `/var/lib/relevo-export/`.
        '';
      };

      startAt = lib.mkOption {
        type = lib.types.str;
        default = "*-*-* 03:20:00";
        description = "When to export (systemd.time(7)).";
      };

      keep = lib.mkOption {
        type = lib.types.ints.positive;
        default = 14;
        description = "How many dated exports to keep.";
      };
    };

    recordingDisk = {
      label = lib.mkOption {
        type = lib.types.nullOr lib.types.str;
        default = null;
        example = "relevo-rec";
        description = ''
          Filesystem label of a disk or partition of its own for recordings, mounted at
          `services.relevo.recording.directory`. A full recordings disk then never touches
          the system, PostgreSQL or the journal. The relay does not wait for it: if it is
          missing at boot, live streams go on and recordings land on the system disk, still
          held back by the free-space floor.
        '';
      };

      fsType = lib.mkOption {
        type = lib.types.str;
        default = "ext4";
        description = "Filesystem type of the recordings disk.";
      };
    };

    immutableEtc = lib.mkOption {
      type = lib.types.bool;
      default = false;
      description = ''
        Mount /etc as a read-only overlay (system.etc.overlay, still experimental in
        nixpkgs; needs the systemd initrd and userborn). Off until it has been proven on
        the ISO and AMI targets.
      '';
    };
  };

  config = lib.mkMerge [
    {
      assertions = [
        {
          assertion = relevo.domain != null;
          message = "relevo: the appliance needs services.relevo.domain (the panel's DNS name, used for ACME).";
        }
        {
          assertion = cfg.configExport.enable -> relevo.database.url != null;
          message = "relevo: relevo.appliance.configExport needs a database URL (services.relevo.database).";
        }
      ];

      warnings = lib.optional (cfg.sshAuthorizedKeys == [ ]) (
        "relevo: relevo.appliance.sshAuthorizedKeys is empty: only an EC2 key pair (AMI) can log in; "
        + "an installed ISO would have no way in."
      );

      # Reason: a relay is reached from anywhere; nothing else listens outside loopback.
      services.relevo = {
        enable = true;
        openFirewall = true;
        tls = {
          certificateFile = "${certDir}/fullchain.pem";
          keyFile = "${certDir}/key.pem";
          # Read in place: a renewed certificate is used without restarting live streams.
          group = tlsGroup;
        };
      };

      systemd.services.relevo = {
        # acme-<domain>.service puts a self-signed placeholder in place before the first
        # order, so RTMPS starts at once; the binary switches to the real one by itself.
        wants = [ "acme-${domain}.service" ];
        after = [ "acme-${domain}.service" ];
      };

      # PostgreSQL pinned; the relevo module creates the database and the peer-auth role.
      services.postgresql.package = cfg.postgresqlPackage;

      # ACME: HTTP-01 through nginx's webroot; the certificate's group lets relevo read it.
      security.acme = {
        # Reason: a certificate is the point of the appliance; the operator accepts the CA's
        # terms by choosing acmeServer and giving acmeEmail.
        acceptTerms = true;
        defaults = {
          email = cfg.acmeEmail;
          server = cfg.acmeServer;
        };
        certs.${domain}.group = tlsGroup;
      };
      users.groups.${tlsGroup}.members = [ "nginx" ];

      # nginx on loopback is the relay's only proxy: its X-Forwarded-* headers are believed.
      services.relevo.trustedProxies = [
        "127.0.0.1"
        "::1"
      ];

      services.nginx = {
        enable = true;
        # Relevo exempts its proxy from its per-address connection cap, so nginx caps each
        # client (the same 64 as Relevo's own default) and drops slow request heads sooner
        # than its 60 s default.
        commonHttpConfig = ''
          limit_conn_zone $binary_remote_addr zone=relevo_per_address:10m;
          client_header_timeout 10s;
        '';
        recommendedProxySettings = true;
        recommendedTlsSettings = true;
        recommendedOptimisation = true;
        recommendedGzipSettings = true;
        virtualHosts.${domain} = {
          enableACME = true;
          forceSSL = true;
          # Browsers remember to use HTTPS only (no subdomains: the customer's other hosts
          # are not ours to commit). `always`: also on error answers.
          extraConfig = ''
            add_header Strict-Transport-Security "max-age=31536000" always;
            limit_conn relevo_per_address 64;
          '';
          locations = {
            "/" = {
              proxyPass = "http://127.0.0.1:${toString relevo.httpPort}";
              # The panel's live numbers come over /api/v1/events (WebSocket).
              proxyWebsockets = true;
            };
            # HLS players and CDNs (origin = this appliance): Relevo's Cache-Control, ETag
            # and CORS headers pass through untouched. No buffering: the answer to a blocking
            # playlist reload goes out the moment Relevo has it (LL-HLS latency). No access
            # log: an LL-HLS player makes several requests a second (the log would grow
            # with the audience), and each URL names the output's key.
            "/hls/" = {
              proxyPass = "http://127.0.0.1:${toString relevo.httpPort}";
              extraConfig = ''
                proxy_buffering off;
                access_log off;
              '';
            };
            # The embeddable player: framed by customers' sites, so nginx adds no frame
            # header of its own (Relevo sets frame-ancestors for this page only). Its URL
            # names the key too: not logged.
            "/play/" = {
              proxyPass = "http://127.0.0.1:${toString relevo.httpPort}";
              extraConfig = ''
                access_log off;
              '';
            };
            # Prometheus scrapes with a Visor API token; still only from the allowed networks.
            "= /metrics" = {
              proxyPass = "http://127.0.0.1:${toString relevo.httpPort}";
              extraConfig = lib.concatMapStrings (net: "allow ${net};\n") cfg.metricsAllowFrom + ''
                deny all;
              '';
            };
          };
        };
      };

      # 80 answers ACME challenges and redirects to 443; SSH opens its own port.
      networking.firewall = {
        enable = true;
        allowedTCPPorts = [
          80
          443
        ];
      };

      # SRT keeps its buffers in the socket: raise the caps so libsrt gets the receive and
      # send buffers it asks for at high bitrates instead of dropping packets.
      boot.kernel.sysctl = {
        "net.core.rmem_max" = lib.mkDefault 33554432;
        "net.core.wmem_max" = lib.mkDefault 33554432;
        "net.core.rmem_default" = lib.mkDefault 1048576;
        "net.core.wmem_default" = lib.mkDefault 1048576;
        "net.core.netdev_max_backlog" = lib.mkDefault 5000;
      };

      # SSH by key only.
      services.openssh = {
        enable = true;
        settings = {
          PasswordAuthentication = false;
          KbdInteractiveAuthentication = false;
          PermitRootLogin = "prohibit-password";
        };
      };
      users.users.root.openssh.authorizedKeys.keys = cfg.sshAuthorizedKeys;

      # Immutability, as far as `nixos-rebuild switch` allows: users come from this
      # configuration only; the store is a read-only mount by default
      # (boot.nixStoreMountOpts); every change is a new generation, and the boot menu keeps
      # a few to roll back to.
      users.mutableUsers = false;
      # Reason: the root key may come from the EC2 key pair, outside Nix; see the warning.
      users.allowNoPasswordLogin = lib.mkDefault true;
      boot.loader.grub.configurationLimit = lib.mkDefault 10;
      boot.loader.systemd-boot.configurationLimit = lib.mkDefault 10;
      boot.tmp.cleanOnBoot = lib.mkDefault true;
      # Reason: a headless box; nobody is at the console to use the emergency shell.
      systemd.enableEmergencyMode = lib.mkDefault false;
      # Reason: smaller closure, faster updates.
      documentation.enable = lib.mkDefault false;
      time.timeZone = lib.mkDefault "UTC";

      # Nix stays: `nixos-rebuild --target-host` copies closures into it.
      nix = {
        channel.enable = false;
        settings = {
          experimental-features = [
            "nix-command"
            "flakes"
          ];
          trusted-users = [ "root" ];
        };
        gc = {
          automatic = true;
          dates = "weekly";
          options = "--delete-older-than 30d";
        };
        optimise.automatic = true;
      };

      environment.systemPackages = [ relevo.package ];

      system.stateVersion = lib.mkDefault "25.11";
    }

    (lib.mkIf cfg.backup.enable {
      services.postgresqlBackup = {
        enable = true;
        databases = [ "relevo" ];
        inherit (cfg.backup) startAt;
        compression = "gzip";
      };
      # Retention: keep dated copies of the dump beside the rolling latest/previous pair.
      systemd.services.postgresqlBackup-relevo.serviceConfig = {
        UMask = "0077";
        ExecStartPost = lib.getExe (
          pkgs.writeShellApplication {
            name = "relevo-backup-history";
            runtimeInputs = [
              pkgs.coreutils
              pkgs.findutils
            ];
            text = ''
              location=${lib.escapeShellArg config.services.postgresqlBackup.location}
              mkdir -p "$location/history"
              cp --reflink=auto "$location/relevo.sql.gz" \
                "$location/history/relevo-$(date -u +%Y%m%dT%H%M%S.%NZ).sql.gz"
              # Newest first; drop everything after the first ${toString cfg.backup.keep}.
              find "$location/history" -maxdepth 1 -name 'relevo-*.sql.gz' -printf '%f\n' \
                | sort -r | tail -n +${toString (cfg.backup.keep + 1)} \
                | while read -r old; do rm -f -- "$location/history/$old"; done
            '';
          }
        );
      };
    })

    (lib.mkIf cfg.configExport.enable {
      # Runs as the service's own user name, so PostgreSQL's peer authentication lets it in
      # exactly as it lets `relevo serve` in; the files belong to that user and nobody else.
      systemd.services.relevo-config-export = {
        description = "Relevo configuration export (flows and settings)";
        inherit (cfg.configExport) startAt;
        wants = [ "postgresql.target" ];
        after = [
          "postgresql.target"
          "relevo.service"
        ];
        environment.RELEVO_DATABASE_URL = relevo.database.url;
        path = [
          relevo.package
          pkgs.coreutils
          pkgs.findutils
        ];
        script = ''
          relevo config export -o "$STATE_DIRECTORY/relevo-config-$(date -u +%Y%m%dT%H%M%SZ).json"
          # Newest first; drop everything after the first ${toString cfg.configExport.keep}.
          find "$STATE_DIRECTORY" -maxdepth 1 -name 'relevo-config-*.json' -printf '%f\n' \
            | sort -r | tail -n +${toString (cfg.configExport.keep + 1)} \
            | while read -r old; do rm -f -- "$STATE_DIRECTORY/$old"; done
        '';
        serviceConfig = {
          Type = "oneshot";
          DynamicUser = true;
          User = "relevo";
          Group = "relevo";
          StateDirectory = "relevo-export";
          StateDirectoryMode = "0700";
          UMask = "0077";
          NoNewPrivileges = true;
          ProtectSystem = "strict";
          ProtectHome = true;
          PrivateTmp = true;
          PrivateDevices = true;
          RestrictAddressFamilies = [ "AF_UNIX" ];
        };
      };
    })

    (lib.mkIf (cfg.recordingDisk.label != null) {
      fileSystems.${recordingMount} = {
        device = "/dev/disk/by-label/${cfg.recordingDisk.label}";
        inherit (cfg.recordingDisk) fsType;
        # Reason: a missing recordings disk must not stop the boot or the live relay.
        options = [
          "nofail"
          "x-systemd.device-timeout=10s"
          "nodev"
          "nosuid"
          "noexec"
        ];
      };
      systemd.services.relevo = {
        unitConfig.WantsMountsFor = [ recordingMount ];
        # The disk's root belongs to root; `+` runs this as root once the dynamic user
        # exists, so the service may write there.
        serviceConfig.ExecStartPre = [
          "+${pkgs.coreutils}/bin/install -d -m 0750 -o relevo -g relevo ${recordingMount}"
        ];
      };
    })

    (lib.mkIf cfg.immutableEtc {
      boot.initrd.systemd.enable = true;
      services.userborn.enable = true;
      system.etc.overlay = {
        enable = true;
        mutable = false;
      };
    })
  ];
}
