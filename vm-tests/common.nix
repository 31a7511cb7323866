# The appliance node of the VM tests: the real appliance profile, with the test domain
# `relevo.test` and test-only tools. Most tests have no ACME server: the order then fails
# at once and nginx and RTMPS keep the self-signed placeholder certificate (https.nix runs
# pebble and overrides acmeServer).
{
  self,
  lib,
  pkgs,
  ...
}:

{
  imports = [ self.nixosModules.appliance ];

  services.relevo.domain = "relevo.test";
  relevo.appliance = {
    acmeEmail = "hostmaster@relevo.test";
    acmeServer = lib.mkDefault "https://127.0.0.1:1/directory";
  };

  environment.systemPackages = [
    pkgs.curl
    pkgs.openssl
  ];

  virtualisation = {
    memorySize = 2048;
    cores = 2;
  };
}
