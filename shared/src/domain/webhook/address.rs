//! Where outbound deliveries may go: https URLs whose addresses are public unicast. The rule is
//! an allow-list (IPv4 outside IANA's special-purpose blocks; IPv6 in global unicast `2000::/3`
//! outside its special blocks, IPv4 carried in IPv6 judged as that IPv4 address), so that a
//! subscription cannot make the system call into its own network (SSRF), including through
//! address space nobody thought to deny. The local stack allows loopback (and
//! plain http to it) for testing.
//!
//! A URL is checked when the subscription is created and its addresses again at each delivery
//! (a name can be pointed elsewhere after the check).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

/// Longest subscription URL accepted.
pub const MAX_URL_LENGTH: usize = 2048;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AddressPolicy {
    /// Loopback addresses (and http to them) are allowed: the local stack's receivers.
    pub allow_loopback: bool,
}

impl AddressPolicy {
    pub fn permits(&self, ip: IpAddr) -> bool {
        is_public(ip) || (self.allow_loopback && canonical(ip).is_loopback())
    }

    /// Checks the addresses `host` resolved to: every one must be permitted. The refusal never
    /// says what they were, so that the answers cannot be used to map internal names.
    pub fn check_resolved(&self, host: &str, addresses: &[IpAddr]) -> Result<(), String> {
        if addresses.is_empty() {
            Err(format!("{host} does not resolve"))
        } else if addresses.iter().all(|ip| self.permits(*ip)) {
            Ok(())
        } else {
            Err(format!("{host} resolves to a non-public address"))
        }
    }

    /// Checks a subscription URL's form (scheme, no credentials, a host, literal addresses);
    /// names are resolved and checked by the caller.
    pub fn check_url(&self, text: &str) -> Result<Url, String> {
        if text.len() > MAX_URL_LENGTH {
            return Err(format!("at most {MAX_URL_LENGTH} characters"));
        }
        let url = Url::parse(text).map_err(|e| format!("not a valid URL: {e}"))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(String::from("must not carry credentials"));
        }
        if url.fragment().is_some() {
            return Err(String::from("must not have a fragment"));
        }
        let literal = match url.host() {
            None => return Err(String::from("must name a host")),
            Some(Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            Some(Host::Domain(_)) => None,
        };
        if let Some(ip) = literal
            && !self.permits(ip)
        {
            return Err(format!(
                "{ip} is not a public address (private, loopback, link-local or reserved)"
            ));
        }
        match url.scheme() {
            "https" => Ok(url),
            "http"
                if self.allow_loopback && literal.is_some_and(|ip| canonical(ip).is_loopback()) =>
            {
                Ok(url)
            }
            _ => Err(String::from("must use https")),
        }
    }
}

/// An IPv4 address carried in IPv6 as the IPv4 address: mapped (`::ffff:a.b.c.d`), translated
/// (`::ffff:0:a.b.c.d`, SIIT) and NAT64's well-known prefix (`64:ff9b::a.b.c.d`), each of which
/// a stack or a translator may turn into a connection to the IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let embedded = match s[..6] {
                [0, 0, 0, 0, 0, 0xffff] | [0, 0, 0, 0, 0xffff, 0] | [0x64, 0xff9b, 0, 0, 0, 0] => {
                    Some(v4_of(s[6], s[7]))
                }
                _ => None,
            };
            embedded.map_or(IpAddr::V6(v6), IpAddr::V4)
        }
        v4 => v4,
    }
}

fn v4_of(high: u16, low: u16) -> Ipv4Addr {
    let [a, b] = high.to_be_bytes();
    let [c, d] = low.to_be_bytes();
    Ipv4Addr::new(a, b, c, d)
}

/// True for globally routable unicast addresses only.
pub fn is_public(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(ip) => is_public_v4(ip),
        IpAddr::V6(ip) => is_public_v6(ip),
    }
}

/// IANA's IPv4 special-purpose registry (and multicast, reserved and broadcast): every other
/// IPv4 address is allocated unicast.
const SPECIAL_V4: [([u8; 4], u8); 15] = [
    ([0, 0, 0, 0], 8),       // "this network"
    ([10, 0, 0, 0], 8),      // private
    ([100, 64, 0, 0], 10),   // shared address space (carrier NAT)
    ([127, 0, 0, 0], 8),     // loopback
    ([169, 254, 0, 0], 16),  // link-local (instance metadata)
    ([172, 16, 0, 0], 12),   // private
    ([192, 0, 0, 0], 24),    // IETF protocol assignments
    ([192, 0, 2, 0], 24),    // documentation
    ([192, 88, 99, 0], 24),  // 6to4 relay anycast
    ([192, 168, 0, 0], 16),  // private
    ([198, 18, 0, 0], 15),   // benchmarking
    ([198, 51, 100, 0], 24), // documentation
    ([203, 0, 113, 0], 24),  // documentation
    ([224, 0, 0, 0], 4),     // multicast
    ([240, 0, 0, 0], 4),     // reserved, and 255.255.255.255
];

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let ip = u32::from(ip);
    !SPECIAL_V4.iter().any(|&(network, length)| {
        let mask = u32::MAX << (32 - u32::from(length));
        ip & mask == u32::from(Ipv4Addr::from(network))
    })
}

/// Blocks of global unicast (`2000::/3`) that are not global.
const SPECIAL_V6: [(u128, u8); 3] = [
    (0x2001_0000 << 96, 23), // IETF protocol assignments (Teredo, benchmarking, ORCHID...)
    (0x2001_0db8 << 96, 32), // documentation
    (0x3fff_0000 << 96, 20), // documentation
];

