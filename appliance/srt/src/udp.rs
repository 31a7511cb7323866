//! The UDP socket under a listener: bound by us as libsrt would bind it, watched by tokio
//! while the listener is dormant, and lent to libsrt as a duplicate when a caller comes.
//!
//! libsrt 1.5.1 binds its own listening sockets with no `SO_REUSEADDR` and, for IPv6,
//! `IPV6_V6ONLY` from `SRTO_IPV6ONLY` (we ask 0: dual stack); it then sets its buffer sizes
//! and a 100 µs `SO_RCVTIMEO` on them and relies on them being blocking (its receive thread
//! loops on `recvmsg`). So the socket stays blocking here: tokio only watches it for
//! readability and never reads it, and the datagram that woke us stays queued for libsrt.
//! Checked with strace against Debian's libsrt 1.5.1.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};

use libc::c_int;

/// Binds a blocking UDP socket on `addr` (port 0 picks one), dual-stack when IPv6.
pub(crate) fn bind(addr: SocketAddr) -> io::Result<UdpSocket> {
    let domain = if addr.is_ipv6() {
        libc::AF_INET6
    } else {
        libc::AF_INET
    };
    // SAFETY: plain socket(2) call; the result is checked before use.
    let fd = unsafe { libc::socket(domain, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a socket we just created and own; OwnedFd closes it on every error path.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    if addr.is_ipv6() {
        let off: c_int = 0;
        // SAFETY: optval points to a live c_int of the length given, for the call's duration.
        let rc = unsafe {
            libc::setsockopt(
                owned.as_raw_fd(),
                libc::IPPROTO_IPV6,
                libc::IPV6_V6ONLY,
                (&off as *const c_int).cast(),
                std::mem::size_of::<c_int>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    let (raw, len) = crate::addr::to_raw(addr);
    // SAFETY: raw is a valid sockaddr of `len` bytes that outlives the call.
    let rc = unsafe {
        libc::bind(
            owned.as_raw_fd(),
            (&raw as *const libc::sockaddr_storage).cast(),
            len as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(UdpSocket::from(owned))
}

/// A duplicate of `udp`'s descriptor (close-on-exec) for libsrt to own: it closes it when
/// the multiplexer built on it goes. The duplicate shares the socket, so the port and any
/// queued datagram are the same.
pub(crate) fn duplicate_for_libsrt(udp: &UdpSocket) -> io::Result<RawFd> {
    Ok(udp.try_clone()?.into_raw_fd())
}
