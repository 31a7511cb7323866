//! Tests of the LL-HLS window: playlist text, scrolling, discontinuities, readiness,
//! lookups, bounds, and parts from the real fMP4 muxer.
