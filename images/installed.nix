# The appliance as the ISO installs it on a physical server or VM disk: UEFI boot with GRUB
# on the ESP's removable path (no NVRAM entry needed), root on ext4. relevo-install
# (images/iso.nix) creates exactly these labels.
{ modulesPath, ... }:

{
  # Unknown hardware: carry the initrd drivers of the installer.
  imports = [ "${modulesPath}/profiles/all-hardware.nix" ];

  fileSystems."/" = {
    device = "/dev/disk/by-label/nixos";
    fsType = "ext4";
  };
  fileSystems."/boot" = {
    device = "/dev/disk/by-label/ESP";
    fsType = "vfat";
    options = [
      "fmask=0077"
      "dmask=0077"
    ];
  };

  boot.loader.grub = {
    enable = true;
    device = "nodev";
    efiSupport = true;
    efiInstallAsRemovable = true;
  };

  hardware.enableRedistributableFirmware = true;

  # `nix run .#vm` (system.build.vm): the same system in QEMU, for a look before installing.
  # ACME cannot reach Let's Encrypt from there, so HTTPS and RTMPS use the self-signed
  # placeholder certificate.
  virtualisation.vmVariant = {
    virtualisation = {
      memorySize = 2048;
      cores = 2;
      forwardPorts = [
        {
          from = "host";
          host.port = 2222;
          guest.port = 22;
        }
        {
          from = "host";
          host.port = 8443;
          guest.port = 443;
        }
        {
          from = "host";
          host.port = 1935;
          guest.port = 1935;
        }
        {
          from = "host";
          proto = "udp";
          host.port = 8890;
          guest.port = 8890;
        }
      ];
    };
    # Console login in the throw-away VM only; never in the installed system.
    users.users.root.password = "relevo";
  };
}
