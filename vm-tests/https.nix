# HTTPS and RTMPS with a certificate from a local ACME server: pebble, set up the way
# nixpkgs' own ACME tests do (nixos/tests/common/acme/server). The appliance orders a
# certificate for relevo.test over HTTP-01; nginx serves the panel with it and Relevo's RTMPS
# listener switches from the self-signed placeholder to it without a restart.
{
  name = "relevo-https";

  nodes = {
    # The node's name is ours to choose: the server module fixes the CA's domain
    # (`test-support.acme.caDomain`, from its snakeoil certificate), which the appliance
    # resolves through `networking.hosts` below.
    acme =
      { nixpkgs, ... }:
      {
        imports = [ "${nixpkgs}/nixos/tests/common/acme/server" ];
      };

    appliance =
      { config, nodes, ... }:
      {
        imports = [ ./common.nix ];
        relevo.appliance.acmeServer = "https://${nodes.acme.test-support.acme.caDomain}/dir";
        # lego talks HTTPS to pebble, whose certificate comes from this test CA.
        security.pki.certificateFiles = [ nodes.acme.test-support.acme.caCert ];
        # The server module points the acme node at its own resolver (nameserver 127.0.0.1),
        # whose root zone is built from every node's `networking.extraHosts`: this line is
        # how pebble finds relevo.test to validate HTTP-01.
        networking.extraHosts = ''
          ${config.networking.primaryIPAddress} relevo.test
        '';
        networking.hosts.${nodes.acme.networking.primaryIPAddress} = [
          nodes.acme.test-support.acme.caDomain
        ];
        services.relevo.settings.input = [
          {
            name = "studio";
            key = "studio-key";
          }
        ];
      };

    client =
      {
        config,
        lib,
        nodes,
        ...
      }:
      {
        imports = [ ./peer.nix ];
        security.pki.certificateFiles = [ nodes.acme.test-support.acme.caCert ];
        networking.hosts = {
          ${nodes.appliance.networking.primaryIPAddress} = [ "relevo.test" ];
          ${nodes.acme.networking.primaryIPAddress} = [ nodes.acme.test-support.acme.caDomain ];
        };
        relevoTest.ffmpeg.publish-rtmps = "${config.relevoTest.source} -f flv rtmps://relevo.test:1936/live/studio-key";
        # Started by the script once the issued certificate is in place.
        systemd.services.publish-rtmps.wantedBy = lib.mkForce [ ];
      };
  };

  testScript =
    { nodes, ... }:
    ''
      ${builtins.readFile ./helpers.py}

      ca_domain = "${nodes.acme.test-support.acme.caDomain}"
      # Pebble's issuing root, fetched from its management port (as nixpkgs' ACME tests do).
      ca_file = "/tmp/pebble-root.pem"
      s_client = (
          f"openssl s_client -brief -CAfile {ca_file} -verify_return_error"
          " -verify_hostname relevo.test -servername relevo.test -connect relevo.test:1936 < /dev/null"
      )

      acme.start()
      acme.wait_for_unit("pebble.service")
      acme.wait_for_open_port(443)

      appliance.start()
      client.start()
      appliance.wait_for_unit("nginx.service")
      appliance.wait_for_unit("relevo.service")
      appliance.wait_for_open_port(1936)
      pid = main_pid(appliance)

      with subtest("Pebble issues the certificate over HTTP-01"):
          appliance.succeed("systemctl start acme-order-renew-relevo.test.service")
          appliance.wait_until_succeeds(
              "openssl x509 -noout -issuer -in /var/lib/acme/relevo.test/cert.pem | grep -i pebble"
          )
          client.wait_until_succeeds(f"curl -sf https://{ca_domain}:15000/roots/0 > {ca_file}")

      with subtest("The panel answers over HTTPS with the issued certificate"):
          client.wait_until_succeeds(f"curl -sf --cacert {ca_file} https://relevo.test/healthz")
          # The sign-in page, with its stylesheet served by Relevo itself (no CDN).
          client.succeed(f"curl -sf --cacert {ca_file} https://relevo.test/login | grep -q 'type=\"password\"'")
          client.succeed(f"curl -sf --cacert {ca_file} https://relevo.test/assets/panel.css | grep -q -- '--brand'")
          client.succeed(
              "curl -s -o /dev/null -w '%{http_code}' http://relevo.test/healthz | grep -x 301"
          )

      with subtest("RTMPS presents the issued certificate, picked up without a restart"):
          client.wait_until_succeeds(s_client)
          assert main_pid(appliance) == pid, "relevo restarted to change certificate"

      with subtest("RTMPS accepts a publisher"):
          client.succeed("systemctl start publish-rtmps.service")
          wait_metric(appliance, 'relevo_input_state{input="studio",state="live"} 1')
    '';
}
