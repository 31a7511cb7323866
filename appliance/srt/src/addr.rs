//! Conversions between `std::net::SocketAddr` and C `sockaddr_in`/`sockaddr_in6`.

use std::mem;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use libc::{c_int, sockaddr, sockaddr_in, sockaddr_in6, sockaddr_storage, AF_INET, AF_INET6};

/// A `sockaddr_storage` holding `addr`, and the length of the meaningful part.
pub(crate) fn to_raw(addr: SocketAddr) -> (sockaddr_storage, c_int) {
    // SAFETY: sockaddr_storage is plain old data for which all-zero bytes are valid.
    let mut storage: sockaddr_storage = unsafe { mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            let sin = sockaddr_in {
                sin_family: AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in.
            unsafe {
                (&mut storage as *mut sockaddr_storage)
                    .cast::<sockaddr_in>()
                    .write(sin)
            };
            mem::size_of::<sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            let sin6 = sockaddr_in6 {
                sin6_family: AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in6.
            unsafe {
                (&mut storage as *mut sockaddr_storage)
                    .cast::<sockaddr_in6>()
                    .write(sin6)
            };
            mem::size_of::<sockaddr_in6>()
        }
    };
    (storage, len as c_int)
}

/// Reads a `sockaddr` written by libsrt; `None` for NULL or a family other than IPv4/IPv6.
///
/// # Safety
/// `p` must be NULL or point to a valid `sockaddr_in` (family AF_INET) or `sockaddr_in6`
/// (family AF_INET6).
pub(crate) unsafe fn from_raw(p: *const sockaddr) -> Option<SocketAddr> {
    if p.is_null() {
        return None;
    }
    // SAFETY: the caller guarantees p points to a sockaddr; the family field is common.
    let family = c_int::from(unsafe { (*p).sa_family });
    match family {
        AF_INET => {
            // SAFETY: family AF_INET means the caller's buffer is a sockaddr_in.
            let sin = unsafe { p.cast::<sockaddr_in>().read_unaligned() };
            let ip = Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
            Some(SocketAddr::V4(SocketAddrV4::new(
                ip,
                u16::from_be(sin.sin_port),
            )))
        }
        AF_INET6 => {
            // SAFETY: family AF_INET6 means the caller's buffer is a sockaddr_in6.
            let sin6 = unsafe { p.cast::<sockaddr_in6>().read_unaligned() };
            let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            Some(SocketAddr::V6(SocketAddrV6::new(
                ip,
                u16::from_be(sin6.sin6_port),
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_v4_and_v6() {
        for a in ["127.0.0.1:8890", "[::1]:9000", "0.0.0.0:0"] {
            let addr: SocketAddr = a.parse().expect("valid literal");
            let (raw, _) = to_raw(addr);
            // SAFETY: `raw` was just written by to_raw as a valid sockaddr_in/in6.
            let back = unsafe { from_raw((&raw as *const sockaddr_storage).cast()) };
            assert_eq!(back, Some(addr));
        }
    }
}