/// Allowed: global unicast (`2000::/3`) outside its special blocks; 6to4 (`2002::/16`) as
/// public as the IPv4 address it carries. Everything else (loopback, unique local, link-local,
/// multicast, IPv4-compatible, local-use NAT64, discard, unassigned space) is refused.
fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    if s[0] == 0x2002 {
        return is_public_v4(v4_of(s[1], s[2]));
    }
    let bits = u128::from(ip);
    let within = |network: u128, length: u8| {
        let mask = u128::MAX << (128 - u32::from(length));
        bits & mask == network
    };
    within(0x2000 << 112, 3) && !SPECIAL_V6.iter().any(|&(n, l)| within(n, l))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn only_public_addresses_are_public() {
        for public in [
            "8.8.8.8",
            "52.94.236.248",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "::ffff:0:8.8.8.8",
            "64:ff9b::8.8.8.8",
            "2002:808:808::1",
            "2a00:1450:4001:80b::200e",
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
        ] {
            assert!(is_public(ip(public)), "{public}");
        }
        for private in [
            "127.0.0.1",
            "127.8.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "0.1.2.3",
            "192.0.0.8",
            "192.0.2.1",
            "198.18.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::1",
            "::127.0.0.1",
            "::a9fe:a9fe",
            "2002:7f00:1::1",
            "2002:a00:1::1",
            "2001::1",
            "2001:0:4136:e378::1",
            "192.88.99.1",
            // Special-purpose blocks an allow-list refuses without naming them.
            "::ffff:0:127.0.0.1",
            "::ffff:0:10.0.0.1",
            "::ffff:0:169.254.169.254",
            "3fff::1",
            "3fff:fff::1",
            "100:1::1",
            "4000::1",
            "5f00::1",
            "2001:2::1",
            "64:ff9b::127.0.0.1",
            "64:ff9b::10.0.0.1",
            "192.0.0.170",
            "198.51.100.7",
            "203.0.113.9",
            "240.0.0.1",
            "2002:c000:201::1",
        ] {
            assert!(!is_public(ip(private)), "{private}");
        }
    }

    #[test]
    fn a_refused_name_never_shows_what_it_resolved_to() {
        let strict = AddressPolicy::default();
        for resolved in [
            vec![ip("10.0.0.7")],
            vec![ip("8.8.8.8"), ip("169.254.169.254")],
            vec![ip("::ffff:0:127.0.0.1")],
        ] {
            let err = strict
                .check_resolved("hooks.example.com", &resolved)
                .unwrap_err();
            assert_eq!(err, "hooks.example.com resolves to a non-public address");
            for address in &resolved {
                assert!(!err.contains(&address.to_string()), "{err}");
            }
        }
        assert!(strict.check_resolved("x.example", &[]).is_err());
        assert!(
            strict
                .check_resolved("hooks.example.com", &[ip("8.8.8.8"), ip("2606:4700::1111")])
                .is_ok()
        );
    }

    #[test]
    fn loopback_only_when_allowed() {
        let strict = AddressPolicy::default();
        let local = AddressPolicy {
            allow_loopback: true,
        };
        assert!(!strict.permits(ip("127.0.0.1")));
        assert!(local.permits(ip("127.0.0.1")));
        assert!(local.permits(ip("::1")));
        assert!(local.permits(ip("::ffff:127.0.0.1")));
        assert!(!local.permits(ip("::ffff:0:10.0.0.1")));
        assert!(!local.permits(ip("10.0.0.1")));
        assert!(!local.permits(ip("169.254.169.254")));
    }

    #[test]
    fn urls_must_be_https_without_credentials_or_private_literals() {
        let strict = AddressPolicy::default();
        assert!(
            strict
                .check_url("https://hooks.example.com/tributary?x=1")
                .is_ok()
        );
        assert!(strict.check_url("https://8.8.8.8:8443/in").is_ok());
        for (url, why) in [
            ("http://hooks.example.com/", "must use https"),
            ("ftp://hooks.example.com/", "must use https"),
            (
                "https://user:pw@hooks.example.com/",
                "must not carry credentials",
            ),
            ("https://hooks.example.com/#x", "must not have a fragment"),
            ("https://10.0.0.5/hook", "private"),
            ("https://[::1]/hook", "private"),
            ("https://169.254.169.254/latest", "private"),
            ("https://127.0.0.1:8443/", "private"),
            // Other spellings of loopback parse to the same address.
            ("https://2130706433/", "private"),
            ("https://0x7f.1/", "private"),
            ("https://[::ffff:0:127.0.0.1]/", "private"),
            ("https://[3fff::1]/", "private"),
            ("not a url", "not a valid URL"),
        ] {
            let err = strict.check_url(url).unwrap_err();
            assert!(err.contains(why), "{url}: {err}");
        }
        let long = format!("https://hooks.example.com/{}", "a".repeat(MAX_URL_LENGTH));
        assert!(strict.check_url(&long).is_err());
    }

    #[test]
    fn the_local_stack_may_use_http_to_loopback() {
        let local = AddressPolicy {
            allow_loopback: true,
        };
        assert!(local.check_url("http://127.0.0.1:8123/hook").is_ok());
        assert!(local.check_url("https://127.0.0.1:8123/hook").is_ok());
        assert!(local.check_url("http://hooks.example.com/").is_err());
        assert!(local.check_url("http://10.0.0.1/").is_err());
    }
}
