//! The legacy XML-RPC API (reference A1): `redirect.*` methods answering `[boolean, text]`.
//!
//! Requests are decoded with `dxr` (so CDATA, untyped values and whitespace are read as any
//! XML-RPC server reads them). Answers are written by hand, compact, in the shape the
//! reference shows and falconieri's regex expects: the text is an untyped `<value>text</value>`,
//! and `<methodResponse>` carries Apache XML-RPC's `xmlns:ex` namespace as in the vendor
//! documents' examples.

use dxr::{MethodCall, Value};

use super::store::{Owner, Store, StoredDevice, parse_mac, valid_server_name, valid_url};

/// The result texts (reference A1 table), for tests that assert exact answers.
pub mod text {
    use md5::{Digest as _, Md5};

    /// Success.
    pub const OK: &str = "OK";
    /// Unknown server name (or another account's server).
    pub const INVALID_SERVER: &str = "Error:Invalid server";
    /// `addServer` with a name outside `A-z 0-9 - _ .` and space.
    pub const BAD_SERVER_NAME: &str =
        "Error:The server name can only contain 'A-z 0-9 - _ . '(include space)";
    /// A URL that does not start with http://, https://, ftp:// or tftp://.
    pub const BAD_URL: &str =
        "Error:The url can only begin with 'http://' or 'https://' or 'ftp://' or 'tftp://'";
    /// `addServer` with a name already used (by any account).
    pub const SERVER_NAME_USED: &str = "Error: The server name has been used";
    /// `checkDevice`: in this account.
    pub const REGISTERED: &str = "registered";
    /// `checkDevice`: in no account.
    pub const UNREGISTERED: &str = "unregistered";
    /// `checkDevice`: in another account.
    pub const REGISTERED_ELSEWHERE: &str = "registered elsewhere";

    /// A malformed MAC, or deregistering a MAC not registered to this account. The MAC is
    /// echoed as the client sent it.
    pub fn invalid_macs(raw: &str) -> String {
        format!("Error:Invalid MAC(s):{raw}")
    }

    /// Registering (without override) a MAC already registered to this account (Htek's
    /// document of the same API, reference A1, single source). The MAC is echoed as sent.
    pub fn existing_macs(raw: &str) -> String {
        format!("Existing MAC(s): {raw}")
    }

    /// Registering (without override) a MAC registered to another account: `Error:` and ten
    /// lower-case alphanumerics, the shape falconieri maps to "owned by another user"
    /// (`^Error:[a-z0-9]{10}`). The ten characters vary with the MAC, so a client must match
    /// the shape, not one literal.
    pub fn owned_elsewhere(mac: &str) -> String {
        let digest = Md5::digest(format!("owned by another account:{mac}").as_bytes());
        let code: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        format!("Error:{}", &code[..10])
    }

    /// Whether `text` has the shape of [`owned_elsewhere`].
    pub fn is_owned_elsewhere(text: &str) -> bool {
        text.strip_prefix("Error:").is_some_and(|code| {
            code.len() == 10
                && code
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
    }
}

/// Apache XML-RPC's fault code for every fault it raises itself.
const FAULT_CODE: i32 = 0;

/// What the simulator answers to one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reply {
    /// `[success, text]`.
    Result(bool, String),
    /// A `<fault>`: unknown method, wrong parameters, unreadable request.
    Fault(i32, String),
}

impl Reply {
    fn ok() -> Reply {
        Reply::Result(true, text::OK.to_owned())
    }

    fn err(text: impl Into<String>) -> Reply {
        Reply::Result(false, text.into())
    }

