//! Plain RC4 (no drop-N) with hex transport encoding, as used by the
//! AppWebsocket `encrypt`/`decrypt` helpers and by sysclient secrets.
//!
//! Uses the `rc4` crate: its `KeyInit::new_from_slice` accepts keys of
//! 1..=256 bytes, which covers our `seed:sessionKey` keys (~70+ bytes).

use rc4::{KeyInit, Rc4, StreamCipher};

use crate::Error;

/// RC4's key schedule reads at most this many key bytes.
const MAX_KEY_LEN: usize = 256;

/// Applies the RC4 keystream for `key` to `data` in place.
///
/// Keys longer than 256 bytes are cut to 256: the key schedule only ever
/// reads `key[i % len]` for `i < 256`, so this gives the same keystream as
/// the JS/C++ implementations. An empty key cannot come from our
/// `seed:secret` formats (they always contain `:`); it is treated as the
/// one-byte key `0x00` instead of panicking.
fn apply(key: &[u8], data: &mut [u8]) {
    let key = match key.len() {
        0 => &[0u8][..],
        n if n > MAX_KEY_LEN => &key[..MAX_KEY_LEN],
        _ => key,
    };
    if let Ok(mut cipher) = Rc4::new_from_slice(key) {
        cipher.apply_keystream(data);
    }
}

/// RC4-encrypts `data` with `key` and returns lowercase hex.
pub fn rc4_hex_encrypt(key: &[u8], data: &[u8]) -> String {
    let mut buf = data.to_vec();
    apply(key, &mut buf);
    hex::encode(buf)
}

/// Hex-decodes `hex` (either case) and RC4-decrypts it with `key`.
pub fn rc4_hex_decrypt(key: &[u8], hex: &str) -> Result<Vec<u8>, Error> {
    let mut buf = hex::decode(hex).map_err(|_| Error::InvalidHex { len: hex.len() })?;
    apply(key, &mut buf);
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classic_rc4_vector() {
        // Well-known RC4 test vector: key "Key", plaintext "Plaintext".
        assert_eq!(rc4_hex_encrypt(b"Key", b"Plaintext"), "bbf316e8d940af0ad3");
    }

    #[test]
    fn round_trip_and_upper_case_hex() {
        let enc = rc4_hex_encrypt(b"seed:pw", b"hello");
        let dec = rc4_hex_decrypt(b"seed:pw", &enc.to_uppercase()).unwrap();
        assert_eq!(dec, b"hello");
    }

    #[test]
    fn long_key_is_truncated_equivalently() {
        let long: Vec<u8> = (0..300u32).map(|i| (i % 251) as u8).collect();
        assert_eq!(
            rc4_hex_encrypt(&long, b"data"),
            rc4_hex_encrypt(&long[..256], b"data")
        );
    }

    #[test]
    fn bad_hex_is_error() {
        assert_eq!(
            rc4_hex_decrypt(b"k", "zz1"),
            Err(Error::InvalidHex { len: 3 })
        );
    }
}
