//! The phone settings an administrator chooses, independent of any one device.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// SIP transport towards the registrar.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    Udp,
    Tcp,
    /// TLS also switches on compulsory SRTP (see `render_mac_cfg`).
    Tls,
}

/// A string that is not `udp`, `tcp` or `tls`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown SIP transport {0:?}; expected udp, tcp or tls")]
pub struct UnknownTransport(pub String);

impl Transport {
    /// `udp`, `tcp` or `tls`.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
        }
    }

    /// The registrar port when none is given: 5060, or 5061 for TLS (RFC 3261).
    pub fn default_port(self) -> u16 {
        match self {
            Transport::Udp | Transport::Tcp => 5060,
            Transport::Tls => 5061,
        }
    }

    /// Yealink's `account.N.sip_server.M.transport_type`: 0 UDP, 1 TCP, 2 TLS.
    pub fn yealink_code(self) -> u8 {
        match self {
            Transport::Udp => 0,
            Transport::Tcp => 1,
            Transport::Tls => 2,
        }
    }
}

impl FromStr for Transport {
    type Err = UnknownTransport;

    fn from_str(s: &str) -> Result<Transport, UnknownTransport> {
        match s.trim().to_ascii_lowercase().as_str() {
            "udp" => Ok(Transport::Udp),
            "tcp" => Ok(Transport::Tcp),
            "tls" => Ok(Transport::Tls),
            _ => Err(UnknownTransport(s.to_string())),
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Settings shared by all phones, each of which a device may override.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhoneSettings {
    /// Minutes between provisioning checks; 0 = only at power-on. At most 43200 (30 days).
    pub update_interval_minutes: u32,
    /// NTP servers; the first two are used (`local_time.ntp_server1/2`), empty entries ignored.
    pub ntp_servers: Vec<String>,
    /// IANA time zone name, e.g. `Europe/Berlin`.
    pub time_zone: String,
    /// Location code (ISO 3166-1 alpha-2), see [`crate::locations`].
    pub location: String,
    /// Media goes through a relay (the PBX): ICE is always off, whatever `ice` says.
    pub media_relay: bool,
    /// ICE on the phone (`static.ice.enable` / `ice.enable`); off by default, the factory value.
    #[serde(default)]
    pub ice: bool,
    /// SIP transport; TLS also means SRTP.
    pub sip_transport: Transport,
    /// A second registrar, `host` or `host:port` (`account.1.sip_server.2.*`), used by the
    /// phone when the first does not answer; `None` or empty = none.
    #[serde(default)]
    pub backup_registrar: Option<String>,
}

impl PhoneSettings {
    /// Whether the phone should use ICE: only when asked for and media is not relayed (the
    /// concept of a relay is that the phone need not find a direct path).
    pub fn ice_enabled(&self) -> bool {
        self.ice && !self.media_relay
    }
}
