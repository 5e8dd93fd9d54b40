//! The outbound network policy: which IP addresses a webhook may reach, and the operator's allow-list.
//!
//! Webhook URLs are written by tenants, so without this a tenant could make the host call its own
//! loopback services, the private network or the cloud metadata endpoint (SSRF). Public addresses
//! are allowed; everything else is refused unless the operator opened it explicitly.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// A malformed allow-list entry: refused at start-up rather than silently ignored, since a
/// typo would otherwise leave a range closed (or, worse, look open when it is not).
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("allow-list entry {entry:?} is neither an IP address, a CIDR nor a host name")]
    InvalidEntry { entry: String },
    #[error("allow-list entry {entry:?} looks like a CIDR but does not parse")]
    InvalidCidr {
        entry: String,
        #[source]
        cause: ipnet::AddrParseError,
    },
}

/// What outbound calls may reach: every public address, plus the operator's allow-list.
#[derive(Debug, Clone, Default)]
pub struct NetworkPolicy {
    networks: Vec<IpNet>,
    /// Lower-case, without a trailing dot.
    hosts: Vec<String>,
}

impl NetworkPolicy {
    /// Parses `FALLBACK_ALLOW_NETWORKS`-style entries: CIDRs (`127.0.0.0/8`), bare IPs (a /32 or
    /// /128) or host names (exact, case-insensitive; such a host is allowed whatever it resolves
    /// to, which is what an operator means by "let webhooks call `localhost`"). Blank entries are
    /// skipped so `"a,,b"` and a trailing comma are harmless.
    pub fn from_allow_list(entries: &[String]) -> Result<Self, PolicyError> {
        let mut policy = Self::default();
        for raw in entries {
            let entry = raw.trim();
            if entry.is_empty() {
                continue;
            }
            if let Ok(ip) = entry.parse::<IpAddr>() {
                policy.networks.push(IpNet::from(ip));
            } else if entry.contains('/') {
                let net = entry
                    .parse::<IpNet>()
                    .map_err(|cause| PolicyError::InvalidCidr { entry: entry.to_owned(), cause })?;
                policy.networks.push(net.trunc());
            } else if is_host_name(entry) {
                policy.hosts.push(canonical_host(entry));
            } else {
                return Err(PolicyError::InvalidEntry { entry: entry.to_owned() });
            }
        }
        Ok(policy)
    }

    /// True when `host` (as written in a URL) is an allow-listed host name.
    pub fn allows_host(&self, host: &str) -> bool {
        let host = canonical_host(host);
        self.hosts.contains(&host)
    }

    /// True when the policy lets a call connect to `ip`. IPv4-mapped IPv6 addresses are also
    /// checked in their IPv4 form so `127.0.0.0/8` covers `::ffff:127.0.0.1` too.
    pub fn allows_ip(&self, ip: IpAddr) -> bool {
        if !is_forbidden(ip) {
            return true;
        }
        let canonical = ip.to_canonical();
        self.networks.iter().any(|net| net.contains(&ip) || net.contains(&canonical))
    }
}

