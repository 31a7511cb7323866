//! Recording outputs: the input written to files on this machine (issue #15).
pub mod disk;
pub mod files;
pub mod retention;
