//! A scripted OpenAI-compatible chat-completions server: a tiny HTTP/1.1 server on
//! 127.0.0.1 whose answer to each request comes from a script function, which sees
//! the problem tag, sample (from the seed), turn and how often that (tag, sample,
//! turn) was asked before. Every request is logged.

use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the script sees of one request.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The problem tag: the text between `[[` and `]]` in the first user message.
    pub tag: String,
    /// The seed sent (the sample index, base seed 0).
    pub sample: u64,
    /// Feedback turn: (messages - 2) / 2.
    pub turn: usize,
    /// How many earlier requests had the same (tag, sample, turn).
    pub nth: usize,
    /// The request body.
    pub body: Value,
    /// The `Authorization` header, if sent.
    pub auth: Option<String>,
    /// When it arrived.
    pub at: Instant,
}

/// How the server answers.
pub enum Reply {
    /// A chat completion with this assistant text and usage (10 in, 5 out).
    Answer(String),
    /// Any status, extra headers and raw body.
    Raw(u16, Vec<(String, String)>, String),
    /// Read the request, then say nothing for this long and close.
    Hang(Duration),
    /// [`Reply::Answer`] after a delay (a slow teacher).
    AnswerAfter(Duration, String),
}

type Script = Arc<dyn Fn(&Seen) -> Reply + Send + Sync>;

/// Requests seen so far per (tag, sample, turn).
type Counts = Arc<Mutex<HashMap<(String, u64, usize), usize>>>;

/// A running scripted server.
pub struct ScriptServer {
    pub addr: SocketAddr,
    pub log: Arc<Mutex<Vec<Seen>>>,
}

impl ScriptServer {
    /// Starts a server on 127.0.0.1 (an OS-chosen port) in the current runtime.
    pub async fn start(script: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let counts: Counts = Arc::new(Mutex::new(HashMap::new()));
        let script: Script = Arc::new(script);
        let (log2, counts2) = (Arc::clone(&log), Arc::clone(&counts));
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (script, log, counts) =
                    (Arc::clone(&script), Arc::clone(&log2), Arc::clone(&counts2));
                tokio::spawn(async move {
                    let _ = serve(stream, script, log, counts).await;
                });
            }
        });
        ScriptServer { addr, log }
    }

    /// The base URL to give the teacher.
    pub fn url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Requests received so far.
    pub fn requests(&self) -> Vec<Seen> {
        self.log.lock().unwrap().clone()
    }
}

async fn serve(
    mut stream: TcpStream,
    script: Script,
    log: Arc<Mutex<Vec<Seen>>>,
    counts: Counts,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let header_end = loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).to_string();
    let header = |name: &str| {
        head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    };
    let length: usize = header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while buf.len() < header_end + length {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body: Value = serde_json::from_slice(&buf[header_end..header_end + length]).unwrap();
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    let first_user = messages
        .iter()
        .find(|m| m["role"] == "user")
        .and_then(|m| m["content"].as_str())
        .unwrap_or("");
    let tag = first_user
        .split("[[")
        .nth(1)
        .and_then(|r| r.split("]]").next())
        .unwrap_or("")
        .to_string();
    let sample = body["seed"].as_u64().unwrap_or(0);
    let turn = messages.len().saturating_sub(2) / 2;
    let nth = {
        let mut c = counts.lock().unwrap();
        let e = c.entry((tag.clone(), sample, turn)).or_insert(0);
        *e += 1;
        *e - 1
    };
    let seen = Seen {
        tag,
        sample,
        turn,
        nth,
        body: body.clone(),
        auth: header("authorization"),
        at: Instant::now(),
    };
    log.lock().unwrap().push(seen.clone());
    let mut reply = script(&seen);
    if let Reply::AnswerAfter(delay, content) = reply {
        tokio::time::sleep(delay).await;
        reply = Reply::Answer(content);
    }
    let (status, headers, text) = match reply {
        Reply::AnswerAfter(..) => unreachable!("replaced above"),
        Reply::Hang(d) => {
            tokio::time::sleep(d).await;
            return Ok(());
        }
        Reply::Raw(status, headers, text) => (status, headers, text),
        Reply::Answer(content) => (
            200,
            Vec::new(),
            json!({
                "id": "x", "object": "chat.completion", "model": body["model"],
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": content}}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
            })
            .to_string(),
        ),
    };
    let mut out = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
        text.len()
    );
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(&text);
    stream.write_all(out.as_bytes()).await?;
    stream.shutdown().await
}
