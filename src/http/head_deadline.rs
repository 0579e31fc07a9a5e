//! A deadline for each HTTP/1 request head, counted from its first byte
//! (`http.header_read_timeout`), separate from how long a kept-alive connection may sit
//! idle (`http.idle_timeout`, hyper's own timer).
//!
//! hyper has one timer for both, so a short one would close the idle upstream connections
//! a reverse proxy keeps (nginx holds them 60 s), and a long one lets a client trickle its
//! headers for minutes (slowloris). This wrapper sees the bytes: the first byte after a
//! response starts a head, the blank line ending it stops the clock. HTTP/2 connections
//! (which start with the preface `PRI `) are left alone: their frames are not text heads.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// Where the connection is in its request/response cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Waiting for a request (hyper's idle timer applies).
    Idle,
    /// Inside a request head: the deadline runs.
    Head,
    /// After the head (body, handler, response): no deadline here.
    Rest,
    /// An HTTP/2 connection: never limited here.
    Off,
}

/// A stream whose HTTP/1 request heads must arrive within `limit` of their first byte.
pub struct HeadDeadline<S> {
    inner: S,
    limit: Duration,
    phase: Phase,
    /// Bytes of the connection seen so far, up to 4, to recognise the HTTP/2 preface.
    first_bytes: usize,
    /// Line feeds in a row at the end of the bytes read so far (carriage returns between
    /// them ignored): two end a head, as `\r\n\r\n` or the bare `\n\n` parsers accept.
    matched: usize,
    deadline: Pin<Box<Sleep>>,
}

impl<S> HeadDeadline<S> {
    /// Wraps a freshly accepted connection.
    pub fn new(inner: S, limit: Duration) -> Self {
        Self {
            inner,
            limit,
            phase: Phase::Idle,
            first_bytes: 0,
            matched: 0,
            deadline: Box::pin(tokio::time::sleep(limit)),
        }
    }

    /// A response is being written: the next byte read starts a new head. Not after an
    /// informational response (`100 Continue`), which the request's body follows.
    fn responded(&mut self, informational: bool) {
        if matches!(self.phase, Phase::Head | Phase::Rest) && !informational {
            self.phase = Phase::Idle;
        }
    }

    /// Follows the bytes just read through the phases.
    fn saw(&mut self, bytes: &[u8]) {
        const PREFACE: &[u8] = b"PRI ";
        for &byte in bytes {
            if self.first_bytes < PREFACE.len() {
                self.first_bytes += 1;
                if byte != PREFACE[self.first_bytes - 1] {
                    self.first_bytes = PREFACE.len();
                } else if self.first_bytes == PREFACE.len() {
                    self.phase = Phase::Off;
                }
            }
            match self.phase {
                Phase::Off => return,
                Phase::Idle if byte == b'\r' || byte == b'\n' => continue,
                Phase::Idle => {
                    self.phase = Phase::Head;
                    self.matched = 0;
                    self.deadline.as_mut().reset(Instant::now() + self.limit);
                }
                Phase::Head => {
                    self.matched = match byte {
                        b'\n' => self.matched + 1,
                        b'\r' => self.matched,
                        _ => 0,
                    };
                    if self.matched == 2 {
                        self.phase = Phase::Rest;
                    }
                }
                Phase::Rest => return,
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for HeadDeadline<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let new = buf.filled()[before..].to_vec();
                this.saw(&new);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            Poll::Pending if this.phase == Phase::Head => {
                ready!(this.deadline.as_mut().poll(cx));
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the request head did not arrive within http.header_read_timeout",
                )))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for HeadDeadline<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bytes: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.responded(bytes.starts_with(b"HTTP/1.1 1"));
        Pin::new(&mut self.inner).poll_write(cx, bytes)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let starts_informational = bufs
            .iter()
            .find(|b| !b.is_empty())
            .is_some_and(|b| b.starts_with(b"HTTP/1.1 1"));
        self.responded(starts_informational);
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wrapped() -> HeadDeadline<tokio::io::Empty> {
        HeadDeadline::new(tokio::io::empty(), Duration::from_secs(10))
    }

    #[tokio::test]
    async fn a_head_runs_from_its_first_byte_to_its_blank_line() {
        let mut d = wrapped();
        assert_eq!(d.phase, Phase::Idle);
        d.saw(b"GET / HTTP/1.1\r\nHost: a\r\n");
        assert_eq!(d.phase, Phase::Head);
        d.saw(b"\r");
        assert_eq!(d.phase, Phase::Head, "split across reads");
        d.saw(b"\nbody\r\n\r\n");
        assert_eq!(d.phase, Phase::Rest, "a body is not a head");
    }

    #[tokio::test]
    async fn blank_lines_between_requests_do_not_start_a_head() {
        let mut d = wrapped();
        d.saw(b"\r\n");
        assert_eq!(d.phase, Phase::Idle);
    }

    #[tokio::test]
    async fn bare_line_feeds_end_a_head_as_parsers_allow() {
        let mut d = wrapped();
        d.saw(b"GET / HTTP/1.1\nX: y\n");
        assert_eq!(d.phase, Phase::Head);
        d.saw(b"\n");
        assert_eq!(d.phase, Phase::Rest);
    }

    #[tokio::test]
    async fn a_response_ends_the_cycle_but_100_continue_does_not() {
        let mut d = wrapped();
        d.saw(b"POST / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n");
        d.responded(true);
        assert_eq!(d.phase, Phase::Rest);
        d.responded(false);
        assert_eq!(d.phase, Phase::Idle);
    }

    #[tokio::test]
    async fn http2_connections_are_left_alone() {
        let mut d = wrapped();
        d.saw(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
        assert_eq!(d.phase, Phase::Off);
        d.saw(b"\x00\x00\x12\x04");
        assert_eq!(d.phase, Phase::Off);
    }
}
