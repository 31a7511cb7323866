{
  description = "Relevo: self-hosted SRT/RTMP relay appliance (package, NixOS modules, ISO, AMI, VM tests)";

  # One commit of the nixos-25.11 stable branch (2026-05-10). The option names used by
  # modules/ and images/ were checked against this branch's nixpkgs (../shared/NIXOS.md).
  # Updating: replace the commit, run `nix flake update`, then `nix flake check -L`.
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/8fd9daa3db09ced9700431c5b7ad0e8ba199b575";

  outputs =
    { self, nixpkgs }:
    let
      system = "x86_64-linux";
      inherit (nixpkgs) lib;
      pkgs = nixpkgs.legacyPackages.${system};

      relevo = pkgs.callPackage ./appliance/package.nix { };

      # One NixOS VM test per file in vm-tests/; node modules receive `self` (for
      # nixosModules) and `nixpkgs` (for nixpkgs' own ACME test server).
      vmTest =
        file:
        pkgs.testers.runNixOSTest {
          imports = [ file ];
          node.specialArgs = { inherit self nixpkgs; };
        };

      nixos =
        modules:
        lib.nixosSystem {
          modules = [ { nixpkgs.hostPlatform = system; } ] ++ modules;
        };
    in
    {
      packages.${system} = {
        inherit relevo;
        default = relevo;
        # result/iso/relevo-installer.iso
        iso = self.nixosConfigurations.installer.config.system.build.isoImage;
        # result/relevo-ami.vhd and result/nix-support/image-info.json
        ami = self.nixosConfigurations.appliance-ami.config.system.build.amazonImage;
      };

      overlays.default = final: _prev: {
        relevo = final.callPackage ./appliance/package.nix { };
      };

      nixosModules = {
        relevo =
          { lib, pkgs, ... }:
          {
            imports = [ ./modules/relevo.nix ];
            services.relevo.package = lib.mkDefault self.packages.${pkgs.stdenv.hostPlatform.system}.relevo;
          };
        appliance = {
          imports = [
            self.nixosModules.relevo
            ./modules/appliance.nix
          ];
        };
      };

      nixosConfigurations = {
        # The system the ISO installs, and the target of
        # `nixos-rebuild switch --flake .#appliance --target-host root@HOST`.
        appliance = nixos [
          self.nixosModules.appliance
          ./modules/site.nix
          ./images/installed.nix
        ];
        # The same appliance on EC2 (its own boot and disk layout).
        appliance-ami = nixos [
          self.nixosModules.appliance
          ./modules/site.nix
          ./images/ami.nix
        ];
        # The live installer that carries `appliance`.
        installer = lib.nixosSystem {
          specialArgs.appliance = self.nixosConfigurations.appliance;
          modules = [
            { nixpkgs.hostPlatform = system; }
            ./images/iso.nix
          ];
        };
      };

      checks.${system} = {
        package = relevo;
        # Library and binary unit tests; the integration tests need real peers and run in
        # ./scripts/test (see appliance/package.nix).
        unit-tests = relevo.override { runUnitTests = true; };
        appliance = self.nixosConfigurations.appliance.config.system.build.toplevel;
        appliance-ami = self.nixosConfigurations.appliance-ami.config.system.build.toplevel;
        vm-streams = vmTest ./vm-tests/streams.nix;
        vm-https = vmTest ./vm-tests/https.nix;
        vm-security = vmTest ./vm-tests/security.nix;
        vm-update = vmTest ./vm-tests/update.nix;
        vm-backup = vmTest ./vm-tests/backup.nix;
        vm-recording = vmTest ./vm-tests/recording.nix;
        vm-hls = vmTest ./vm-tests/hls.nix;
        vm-redundancy = vmTest ./vm-tests/redundancy.nix;
        vm-srt-port = vmTest ./vm-tests/srt-port.nix;
        vm-alerts = vmTest ./vm-tests/alerts.nix;
      };

      apps.${system} = {
        default = {
          type = "app";
          program = lib.getExe relevo;
          meta.description = "relevo serve / relevo config check";
        };
        # Boot the appliance in a local QEMU VM; ports: ssh 2222, https 8443, rtmp 1935,
        # srt 8890/udp on localhost (images/installed.nix, virtualisation.vmVariant).
        vm = {
          type = "app";
          program = "${self.nixosConfigurations.appliance.config.system.build.vm}/bin/run-relevo-vm";
          meta.description = "The Relevo appliance in a local QEMU VM";
        };
      };

      devShells.${system}.default = pkgs.mkShell {
        packages = [
          pkgs.cargo
          pkgs.rustc
          pkgs.clippy
          pkgs.rustfmt
          pkgs.pkg-config
          pkgs.srt # libsrt and srt-live-transmit
          pkgs.openssl
          pkgs.ffmpeg-headless # ffmpeg/ffprobe with libsrt
          (pkgs.nginx.override { modules = [ pkgs.nginxModules.rtmp ]; })
          pkgs.postgresql_17
          pkgs.deadnix
        ];
      };
    };
}
