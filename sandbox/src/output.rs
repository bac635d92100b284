//! A capped in-memory output stream for the guest's stdout and stderr.
//!
//! Writing past the cap keeps the bytes that fit, marks the stream as overflowed and
//! traps the guest at once, so a program printing gigabytes costs the host at most the
//! cap (plus one write chunk of the guest's buffer) and ends as `OutputLimit`.

use std::sync::{Arc, Mutex, PoisonError};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

/// Largest write the guest is permitted in one call.
const WRITE_PERMIT: usize = 64 * 1024;

#[derive(Debug, Default)]
struct Buffer {
    bytes: Vec<u8>,
    overflowed: bool,
}

/// An output stream that keeps at most `cap` bytes. Clones share the buffer.
#[derive(Debug, Clone)]
pub(crate) struct CappedOutput {
    cap: usize,
    buffer: Arc<Mutex<Buffer>>,
}

/// The error a write past the cap traps the guest with.
#[derive(Debug, thiserror::Error)]
#[error("output limit of {cap} bytes exceeded")]
pub(crate) struct OutputLimitExceeded {
    cap: usize,
}

impl CappedOutput {
    pub(crate) fn new(cap: usize) -> Self {
        CappedOutput {
            cap,
            buffer: Arc::default(),
        }
    }

    /// The bytes kept so far and whether the guest wrote more than the cap.
    pub(crate) fn take(&self) -> (Vec<u8>, bool) {
        let mut buffer = self.buffer.lock().unwrap_or_else(PoisonError::into_inner);
        (std::mem::take(&mut buffer.bytes), buffer.overflowed)
    }

    fn append(&self, data: &[u8]) -> Result<(), OutputLimitExceeded> {
        let mut buffer = self.buffer.lock().unwrap_or_else(PoisonError::into_inner);
        let room = self.cap.saturating_sub(buffer.bytes.len());
        if data.len() > room {
            buffer.bytes.extend_from_slice(&data[..room]);
            buffer.overflowed = true;
            return Err(OutputLimitExceeded { cap: self.cap });
        }
        buffer.bytes.extend_from_slice(data);
        Ok(())
    }
}

#[async_trait::async_trait]
impl Pollable for CappedOutput {
    async fn ready(&mut self) {}
}

impl OutputStream for CappedOutput {
    fn write(&mut self, bytes: bytes::Bytes) -> Result<(), StreamError> {
        self.append(&bytes)
            .map_err(|e| StreamError::Trap(wasmtime::Error::new(e)))
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(WRITE_PERMIT)
    }
}

impl IsTerminal for CappedOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CappedOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(AsyncCapped(self.clone()))
    }
}

/// The `AsyncWrite` view of a [`CappedOutput`] (used by WASI p3 paths only).
struct AsyncCapped(CappedOutput);

impl tokio::io::AsyncWrite for AsyncCapped {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::task::Poll::Ready(
            self.0
                .append(buf)
                .map(|()| buf.len())
                .map_err(std::io::Error::other),
        )
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}