fn canonical_host(host: &str) -> String {
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// Letters, digits, `-`, `_` and dots between labels: anything else (spaces, `:`, `@`) is a typo.
fn is_host_name(entry: &str) -> bool {
    let name = entry.trim_end_matches('.');
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// IPv4 ranges that are not the public Internet (IANA special-purpose registry, RFC 6890 and
/// successors). Broadcast 255.255.255.255 is inside 240.0.0.0/4.
const FORBIDDEN_V4: [Ipv4Net; 15] = [
    Ipv4Net::new_assert(Ipv4Addr::new(0, 0, 0, 0), 8), // "this network", incl. unspecified
    Ipv4Net::new_assert(Ipv4Addr::new(10, 0, 0, 0), 8), // private
    Ipv4Net::new_assert(Ipv4Addr::new(100, 64, 0, 0), 10), // CGNAT shared address space
    Ipv4Net::new_assert(Ipv4Addr::new(127, 0, 0, 0), 8), // loopback
    Ipv4Net::new_assert(Ipv4Addr::new(169, 254, 0, 0), 16), // link-local, incl. metadata 169.254.169.254
    Ipv4Net::new_assert(Ipv4Addr::new(172, 16, 0, 0), 12), // private
    Ipv4Net::new_assert(Ipv4Addr::new(192, 0, 0, 0), 24), // IETF protocol assignments
    Ipv4Net::new_assert(Ipv4Addr::new(192, 0, 2, 0), 24), // TEST-NET-1
    Ipv4Net::new_assert(Ipv4Addr::new(192, 88, 99, 0), 24), // 6to4 relay anycast (deprecated)
    Ipv4Net::new_assert(Ipv4Addr::new(192, 168, 0, 0), 16), // private
    Ipv4Net::new_assert(Ipv4Addr::new(198, 18, 0, 0), 15), // benchmarking
    Ipv4Net::new_assert(Ipv4Addr::new(198, 51, 100, 0), 24), // TEST-NET-2
    Ipv4Net::new_assert(Ipv4Addr::new(203, 0, 113, 0), 24), // TEST-NET-3
    Ipv4Net::new_assert(Ipv4Addr::new(224, 0, 0, 0), 4), // multicast
    Ipv4Net::new_assert(Ipv4Addr::new(240, 0, 0, 0), 4), // reserved, incl. broadcast
];

/// Only global unicast (2000::/3) can be public; inside it these blocks are not (6to4 is
/// judged by its embedded IPv4 address instead).
const GLOBAL_UNICAST_V6: Ipv6Net = Ipv6Net::new_assert(Ipv6Addr::new(0x2000, 0, 0, 0, 0, 0, 0, 0), 3);
const FORBIDDEN_V6_IN_GLOBAL: [Ipv6Net; 3] = [
    // IETF protocol assignments, incl. Teredo 2001::/32 (which tunnels to arbitrary v4) and ORCHID.
    Ipv6Net::new_assert(Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 23),
    Ipv6Net::new_assert(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32), // documentation
    Ipv6Net::new_assert(Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0), 20),     // documentation (RFC 9637)
];
const NAT64_WELL_KNOWN: Ipv6Net = Ipv6Net::new_assert(Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0), 96);
const SIX_TO_FOUR: Ipv6Net = Ipv6Net::new_assert(Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0), 16);

/// True when `ip` is not a public Internet address: loopback, private, link-local (with the cloud
/// metadata address), CGNAT, multicast, unspecified, broadcast, documentation, benchmarking or
/// reserved; for IPv6 also ULA, link- and site-local, multicast, everything outside 2000::/3, and
/// the IPv4-mapped (`::ffff:a.b.c.d`), NAT64 (`64:ff9b::a.b.c.d`) and 6to4 (`2002:AABB:CCDD::`)
/// forms of a forbidden IPv4 address, because those reach the embedded IPv4 host. The deprecated
/// IPv4-compatible block `::/96` is forbidden wholesale: nothing legitimate uses it.
pub fn is_forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => FORBIDDEN_V4.iter().any(|net| net.contains(&v4)),
        IpAddr::V6(v6) => is_forbidden_v6(v6),
    }
}

fn is_forbidden_v6(v6: Ipv6Addr) -> bool {
    if let Some(v4) = v6.to_ipv4_mapped() {
        return is_forbidden(IpAddr::V4(v4));
    }
    if NAT64_WELL_KNOWN.contains(&v6) {
        return is_forbidden(IpAddr::V4(embedded_v4(v6, 12)));
    }
    if SIX_TO_FOUR.contains(&v6) {
        return is_forbidden(IpAddr::V4(embedded_v4(v6, 2)));
    }
    !GLOBAL_UNICAST_V6.contains(&v6) || FORBIDDEN_V6_IN_GLOBAL.iter().any(|net| net.contains(&v6))
}

