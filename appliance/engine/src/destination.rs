//! Which addresses a push output or a pull input may connect to. A flow created through the
//! API by a técnico must not reach the appliance's own services or the internal network
//! (its `last_error` would tell what answers where); the control plane marks such flows
//! (`SrtCaller::allow_private`, `RtmpUrl::with_private_allowed`) and the check runs on the
//! addresses a host name resolves to at each connection attempt, so a name that later
//! resolves to an internal address (DNS rebinding) is refused too.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::error::LinkError;

/// Loopback, private (RFC 1918, RFC 4193), link-local (the cloud metadata address
/// 169.254.169.254 included), carrier-grade NAT (RFC 6598), unspecified, and the IPv6
/// forms of these (IPv4-mapped, site-local).
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_private_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_private_v4(v4),
            None => is_private_v6(v6),
        },
    }
}

fn is_private_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        // 100.64.0.0/10, shared address space (RFC 6598).
        || (a == 100 && (64..128).contains(&b))
        // 0.0.0.0/8, "this network" (RFC 1122): Linux connects 0.x to the local host.
        || a == 0
}

fn is_private_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    ip.is_loopback()
        || ip.is_unspecified()
        // fc00::/7, unique local (RFC 4193).
        || (first & 0xfe00) == 0xfc00
        // fe80::/10, link-local.
        || (first & 0xffc0) == 0xfe80
        // fec0::/10, deprecated site-local (RFC 3879), still routed internally somewhere.
        || (first & 0xffc0) == 0xfec0
}

/// Refuses `addr` (what the destination resolved to) when it is private and the flow may
/// not go there.
pub(crate) fn check(addr: IpAddr, allowed: bool) -> Result<(), LinkError> {
    if allowed || !is_private(addr) {
        return Ok(());
    }
    Err(LinkError::PrivateAddress)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_private() {
        for ip in [
            "127.0.0.1",
            "127.255.0.9",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.254",
            "0.0.0.0",
            "0.1.2.3",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fc00::1",
            "fd12:3456::1",
            "fec0::1",
            "::ffff:127.0.0.1",
            "::ffff:10.1.2.3",
            "::ffff:169.254.169.254",
        ] {
            assert!(is_private(ip.parse().expect("an address")), "{ip}");
        }
    }

    #[test]
    fn public_addresses_are_not() {
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "172.32.0.1",
            "172.15.255.255",
            "100.128.0.1",
            "100.63.255.255",
            "192.169.0.1",
            "2001:4860:4860::8888",
            "2a00:1450::1",
            "::ffff:8.8.8.8",
        ] {
            assert!(!is_private(ip.parse().expect("an address")), "{ip}");
        }
    }

    #[test]
    fn the_check_refuses_only_private_addresses_not_allowed() {
        let private: IpAddr = "10.0.0.1".parse().expect("an address");
        let public: IpAddr = "8.8.8.8".parse().expect("an address");
        let Err(e) = check(private, false) else {
            panic!("10.0.0.1 must be refused");
        };
        // The reason, but not the address (see LinkError::PrivateAddress).
        let text = e.to_string();
        assert!(
            text.starts_with("refused: ") && !text.contains("10.0.0.1"),
            "{text}"
        );
        assert!(check(private, true).is_ok());
        assert!(check(public, false).is_ok());
    }
}
