//! Handing the memory libsrt freed back to the system.
//!
//! Every connection that gets past the listen callback (an accepted caller, or one that
//! libsrt refuses later in the handshake: wrong passphrase) gets its buffers and loss lists
//! (sized by `SRTO_FC` and `SRTO_RCVBUF`: about a megabyte each with the defaults), allocated
//! on libsrt's threads.
//! When such sockets are closed glibc keeps the freed memory in those threads' arenas:
//! measured with libsrt 1.5.1, four srt-live-transmit callers with a weaker key retrying
//! for 5 s left a `relevo serve` at 274 MB resident (from 32 MB) ten seconds later, and
//! `malloc_trim(0)` brought it back to 35 MB. Limiting arenas (`MALLOC_ARENA_MAX=1` or `2`)
//! did not help (372 / 409 MB at the peak): the memory is free, just not returned.

/// Returns memory freed since the last call to the system (`malloc_trim(0)`: every glibc
/// arena gives back its free pages). Costs a walk over the heap, a few milliseconds: call it
/// after a burst of connections, not per connection. `true` if memory was returned; always
/// `false` where the allocator is not glibc's.
pub fn release_free_memory() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim only touches glibc's own allocator state, under its locks; it
        // may be called from any thread at any time.
        unsafe { libc::malloc_trim(0) != 0 }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}