/// The IPv4 address stored in four octets of `v6` starting at byte `at`.
fn embedded_v4(v6: Ipv6Addr, at: usize) -> Ipv4Addr {
    let o = v6.octets();
    Ipv4Addr::new(o[at], o[at + 1], o[at + 2], o[at + 3])
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forbidden_table() {
        let forbidden = [
            "127.0.0.1",
            "127.255.255.254",
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "10.255.255.255",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "169.254.0.1",
            "100.64.0.1",
            "100.127.255.255",
            "224.0.0.1",
            "239.255.255.250",
            "255.255.255.255",
            "240.0.0.1",
            "192.0.2.10",
            "198.51.100.7",
            "203.0.113.9",
            "198.18.0.1",
            "198.19.255.255",
            "192.0.0.8",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "ff05::2",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "::8.8.8.8",
            "64:ff9b::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b::192.168.0.1",
            "2002:7f00:0001::1",
            "2002:a9fe:a9fe::",
            "2002:0a00:0001:1::5",
            "2001:db8::1",
            "2001::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "3fff::1",
            "100::1",
            "4000::1",
            "64:ff9b:1::1",
        ];
        for s in forbidden {
            assert!(is_forbidden(ip(s)), "{s} should be forbidden");
        }
        let public = [
            "8.8.8.8",
            "1.1.1.1",
            "93.184.216.34",
            "172.15.255.255",
            "172.32.0.1",
            "100.63.255.255",
            "100.128.0.1",
            "169.253.255.255",
            "192.169.0.1",
            "11.0.0.1",
            "223.255.255.255",
            "2606:4700:4700::1111",
            "2a00:1450:4001:80b::200e",
            "::ffff:8.8.8.8",
            "64:ff9b::8.8.8.8",
            "2002:0808:0808::1",
        ];
        for s in public {
            assert!(!is_forbidden(ip(s)), "{s} should be allowed");
        }
    }

    #[test]
    fn allow_list_parses_cidrs_ips_and_hosts() {
        let entries: Vec<String> = ["127.0.0.0/8", " ::1 ", "", "LocalHost.", "10.1.2.3", "192.168.7.9/16"]
            .map(String::from)
            .to_vec();
        let policy = NetworkPolicy::from_allow_list(&entries).unwrap();
        assert!(policy.allows_ip(ip("127.0.0.1")));
        assert!(policy.allows_ip(ip("127.9.9.9")));
        assert!(policy.allows_ip(ip("::ffff:127.0.0.1")), "mapped form of an allowed v4");
        assert!(policy.allows_ip(ip("::1")));
        assert!(policy.allows_ip(ip("10.1.2.3")));
        assert!(!policy.allows_ip(ip("10.1.2.4")), "a bare IP is a /32");
        assert!(policy.allows_ip(ip("192.168.200.1")), "host bits in a CIDR are ignored");
        assert!(!policy.allows_ip(ip("169.254.169.254")));
        assert!(policy.allows_ip(ip("8.8.8.8")), "public stays allowed");
        assert!(policy.allows_host("localhost"));
        assert!(policy.allows_host("LOCALHOST."));
        assert!(!policy.allows_host("localhost.example"));
    }

    #[test]
    fn default_policy_allows_only_public() {
        let policy = NetworkPolicy::default();
        assert!(!policy.allows_ip(ip("127.0.0.1")));
        assert!(!policy.allows_host("localhost"));
        assert!(policy.allows_ip(ip("1.1.1.1")));
    }

    #[test]
    fn bad_entries_are_refused() {
        for bad in ["10.0.0.0/33", "not a host", "a..b", "http://x", "1.2.3.4/x"] {
            assert!(NetworkPolicy::from_allow_list(&[bad.to_owned()]).is_err(), "{bad} should be refused");
        }
    }
}
