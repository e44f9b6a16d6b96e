//! Minimal answers to sysclient tunnel frames (reference §6 "Tunnel"): we
//! offer no admin UI for the phone, but must not leave Devices waiting.
//!
//! innovaphone's `doc/protocol/sysclient.htm` (13r1-SDK): "A socket recv might
//! be received multiple times until all data is read", and a shutdown is
//! confirmed with a shutdown. So each session gets one HTTP 404, then we end it
//! (shutdown) and answer its further receives with nothing.

use std::collections::VecDeque;

use crate::{Frame, TunnelEvent};

/// The response sent when Devices asks to read from a tunnel session.
pub const NOT_FOUND_RESPONSE: &[u8] =
    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

/// Sessions we ended ourselves; Devices' late receives and its shutdown
/// confirmation for them get no answer. Bounded: Devices may never confirm.
const REMEMBERED: usize = 64;

/// The tunnel sessions of one sysclient connection.
#[derive(Debug, Default)]
pub struct TunnelSessions {
    ended: VecDeque<u32>,
}

impl TunnelSessions {
    /// Frames to send in reply to `frame`, on the same session:
    /// send → send-result; the first receive → receive-result with an HTTP 404
    /// and a shutdown (our "web server" closed); later receives → nothing;
    /// shutdown → shutdown, unless it confirms ours; anything else → nothing.
    ///
    /// The receive's maximum length is not checked: the 404 is far below any
    /// sensible read size.
    pub fn answer(&mut self, frame: &Frame) -> Vec<Frame> {
        let Frame::Tunnel { session, event, .. } = frame else {
            return Vec::new();
        };
        let session = *session;
        let answer = |event, data: &[u8]| Frame::Tunnel {
            session,
            event,
            data: data.to_vec(),
        };
        match event {
            TunnelEvent::Send => vec![answer(TunnelEvent::SendResult, &[])],
            TunnelEvent::Receive if self.ended.contains(&session) => Vec::new(),
            TunnelEvent::Receive => {
                if self.ended.len() == REMEMBERED {
                    self.ended.pop_front();
                }
                self.ended.push_back(session);
                vec![
                    answer(TunnelEvent::ReceiveResult, NOT_FOUND_RESPONSE),
                    answer(TunnelEvent::Shutdown, &[]),
                ]
            }
            TunnelEvent::Shutdown => {
                if let Some(i) = self.ended.iter().position(|s| *s == session) {
                    // Devices confirms the shutdown we sent.
                    self.ended.remove(i);
                    Vec::new()
                } else {
                    vec![answer(TunnelEvent::Shutdown, &[])]
                }
            }
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AdminKind;

    fn tunnel(session: u32, event: TunnelEvent, data: &[u8]) -> Frame {
        Frame::Tunnel {
            session,
            event,
            data: data.to_vec(),
        }
    }

    #[test]
    fn one_answer_per_session_then_its_end() {
        let mut t = TunnelSessions::default();
        assert_eq!(
            t.answer(&tunnel(42, TunnelEvent::Send, b"GET / HTTP/1.1\r\n\r\n")),
            vec![tunnel(42, TunnelEvent::SendResult, b"")]
        );
        let out = t.answer(&tunnel(42, TunnelEvent::Receive, &[0, 0, 0x40, 0]));
        assert_eq!(
            out,
            vec![
                tunnel(42, TunnelEvent::ReceiveResult, NOT_FOUND_RESPONSE),
                tunnel(42, TunnelEvent::Shutdown, b""),
            ]
        );
        let text = std::str::from_utf8(NOT_FOUND_RESPONSE).unwrap();
        assert!(text.starts_with("HTTP/1.1 404 Not Found\r\n"));
        assert!(text.contains("Content-Length: 0\r\n"));
        assert!(text.contains("Connection: close\r\n"));
        assert!(text.ends_with("\r\n\r\n"));
        // "until all data is read": repeated receives get no second response.
        assert!(
            t.answer(&tunnel(42, TunnelEvent::Receive, &[0, 0, 0x40, 0]))
                .is_empty()
        );
        // Devices confirms our shutdown: nothing to confirm back.
        assert!(t.answer(&tunnel(42, TunnelEvent::Shutdown, b"")).is_empty());
        // A session Devices ends before reading is confirmed.
        assert_eq!(
            t.answer(&tunnel(7, TunnelEvent::Shutdown, b"")),
            vec![tunnel(7, TunnelEvent::Shutdown, b"")]
        );
        // Another session gets its own answer.
        assert_eq!(
            t.answer(&tunnel(43, TunnelEvent::Receive, &[0, 0, 0x40, 0]))
                .len(),
            2
        );
    }

    #[test]
    fn remembers_a_bounded_number_of_sessions() {
        let mut t = TunnelSessions::default();
        for s in 0..(REMEMBERED as u32 + 10) {
            t.answer(&tunnel(s, TunnelEvent::Receive, &[0, 0, 1, 0]));
        }
        assert_eq!(t.ended.len(), REMEMBERED);
    }

    #[test]
    fn nothing_for_others() {
        let mut t = TunnelSessions::default();
        for ev in [
            TunnelEvent::SendResult,
            TunnelEvent::ReceiveResult,
            TunnelEvent::Other(9),
        ] {
            assert!(t.answer(&tunnel(1, ev, b"")).is_empty());
        }
        let admin = Frame::Admin {
            kind: AdminKind::Configuration,
            json: serde_json::json!({}),
        };
        assert!(t.answer(&admin).is_empty());
    }
}
