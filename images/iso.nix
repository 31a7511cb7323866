# Installable ISO. It boots a minimal NixOS live system that carries the whole appliance
# closure (nixosConfigurations.appliance) in its store; `relevo-install /dev/DISK`
# partitions the disk and runs `nixos-install --system` on that closure. Nothing is
# downloaded or evaluated on the target, so it installs without network.
{
  lib,
  pkgs,
  modulesPath,
  appliance,
  ...
}:

let
  system = appliance.config.system.build.toplevel;

  relevo-install = pkgs.writeShellApplication {
    name = "relevo-install";
    # nixos-install comes from the installer's own PATH.
    runtimeInputs = [
      pkgs.coreutils
      pkgs.util-linux
      pkgs.parted
      pkgs.dosfstools
      pkgs.e2fsprogs
      pkgs.systemd
    ];
    text = ''
      disk="''${1:-}"
      if [ -z "$disk" ] || [ ! -b "$disk" ]; then
        echo "uso: relevo-install /dev/DISCO   (UEFI; se borra el disco entero)" >&2
        lsblk --nodeps --output NAME,SIZE,MODEL,TYPE >&2
        exit 1
      fi
      echo "Se BORRARÁ todo el contenido de $disk y se instalará el appliance Relevo."
      read -r -p "Escriba BORRAR para continuar: " answer
      if [ "$answer" != BORRAR ]; then
        echo "Cancelado." >&2
        exit 1
      fi

      case "$disk" in
        *[0-9]) part="''${disk}p" ;; # /dev/nvme0n1p1, /dev/mmcblk0p1
        *) part="$disk" ;;           # /dev/sda1, /dev/vda1
      esac

      wipefs --all --force "$disk"
      parted --script "$disk" -- \
        mklabel gpt \
        mkpart ESP fat32 1MiB 1GiB \
        set 1 esp on \
        mkpart nixos ext4 1GiB 100%
      udevadm settle
      mkfs.fat -F 32 -n ESP "''${part}1"
      mkfs.ext4 -F -L nixos "''${part}2"
      udevadm settle

      mount "''${part}2" /mnt
      mkdir -p /mnt/boot
      mount -o umask=077 "''${part}1" /mnt/boot

      nixos-install --root /mnt --system ${system} --no-root-passwd --no-channel-copy

      umount -R /mnt
      echo "Relevo instalado en $disk. Retire el medio de instalación y ejecute: reboot"
    '';
  };
in
{
  imports = [ "${modulesPath}/installer/cd-dvd/installation-cd-minimal.nix" ];

  # The appliance's closure goes into the ISO's squashfs store.
  isoImage.storeContents = [ system ];
  image.baseName = lib.mkForce "relevo-installer";

  environment.systemPackages = [ relevo-install ];
  services.getty.helpLine = ''

    Instalar Relevo en un disco (se borra entero):  sudo relevo-install /dev/sdX
    Discos disponibles:                              lsblk
  '';

  networking.hostName = "relevo-installer";
  system.stateVersion = "25.11";
}
