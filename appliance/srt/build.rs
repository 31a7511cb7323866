//! Links the machine's libsrt (Debian `libsrt-openssl-dev`, nixpkgs `srt`), found through pkg-config.
fn main() {
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    let out = std::process::Command::new("pkg-config")
        .args(["--libs", "srt"])
        .output()
        .expect("pkg-config must be installed to find libsrt");
    if !out.status.success() {
        panic!(
            "libsrt not found by pkg-config: install libsrt-openssl-dev (Debian) or srt (nixpkgs)"
        );
    }
    for flag in String::from_utf8_lossy(&out.stdout).split_whitespace() {
        if let Some(dir) = flag.strip_prefix("-L") {
            println!("cargo:rustc-link-search=native={dir}");
        } else if let Some(lib) = flag.strip_prefix("-l") {
            println!("cargo:rustc-link-lib={lib}");
        }
    }
}
