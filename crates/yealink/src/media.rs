//! The media profile a PBX pushes for one device (codecs, SRTP, NAT traversal, TLS minimum),
//! rendered into the MAC file by [`crate::render_mac_cfg`].
//!
//! See `docs/yealink-rendering.md`, section "Media profile", for the parameters and sources.

use std::fmt;

use crate::error::RenderError;
use crate::settings::Transport;

/// The STUN/TURN port when none is given (RFC 8489).
pub const DEFAULT_STUN_PORT: u16 = 3478;

/// An audio codec Yealink phones know under `account.N.codec.<name>.*`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Codec {
    /// G.711 µ-law.
    Pcmu,
    /// G.711 A-law.
    Pcma,
    /// G.722 (wideband).
    G722,
    /// Opus.
    Opus,
    /// G.729.
    G729,
}

impl Codec {
    /// Every codec we render, in a fixed order (the order `exclusive` disables the rest in).
    pub const ALL: [Codec; 5] = [
        Codec::Pcmu,
        Codec::Pcma,
        Codec::G722,
        Codec::Opus,
        Codec::G729,
    ];

    /// The codec's name in Yealink parameter keys: `pcmu`, `pcma`, `g722`, `opus`, `g729`.
    pub fn yealink_name(self) -> &'static str {
        match self {
            Codec::Pcmu => "pcmu",
            Codec::Pcma => "pcma",
            Codec::G722 => "g722",
            Codec::Opus => "opus",
            Codec::G729 => "g729",
        }
    }

    /// `account.1.codec.<name>.enable`.
    pub(crate) fn enable_key(self) -> &'static str {
        match self {
            Codec::Pcmu => "account.1.codec.pcmu.enable",
            Codec::Pcma => "account.1.codec.pcma.enable",
            Codec::G722 => "account.1.codec.g722.enable",
            Codec::Opus => "account.1.codec.opus.enable",
            Codec::G729 => "account.1.codec.g729.enable",
        }
    }

    /// `account.1.codec.<name>.priority`.
    pub(crate) fn priority_key(self) -> &'static str {
        match self {
            Codec::Pcmu => "account.1.codec.pcmu.priority",
            Codec::Pcma => "account.1.codec.pcma.priority",
            Codec::G722 => "account.1.codec.g722.priority",
            Codec::Opus => "account.1.codec.opus.priority",
            Codec::G729 => "account.1.codec.g729.priority",
        }
    }
}

/// Every `account.1.codec.<name>.enable` key that Yealink's templates list for current models:
/// "exclusive" writes 0 to each of these that is not listed. A model ignores the names it does
/// not have (Yealink's own shared templates rely on this). The spelling `kpbs` is Yealink's.
/// Sources per name: `docs/yealink-parameters.md`, section "Codecs".
pub const ALL_CODEC_ENABLE_KEYS: [&str; 19] = [
    "account.1.codec.pcmu.enable",
    "account.1.codec.pcma.enable",
    "account.1.codec.g722.enable",
    "account.1.codec.opus.enable",
    "account.1.codec.g729.enable",
    "account.1.codec.g729ab.enable",
    "account.1.codec.g726_16.enable",
    "account.1.codec.g726_24.enable",
    "account.1.codec.g726_32.enable",
    "account.1.codec.g726_40.enable",
    "account.1.codec.g723_53.enable",
    "account.1.codec.g723_63.enable",
    "account.1.codec.ilbc.enable",
    "account.1.codec.ilbc_13_33kbps.enable",
    "account.1.codec.ilbc_15_2kbps.enable",
    "account.1.codec.g722_1_24kpbs.enable",
    "account.1.codec.g722_1c_24kpbs.enable",
    "account.1.codec.g722_1c_32kpbs.enable",
    "account.1.codec.g722_1c_48kpbs.enable",
];

impl fmt::Display for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.yealink_name())
    }
}

/// A STUN server: host name or IP address, and port.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct StunServer {
    pub host: String,
    pub port: u16,
}

impl StunServer {
    /// Reads `host`, `host:port`, `[v6-address]`, `[v6-address]:port` or a bare IPv6 address;
    /// the port defaults to [`DEFAULT_STUN_PORT`]. Refuses empty hosts, port 0, and lists
    /// (`,` or `;`: innovaphone allows two servers; pick one before calling this).
    pub fn parse(text: &str) -> Result<StunServer, RenderError> {
        let (host, port) = parse_host_port(text, STUN_SERVER_KEY, STUN_PORT_KEY)?;
        let port = port.unwrap_or(DEFAULT_STUN_PORT);
        Ok(StunServer { host, port })
    }
}