    pub fn succeeded(&self) -> bool {
        matches!(self, Reply::Result(true, _))
    }
}

/// A decoded call: method name and parameters.
pub(crate) struct Call {
    pub method: String,
    pub params: Vec<Value>,
}

impl Call {
    /// The MAC the call is about, normalised when valid (for the call log).
    pub fn mac(&self) -> Option<String> {
        if !self.method.starts_with("redirect.") || self.method == "redirect.addServer" {
            return None;
        }
        match self.params.first() {
            Some(Value::String(raw)) => Some(parse_mac(raw).unwrap_or_else(|| raw.clone())),
            _ => None,
        }
    }
}

pub(crate) fn parse(body: &[u8]) -> Result<Call, String> {
    let text = std::str::from_utf8(body).map_err(|_| "request is not UTF-8".to_owned())?;
    let call = MethodCall::from_xml(text).map_err(|e| e.to_string())?;
    Ok(Call {
        method: call.name.into_owned(),
        params: call.params,
    })
}

pub(crate) fn unreadable(reason: &str) -> Reply {
    Reply::Fault(
        FAULT_CODE,
        format!("Failed to parse XML-RPC request: {reason}"),
    )
}

/// Runs one call against the store, for this account.
pub(crate) fn dispatch(store: &mut Store, call: &Call) -> Reply {
    let p = &call.params;
    let arity = |allowed: &[usize]| {
        if allowed.contains(&p.len()) {
            Ok(())
        } else {
            Err(no_matching(&call.method, p))
        }
    };
    let result = match call.method.as_str() {
        "redirect.addServer" => arity(&[2]).and_then(|()| {
            let (name, url) = (string(call, 0)?, string(call, 1)?);
            Ok(add_server(store, name, url))
        }),
        "redirect.registerDevice" => arity(&[2, 3]).and_then(|()| {
            let (mac, server) = (string(call, 0)?, string(call, 1)?);
            let over = p.get(2).map(is_override).transpose()?.unwrap_or(false);
            Ok(register(store, mac, server, None, over))
        }),
        "redirect.registerDeviceWithUniqueUrl" => arity(&[4]).and_then(|()| {
            let (mac, server, url) = (string(call, 0)?, string(call, 1)?, string(call, 2)?);
            let over = p.get(3).map(is_override).transpose()?.unwrap_or(false);
            Ok(register(store, mac, server, Some(url), over))
        }),
        "redirect.deRegisterDevice" => {
            arity(&[1]).and_then(|()| Ok(deregister(store, string(call, 0)?)))
        }
        "redirect.checkDevice" => arity(&[1]).and_then(|()| Ok(check(store, string(call, 0)?))),
        other => Err(Reply::Fault(
            FAULT_CODE,
            format!("No such handler: {other}"),
        )),
    };
    result.unwrap_or_else(|fault| fault)
}

fn no_matching(method: &str, params: &[Value]) -> Reply {
    Reply::Fault(
        FAULT_CODE,
        format!(
            "No method matching arguments: {method}({} parameters)",
            params.len()
        ),
    )
}

/// Parameter `i` as a string (typed `<string>` or untyped `<value>`): anything else is a fault.
fn string(call: &Call, i: usize) -> Result<&str, Reply> {
    match call.params.get(i) {
        Some(Value::String(s)) => Ok(s),
        _ => Err(no_matching(&call.method, &call.params)),
    }
}

/// `isOverride`: `"1"` overrides, `"0"` does not. Clients send a string; an `<int>` or
/// `<boolean>` is accepted too.
fn is_override(value: &Value) -> Result<bool, Reply> {
    match value {
        Value::String(s) => Ok(s.trim() == "1"),
        Value::Integer(i) => Ok(*i == 1),
        Value::Boolean(b) => Ok(*b),
        _ => Err(Reply::Fault(
            FAULT_CODE,
            "isOverride must be \"0\" or \"1\"".to_owned(),
        )),
    }
}

fn add_server(store: &mut Store, name: &str, url: &str) -> Reply {
    if !valid_server_name(name) {
        return Reply::err(text::BAD_SERVER_NAME);
    }
    if !valid_url(url) {
        return Reply::err(text::BAD_URL);
    }
    if store.server_by_name(name).is_some() {
        return Reply::err(text::SERVER_NAME_USED);
    }
    store.add_server(name, url, None, None, None, Owner::ThisAccount);
    Reply::ok()
}

fn register(
    store: &mut Store,
    raw_mac: &str,
    server_name: &str,
    unique_url: Option<&str>,
    over: bool,
) -> Reply {
    let Some(mac) = parse_mac(raw_mac) else {
        return Reply::err(text::invalid_macs(raw_mac));
    };
    let server_id = match store.server_by_name(server_name) {
        Some(s) if s.owner == Owner::ThisAccount => s.id.clone(),
        _ => return Reply::err(text::INVALID_SERVER),
    };
    if let Some(url) = unique_url
        && !valid_url(url)
    {
        return Reply::err(text::BAD_URL);
    }
    match store.device_by_mac(&mac).map(|d| d.owner) {
        Some(Owner::ThisAccount) if !over => return Reply::err(text::existing_macs(raw_mac)),
        Some(Owner::OtherAccount) if !over => return Reply::err(text::owned_elsewhere(&mac)),
        _ => {}
    }
    store.put_device(StoredDevice {
        id: String::new(),
        mac,
        server_id: Some(server_id),
        unique_url: unique_url.map(str::to_owned),
        auth_name: None,
        password: None,
        remark: None,
        owner: Owner::ThisAccount,
    });
    Reply::ok()
}

fn deregister(store: &mut Store, raw_mac: &str) -> Reply {
    let own = parse_mac(raw_mac)
        .and_then(|mac| store.device_by_mac(&mac))
        .filter(|d| d.owner == Owner::ThisAccount)
        .map(|d| d.id.clone());
    match own {
        Some(id) => {
            store.remove_devices(&[id]);
            Reply::ok()
        }
        None => Reply::err(text::invalid_macs(raw_mac)),
    }
}

fn check(store: &Store, raw_mac: &str) -> Reply {
    let Some(mac) = parse_mac(raw_mac) else {
        return Reply::err(text::invalid_macs(raw_mac));
    };
    let status = match store.device_by_mac(&mac).map(|d| d.owner) {
        Some(Owner::ThisAccount) => text::REGISTERED,
        Some(Owner::OtherAccount) => text::REGISTERED_ELSEWHERE,
        None => text::UNREGISTERED,
    };
    Reply::Result(true, status.to_owned())
}

const HEAD: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
<methodResponse xmlns:ex=\"http://ws.apache.org/xmlrpc/namespaces/extensions\">";

/// The XML of a reply, compact (no whitespace between elements).
pub(crate) fn render(reply: &Reply) -> String {
    match reply {
        Reply::Result(ok, text) => format!(
            "{HEAD}<params><param><value><array><data><value><boolean>{}</boolean></value>\
             <value>{}</value></data></array></value></param></params></methodResponse>",
            u8::from(*ok),
            escape(text)
        ),
        Reply::Fault(code, text) => format!(
            "{HEAD}<fault><value><struct><member><name>faultCode</name><value><i4>{code}</i4>\
             </value></member><member><name>faultString</name><value>{}</value></member>\
             </struct></value></fault></methodResponse>",
            escape(text)
        ),
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(body: &str) -> Reply {
        let mut store = Store::default();
        dispatch(&mut store, &parse(body.as_bytes()).unwrap())
    }

    #[test]
    fn decodes_cdata_untyped_and_whitespace() {
        let c = parse(
            b"<?xml version='1.0' encoding='UTF-8'?>\n<methodCall>\n <methodName>redirect.checkDevice</methodName>\n <params>\n  <param>\n   <value>\n    <string><![CDATA[0C-11-05-00-21-89]]></string>\n   </value>\n  </param>\n </params>\n</methodCall>",
        )
        .unwrap();
        assert_eq!(c.method, "redirect.checkDevice");
        assert_eq!(c.params, [Value::String("0C-11-05-00-21-89".into())]);
        assert_eq!(c.mac().as_deref(), Some("0c1105002189"));
        let c = parse(
            b"<methodCall><methodName>redirect.addServer</methodName><params><param><value>a b</value></param><param><value><string>http://x/</string></value></param></params></methodCall>",
        )
        .unwrap();
        assert_eq!(
            c.params,
            [
                Value::String("a b".into()),
                Value::String("http://x/".into())
            ]
        );
        assert!(parse(b"not xml").is_err());
    }

    #[test]
    fn unknown_method_and_wrong_arity_are_faults() {
        let r = call(
            "<methodCall><methodName>redirect.nope</methodName><params></params></methodCall>",
        );
        assert_eq!(
            r,
            Reply::Fault(0, "No such handler: redirect.nope".to_owned())
        );
        let r = call(
            "<methodCall><methodName>redirect.checkDevice</methodName><params></params></methodCall>",
        );
        assert!(matches!(r, Reply::Fault(0, _)), "{r:?}");
    }

    #[test]
    fn renders_untyped_text_compact_and_escaped() {
        assert_eq!(
            render(&Reply::Result(false, "Error:Invalid MAC(s):<x>&".into())),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><methodResponse xmlns:ex=\"http://ws.apache.org/xmlrpc/namespaces/extensions\"><params><param><value><array><data><value><boolean>0</boolean></value><value>Error:Invalid MAC(s):&lt;x&gt;&amp;</value></data></array></value></param></params></methodResponse>"
        );
        let fault = render(&Reply::Fault(0, "No such handler: x".into()));
        assert!(fault.contains("<fault><value><struct><member><name>faultCode</name><value><i4>0</i4></value></member><member><name>faultString</name><value>No such handler: x</value></member></struct></value></fault>"));
        // A standard XML-RPC reader reads both.
        let value = dxr::MethodResponse::from_xml(&render(&Reply::ok()))
            .unwrap()
            .value;
        assert_eq!(
            value,
            Value::Array(vec![Value::Boolean(true), Value::String("OK".into())])
        );
        let fault = dxr::FaultResponse::from_xml(&render(&Reply::Fault(0, "f".into()))).unwrap();
        assert_eq!(fault.fault.string(), "f");
    }

    #[test]
    fn owned_elsewhere_shape() {
        let a = text::owned_elsewhere("805ec0112233");
        let b = text::owned_elsewhere("805ec0112234");
        assert!(text::is_owned_elsewhere(&a), "{a}");
        assert_ne!(a, b);
        for other in [
            text::INVALID_SERVER,
            text::BAD_SERVER_NAME,
            text::BAD_URL,
            text::SERVER_NAME_USED,
            "Error:Invalid MAC(s):805ec0112233",
        ] {
            assert!(!text::is_owned_elsewhere(other), "{other}");
        }
    }
}
