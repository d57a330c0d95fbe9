//! Where outbound deliveries may go: https URLs whose addresses are public. Private, loopback,
//! link-local and other special-purpose addresses are refused, so that a subscription cannot
//! make the system call into its own network (SSRF). The local stack allows loopback (and
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
                "{ip} is a private, loopback, link-local or reserved address"
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

/// An IPv4 address carried in IPv6 (mapped, or NAT64's well-known prefix) as the IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return IpAddr::V4(v4);
            }
            let s = v6.segments();
            if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                let [a, b] = s[6].to_be_bytes();
                let [c, d] = s[7].to_be_bytes();
                return IpAddr::V4(Ipv4Addr::new(a, b, c, d));
            }
            IpAddr::V6(v6)
        }
        v4 => v4,
    }
}

/// True for globally routable unicast addresses only.
pub fn is_public(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(ip) => is_public_v4(ip),
        IpAddr::V6(ip) => is_public_v6(ip),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || a == 0 // "this network"
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || (a == 100 && (64..128).contains(&b)) // shared address space (carrier NAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast
        || ip.is_documentation()
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 224) // multicast, reserved, broadcast
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    let first = s[0];
    // 6to4 carries an IPv4 address: it is as public as that address.
    if first == 0x2002 {
        let [a, b] = s[1].to_be_bytes();
        let [c, d] = s[2].to_be_bytes();
        return is_public_v4(Ipv4Addr::new(a, b, c, d));
    }
    !(ip.is_unspecified()
        || s[..6] == [0; 6] // IPv4-compatible (deprecated)
        || (first == 0x2001 && s[1] < 0x0200) // IETF protocol assignments, Teredo included
        || (first == 0x0064 && s[1] == 0xff9b && s[2] == 1) // local-use NAT64
        || ip.is_loopback()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local
        || (first & 0xffc0) == 0xfe80 // link-local
        || (first & 0xffc0) == 0xfec0 // site-local (deprecated)
        || (first == 0x2001 && ip.segments()[1] == 0x0db8) // documentation
        || (first == 0x0100 && ip.segments()[1..4] == [0, 0, 0])) // discard-only
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
        ] {
            assert!(!is_public(ip(private)), "{private}");
        }
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
