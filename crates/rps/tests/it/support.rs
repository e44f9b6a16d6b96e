//! A minimal HTTP/1.1 responder on 127.0.0.1:0 standing in for RPS: it records every request
//! (method, target, headers, body) and answers what the test's handler says. One request per
//! connection (`Connection: close`), which is all the clients need. Not an RPS simulator:
//! the canned answers live in each test.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rps::{RpsAccount, RpsApi};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// One request as the fake server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    /// Header names lower-cased, in arrival order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }

    pub fn query(&self) -> Vec<(String, String)> {
        match self.target.split_once('?') {
            None => Vec::new(),
            Some((_, q)) => q
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((k, v)) => (k.to_owned(), v.to_owned()),
                    None => (pair.to_owned(), String::new()),
                })
                .collect(),
        }
    }

    pub fn body_str(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// What the fake server does with a request.
pub enum Reply {
    Respond {
        status: u16,
        content_type: &'static str,
        body: String,
    },
    /// Read the request, never answer (until the test is long over).
    Hang,
}

impl Reply {
    pub fn xml(body: impl Into<String>) -> Reply {
        Reply::Respond {
            status: 200,
            content_type: "text/xml",
            body: body.into(),
        }
    }

    pub fn json(body: serde_json::Value) -> Reply {
        Reply::Respond {
            status: 200,
            content_type: "application/json",
            body: body.to_string(),
        }
    }

    pub fn status(status: u16, body: impl Into<String>) -> Reply {
        Reply::Respond {
            status,
            content_type: "text/plain",
            body: body.into(),
        }
    }
}

type Handler = dyn Fn(&Seen) -> Reply + Send + Sync;

pub struct FakeRps {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl FakeRps {
    pub async fn start(handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> FakeRps {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let log = Arc::clone(&seen);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, Arc::clone(&handler), Arc::clone(&log)));
            }
        });
        FakeRps { addr, seen }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    pub fn account(&self, api: RpsApi, path: &str) -> RpsAccount {
        RpsAccount {
            api,
            endpoint: self.url(path),
            username: USER.into(),
            secret: SECRET.into(),
        }
    }
}

pub const USER: &str = "acme-rps-user";
pub const SECRET: &str = "S3cret-Account-Password";
/// A phone's URL token and HTTP password, which must never show up in what we record.
pub const TOKEN: &str = "TokTokTok0123456789abcdef";
pub const PHONE_PASSWORD: &str = "Phone-Http-Pw-42";

pub fn target() -> rps::RedirectTarget {
    rps::RedirectTarget {
        server_name: "pbx.example.com".into(),
        unique_url: Some(format!("https://prov.example.com/prov/{TOKEN}/")),
        auth_name: Some("805ec0112233".into()),
        password: Some(PHONE_PASSWORD.into()),
    }
}

pub fn mac() -> rps::Mac {
    rps::Mac::parse("80:5E:C0:11:22:33").unwrap()
}

/// The caller-built client: 1 s total timeout, as the brief's timeout test needs.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap()
}

async fn serve(stream: TcpStream, handler: Arc<Handler>, log: Arc<Mutex<Vec<Seen>>>) {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).await.unwrap_or(0) == 0 {
        return;
    }
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let target = parts.next().unwrap_or_default().to_owned();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    let length: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).await.is_err() {
        return;
    }
    let seen = Seen {
        method,
        target,
        headers,
        body,
    };
    let reply = handler(&seen);
    log.lock().unwrap().push(seen);
    match reply {
        Reply::Hang => tokio::time::sleep(Duration::from_secs(30)).await,
        Reply::Respond {
            status,
            content_type,
            body,
        } => {
            let head = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = write.write_all(head.as_bytes()).await;
            let _ = write.write_all(body.as_bytes()).await;
            let _ = write.shutdown().await;
        }
    }
}

/// `[success, text]` with the text untyped, as RPS writes it.
pub fn xml_answer(success: bool, text: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<methodResponse><params><param><value><array><data>\
         <value><boolean>{}</boolean></value><value>{text}</value></data></array></value></param></params></methodResponse>",
        u8::from(success)
    )
}
