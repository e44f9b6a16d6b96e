//! A tiny hand-rolled HTTP/1.1 provisioning server on 127.0.0.1:0 for the simulator's own
//! end-to-end tests: static files by path, some paths behind Digest (checked with nc counting).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub user_agent: String,
    pub authorization: Option<String>,
    pub body: String,
}

#[derive(Default)]
pub struct State {
    /// path -> body, served with 200.
    pub files: HashMap<String, String>,
    /// path prefix -> (user, password): requests under it need Digest.
    pub protected: Vec<(String, String, String)>,
    /// Highest nc seen per nonce; a replayed or reordered nc is refused.
    pub last_nc: HashMap<String, u32>,
    pub log: Vec<Seen>,
    pub next_nonce: u32,
}

pub struct FakeServer {
    pub addr: SocketAddr,
    pub state: Arc<Mutex<State>>,
}

impl FakeServer {
    pub async fn start() -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let shared = Arc::clone(&state);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, Arc::clone(&shared)));
            }
        });
        FakeServer { addr, state }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn put_file(&self, path: &str, body: &str) {
        self.state
            .lock()
            .unwrap()
            .files
            .insert(path.to_owned(), body.to_owned());
    }

    pub fn protect(&self, prefix: &str, user: &str, password: &str) {
        self.state.lock().unwrap().protected.push((
            prefix.to_owned(),
            user.to_owned(),
            password.to_owned(),
        ));
    }

    pub fn log(&self) -> Vec<Seen> {
        self.state.lock().unwrap().log.clone()
    }

    pub fn file(&self, path: &str) -> Option<String> {
        self.state.lock().unwrap().files.get(path).cloned()
    }
}

async fn serve(stream: TcpStream, state: Arc<Mutex<State>>) {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).await.unwrap_or(0) == 0 {
            return;
        }
        let mut parts = request_line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_owned();
        let path = parts.next().unwrap_or_default().to_owned();
        let mut headers = HashMap::new();
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
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
            }
        }
        let length: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).await.is_err() {
            return;
        }
        let seen = Seen {
            method,
            path,
            user_agent: headers.get("user-agent").cloned().unwrap_or_default(),
            authorization: headers.get("authorization").cloned(),
            body: String::from_utf8_lossy(&body).into_owned(),
        };
        let (status, extra, body) = respond(&state, &seen);
        state.lock().unwrap().log.push(seen);
        let reason = match status {
            200 => "OK",
            201 => "Created",
            401 => "Unauthorized",
            _ => "Not Found",
        };
        let head = format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Length: {}\r\nContent-Type: text/plain\r\n{extra}\r\n",
            body.len()
        );
        if write.write_all(head.as_bytes()).await.is_err()
            || write.write_all(body.as_bytes()).await.is_err()
        {
            return;
        }
    }
}

fn respond(state: &Mutex<State>, req: &Seen) -> (u16, String, String) {
    let mut state = state.lock().unwrap();
    let protection = state
        .protected
        .iter()
        .find(|(prefix, _, _)| req.path.starts_with(prefix.as_str()))
        .cloned();
    if let Some((_, user, password)) = protection
        && !digest_ok(&mut state, req, &user, &password)
    {
        state.next_nonce += 1;
        let challenge = format!(
            "WWW-Authenticate: Digest realm=\"yealink-prov\", qop=\"auth\", algorithm=MD5, nonce=\"n{}\", opaque=\"op\"\r\n",
            state.next_nonce
        );
        return (401, challenge, "Unauthorized\n".into());
    }
    if req.method == "PUT" {
        state.files.insert(req.path.clone(), req.body.clone());
        return (201, String::new(), String::new());
    }
    match state.files.get(&req.path) {
        Some(body) => (200, String::new(), body.clone()),
        None => (404, String::new(), "Not Found\n".into()),
    }
}

/// Server-side Digest check, recomputing the response with the client's own fields.
fn digest_ok(state: &mut State, req: &Seen, user: &str, password: &str) -> bool {
    let Some(header) = &req.authorization else {
        return false;
    };
    let Ok(mut given) = digest_auth::AuthorizationHeader::parse(header) else {
        return false;
    };
    if given.username != user || given.uri != req.path || given.opaque.as_deref() != Some("op") {
        return false;
    }
    let expected_response = given.response.clone();
    let context = digest_auth::AuthContext::new_with_method(
        user,
        password,
        req.path.as_str(),
        Option::<&[u8]>::None,
        digest_auth::HttpMethod::from(req.method.clone()),
    );
    given.digest(&context);
    if given.response != expected_response {
        return false;
    }
    let last = state.last_nc.entry(given.nonce.clone()).or_default();
    if given.nc <= *last {
        return false;
    }
    *last = given.nc;
    true
}
