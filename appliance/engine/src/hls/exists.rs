//! Whether an HLS key leads anywhere, without starting a session: the control plane's
//! player page (`/play/KEY`) answers 404 for an unknown key or a disabled output before the
//! browser asks for a playlist. Reads the registry only.

use super::HlsReader;

impl crate::Engine {
    /// True when `key` is the key of an enabled `pull_hls` output of an enabled input (live
    /// or not). Same answer as [`crate::Engine::hls`] gives with `NotFound`, cheaper.
    pub fn hls_exists(&self, key: &str) -> bool {
        self.shared().hls_target(HlsReader::Key(key)).is_some()
    }
}
