//! Who counts as one source for the per-source caps (connections, AppWebsocket logins).

use std::net::IpAddr;

/// Whose share of a per-source cap a client takes: an IPv4 address, or the /64 of an
/// IPv6 one (one network gets a /64 and can use every address in it, RFC 6177). IPv4-mapped
/// IPv6 addresses count as their IPv4 address.
pub fn source_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}