/// A TURN server with its credentials. Not rendered (see `docs/yealink-rendering.md`); the
/// type exists so the PBX's device configuration can be carried without loss. `Debug` hides
/// the password.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TurnServer {
    pub host: String,
    pub port: u16,
    pub user: String,
    /// A secret: never logged (`Debug` shows `***`).
    pub password: String,
}

impl TurnServer {
    /// Reads the address like [`StunServer::parse`] and keeps the credentials as given.
    pub fn parse(address: &str, user: &str, password: &str) -> Result<TurnServer, RenderError> {
        let (host, port) = parse_host_port(address, "TURN server", "TURN server port")?;
        let port = port.unwrap_or(DEFAULT_STUN_PORT);
        Ok(TurnServer {
            host,
            port,
            user: user.to_string(),
            password: password.to_string(),
        })
    }
}

impl fmt::Debug for TurnServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let password = if self.password.is_empty() { "" } else { "***" };
        f.debug_struct("TurnServer")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &password)
            .finish()
    }
}

/// The TLS versions the phone uses as a client (`static.security.default_ssl_method`). Yealink's
/// values select one method, not a floor: 5 is "TLS 1.2 only", so a server offering only
/// TLS 1.3 would fail. The type keeps its historical name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TlsMinimum {
    /// The firmware default: negotiate (value 3, "SSL V23").
    Auto,
    /// TLS 1.2 only (value 5).
    Tls12Only,
}

impl TlsMinimum {
    /// The value of `static.security.default_ssl_method`: 3 (negotiate) or 5 (TLS 1.2 only).
    pub fn yealink_code(self) -> u8 {
        match self {
            TlsMinimum::Auto => 3,
            TlsMinimum::Tls12Only => 5,
        }
    }
}

/// The media settings the PBX chose for one device. Every field's "unset" value leaves the
/// phone's factory behaviour (or, for SRTP, our transport rule) in place.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MediaProfile {
    /// Codecs in order of preference; empty leaves the phone's codec list alone (and then
    /// `exclusive` has no effect). Repeated codecs count once, at their first position.
    pub codecs: Vec<Codec>,
    /// Only the listed codecs are enabled: every other codec the phone knows
    /// ([`ALL_CODEC_ENABLE_KEYS`]) is switched off.
    pub exclusive: bool,
    /// `None`: our rule (compulsory with TLS, off otherwise). `Some(false)`: off.
    /// `Some(true)`: compulsory, but only when the transport is TLS: SDES puts the keys in the
    /// SDP, so without TLS they would travel in clear text and SRTP stays off.
    pub srtp: Option<bool>,
    /// STUN for NAT traversal (`account.1.nat.nat_traversal = 1`).
    pub stun: Option<StunServer>,
    /// Carried but not rendered: no TURN parameter is documented in the Yealink admin guides
    /// we could check.
    pub turn: Option<TurnServer>,
    /// The TLS method (`Tls12Only` = TLS 1.2 only); `None` leaves the firmware default.
    pub tls_minimum: Option<TlsMinimum>,
}

pub(crate) const STUN_SERVER_KEY: &str = "static.sip.nat_stun.server";
pub(crate) const STUN_PORT_KEY: &str = "static.sip.nat_stun.port";

/// `account.1.srtp_encryption`: 0 off, 2 compulsory. SRTP is only ever on with TLS, because
/// SDES carries the media keys in the SDP: without TLS anyone on the path could read them.
pub(crate) fn srtp_encryption(transport: Transport, requested: Option<bool>) -> u8 {
    match (transport, requested) {
        (Transport::Tls, None | Some(true)) => 2,
        _ => 0,
    }
}

