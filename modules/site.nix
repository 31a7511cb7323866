# Per-installation values. Edit them before building the ISO or the AMI, or override them
# from your own flake that imports `nixosModules.appliance` (README.md, «Appliance NixOS»).
{
  networking.hostName = "relevo";

  # The panel's public DNS name: it must point at this machine before ACME can issue the
  # certificate used by nginx (HTTPS) and by Relevo (RTMPS).
  services.relevo.domain = "relevo.example.com";

  relevo.appliance = {
    acmeEmail = "noc@example.com";
    # e.g. [ "ssh-ed25519 AAAA… operador@portatil" ]; the only way into an installed ISO.
    sshAuthorizedKeys = [ ];
  };
}
