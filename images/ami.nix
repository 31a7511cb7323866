# The AWS AMI: nixpkgs' EC2 image builder (VHD for `aws ec2 import-snapshot`) and its EC2
# runtime module (ENA/NVMe drivers, serial console, growpart, hostname and SSH key pair from
# the instance metadata, SSH with root keys only).
{ lib, modulesPath, ... }:

{
  imports = [ "${modulesPath}/../maintainers/scripts/ec2/amazon-image.nix" ];

  amazonImage.format = "vpc";
  # nixpkgs fixes the image at 4 GiB unless told otherwise: size it to the closure instead,
  # and let the EC2 module's growpart take the whole EBS volume at first boot.
  virtualisation.diskSize = lib.mkDefault "auto";
  image.baseName = lib.mkForce "relevo-ami";

  # amazon-init would run user-data scripts or turn a Nix expression in user-data into
  # /etc/nixos/configuration.nix and `nixos-rebuild switch` it: the appliance only changes
  # through `nixos-rebuild --flake`, so user-data must not rewrite the system.
  virtualisation.amazon-init.enable = false;

  # A few generations to roll back to from the serial console's boot menu.
  boot.loader.grub.configurationLimit = lib.mkForce 10;
}