/// Splits `host[:port]` (or a bracketed/bare IPv6 address); the port is `None` when not given. Errors name `host_key` or
/// `port_key`, never the text (consistent with every other render error).
pub(crate) fn parse_host_port(
    text: &str,
    host_key: &'static str,
    port_key: &'static str,
) -> Result<(String, Option<u16>), RenderError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(RenderError::Missing {
            parameter: host_key,
        });
    }
    if text.contains([',', ';']) {
        return Err(RenderError::InvalidValue {
            parameter: host_key,
            problem: "is a list; give one server",
        });
    }
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or(RenderError::InvalidValue {
            parameter: host_key,
            problem: "has an unclosed '[' around an IPv6 address",
        })?;
        match after {
            "" => (host, None),
            _ => match after.strip_prefix(':') {
                Some(port) => (host, Some(port)),
                None => {
                    return Err(RenderError::InvalidValue {
                        parameter: host_key,
                        problem: "has text after the IPv6 address other than ':port'",
                    });
                }
            },
        }
    } else if text.matches(':').count() > 1 {
        // A bare IPv6 address: no port possible without brackets.
        (text, None)
    } else {
        match text.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (text, None),
        }
    };
    if host.is_empty() {
        return Err(RenderError::Missing {
            parameter: host_key,
        });
    }
    if host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(RenderError::InvalidValue {
            parameter: host_key,
            problem: "contains whitespace or a control character",
        });
    }
    let port = port.map(|port| parse_port(port, port_key)).transpose()?;
    Ok((host.to_string(), port))
}

fn parse_port(text: &str, port_key: &'static str) -> Result<u16, RenderError> {
    let invalid = RenderError::InvalidValue {
        parameter: port_key,
        problem: "must be a number from 1 to 65535",
    };
    // Digits only: `u64::from_str` would also take a leading '+'.
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid);
    }
    let value: u64 = text.parse().map_err(|_| invalid.clone())?;
    match u16::try_from(value) {
        Ok(port) if port != 0 => Ok(port),
        _ => Err(RenderError::OutOfRange {
            parameter: port_key,
            value,
            min: 1,
            max: u64::from(u16::MAX),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn srtp_rule() {
        use Transport::*;
        assert_eq!(srtp_encryption(Tls, None), 2);
        assert_eq!(srtp_encryption(Tls, Some(true)), 2);
        assert_eq!(srtp_encryption(Tls, Some(false)), 0);
        for transport in [Udp, Tcp] {
            for requested in [None, Some(true), Some(false)] {
                assert_eq!(srtp_encryption(transport, requested), 0);
            }
        }
    }

    #[test]
    fn stun_addresses() {
        let s = |text: &str| StunServer::parse(text).map(|s| (s.host, s.port));
        assert_eq!(s("stun.example.com"), Ok(("stun.example.com".into(), 3478)));
        assert_eq!(
            s(" stun.example.com:3479 "),
            Ok(("stun.example.com".into(), 3479))
        );
        assert_eq!(s("192.0.2.1:19302"), Ok(("192.0.2.1".into(), 19302)));
        assert_eq!(s("[2001:db8::1]:5000"), Ok(("2001:db8::1".into(), 5000)));
        assert_eq!(s("[2001:db8::1]"), Ok(("2001:db8::1".into(), 3478)));
        assert_eq!(s("2001:db8::1"), Ok(("2001:db8::1".into(), 3478)));
        for bad in [
            "",
            "  ",
            ":3478",
            "stun.example.com:",
            "stun.example.com:0",
            "stun.example.com:65536",
            "stun.example.com:99999999999999999999999",
            "stun.example.com:+1",
            "stun.example.com:x",
            "a.example.com,b.example.com",
            "a.example.com;b.example.com",
            "[2001:db8::1",
            "[2001:db8::1]x",
            "stun example.com",
            "stun\u{7}.example.com",
        ] {
            assert!(StunServer::parse(bad).is_err(), "{bad:?}");
        }
        let err = StunServer::parse("stun.example.com:0").unwrap_err();
        assert!(err.to_string().starts_with(STUN_PORT_KEY), "{err}");
        assert!(!err.to_string().contains("stun.example.com"), "{err}");
    }

    #[test]
    fn turn_debug_hides_the_password() {
        let turn = TurnServer::parse("turn.example.com:443", "u", "s3cret-Turn").unwrap();
        assert_eq!(turn.port, 443);
        let profile = MediaProfile {
            turn: Some(turn),
            ..MediaProfile::default()
        };
        let text = format!("{profile:?}");
        assert!(!text.contains("s3cret-Turn"), "{text}");
        assert!(text.contains("turn.example.com"), "{text}");
    }

    #[test]
    fn codec_keys_match_names() {
        for codec in Codec::ALL {
            assert!(ALL_CODEC_ENABLE_KEYS.contains(&codec.enable_key()));
            assert_eq!(
                codec.enable_key(),
                format!("account.1.codec.{}.enable", codec.yealink_name())
            );
            assert_eq!(
                codec.priority_key(),
                format!("account.1.codec.{codec}.priority")
            );
        }
        assert_eq!(TlsMinimum::Tls12Only.yealink_code(), 5);
        assert_eq!(TlsMinimum::Auto.yealink_code(), 3);
    }
}
