# The `relevo` binary, built from the committed Cargo.lock (no vendor hash to keep in sync).
#
# Only what the build reads is in the source, so editing the README or a .nix file does not
# rebuild the crate: the Cargo workspace, the crates under appliance/ (with the panel's
# templates, words and assets, compiled into the binary), migrations/ (embedded by
# sqlx::migrate!) and .sqlx/ (offline query data, so the sandbox needs no database). Flakes
# only see files tracked by git.
#
# `runUnitTests = true` gives the unit-test variant used as a flake check: library and
# binary unit tests only (loopback at most). The integration tests under */tests/ need
# ffmpeg, ffprobe, srt-live-transmit, nginx-rtmp and openssl and run in ./scripts/test, not
# in the Nix sandbox.
{
  lib,
  rustPlatform,
  pkg-config,
  srt,
  openssl,
  runUnitTests ? false,
}:

let
  fs = lib.fileset;
in
rustPlatform.buildRustPackage {
  pname = "relevo";
  version = (lib.importTOML ../Cargo.toml).workspace.package.version;

  src = fs.toSource {
    root = ../.;
    fileset = fs.difference (fs.unions [
      ../Cargo.toml
      ../Cargo.lock
      ../appliance
      (fs.maybeMissing ../migrations)
      (fs.maybeMissing ../.sqlx)
    ]) ./package.nix;
  };

  cargoLock.lockFile = ../Cargo.lock;

  # relevo-srt's build.rs runs `pkg-config --libs srt`.
  nativeBuildInputs = [ pkg-config ];
  # libsrt is built against OpenSSL (AES); listed so pkg-config resolves srt.pc's requirements.
  buildInputs = [
    srt
    openssl
  ];

  # Compile sqlx queries against the committed .sqlx/.
  env.SQLX_OFFLINE = "true";

  # The appliance ships the binary only; relevo-bench is a load tool for bench/.
  cargoBuildFlags = [
    "--package"
    "relevo"
  ];

  doCheck = runUnitTests;
  cargoTestFlags = [
    "--workspace"
    "--lib"
    "--bins"
  ];

  meta = {
    description = "Self-hosted SRT/RTMP relay appliance";
    license = lib.licenses.agpl3Only;
    mainProgram = "relevo";
    platforms = lib.platforms.linux;
  };
}
