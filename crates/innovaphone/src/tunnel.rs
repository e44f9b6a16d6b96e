//! Minimal answers to sysclient tunnel frames (reference §6 "Tunnel"): we
//! offer no admin UI for the phone, but must not leave Devices waiting.

use crate::{Frame, TunnelEvent};

/// The response sent when Devices asks to read from a tunnel session.
pub const NOT_FOUND_RESPONSE: &[u8] =
    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

/// Frames to send in reply to `frame`, on the same session:
/// send → send-result, receive → receive-result with an HTTP 404,
/// shutdown → shutdown; anything else (incl. admin frames) → nothing.
///
/// The receive's maximum length is not checked: the 404 is far below any
/// sensible read size.
pub fn minimal_answer(frame: &Frame) -> Vec<Frame> {
    let Frame::Tunnel { session, event, .. } = frame else {
        return Vec::new();
    };
    let answer = |event, data: &[u8]| Frame::Tunnel {
        session: *session,
        event,
        data: data.to_vec(),
    };
    match event {
        TunnelEvent::Send => vec![answer(TunnelEvent::SendResult, &[])],
        TunnelEvent::Receive => vec![answer(TunnelEvent::ReceiveResult, NOT_FOUND_RESPONSE)],
        TunnelEvent::Shutdown => vec![answer(TunnelEvent::Shutdown, &[])],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AdminKind;

    fn tunnel(event: TunnelEvent, data: &[u8]) -> Frame {
        Frame::Tunnel {
            session: 42,
            event,
            data: data.to_vec(),
        }
    }

    #[test]
    fn answers() {
        assert_eq!(
            minimal_answer(&tunnel(TunnelEvent::Send, b"GET / HTTP/1.1\r\n\r\n")),
            vec![tunnel(TunnelEvent::SendResult, b"")]
        );
        let out = minimal_answer(&tunnel(TunnelEvent::Receive, &[0, 0, 0x40, 0]));
        assert_eq!(
            out,
            vec![tunnel(TunnelEvent::ReceiveResult, NOT_FOUND_RESPONSE)]
        );
        let Frame::Tunnel { data, .. } = &out[0] else {
            panic!("not a tunnel frame");
        };
        let text = std::str::from_utf8(data).unwrap();
        assert!(text.starts_with("HTTP/1.1 404 Not Found\r\n"));
        assert!(text.contains("Content-Length: 0\r\n"));
        assert!(text.contains("Connection: close\r\n"));
        assert!(text.ends_with("\r\n\r\n"));
        assert_eq!(
            minimal_answer(&tunnel(TunnelEvent::Shutdown, b"")),
            vec![tunnel(TunnelEvent::Shutdown, b"")]
        );
    }

    #[test]
    fn nothing_for_others() {
        for ev in [
            TunnelEvent::SendResult,
            TunnelEvent::ReceiveResult,
            TunnelEvent::Other(9),
        ] {
            assert!(minimal_answer(&tunnel(ev, b"")).is_empty());
        }
        let admin = Frame::Admin {
            kind: AdminKind::Configuration,
            json: serde_json::json!({}),
        };
        assert!(minimal_answer(&admin).is_empty());
    }
}
