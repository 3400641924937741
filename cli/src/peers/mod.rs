//! The echo servers `cport bench` measures: cport on each backend, and peers
//! written without cport (tokio with one thread, a plain epoll loop, a plain
//! io_uring loop). Each runs in a child process (`cport serve-peer`).

mod epoll_echo;
mod tokio_echo;
mod uring_echo;

use std::io::Write;
use std::net::TcpListener;

use anyhow::{Context, Result};
use cport::BackendChoice;

/// Bytes one receive asks for, in every server.
pub const RECV_SIZE: usize = 16 * 1024;

/// An echo server `cport bench` can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServerKind {
    /// cport on its io_uring backend (1 worker thread, concurrency 1).
    CportUring,
    /// cport on io_uring with interrupting task work instead of cooperative
    /// task running (`Builder::uring_cooperative_task_run(false)`).
    CportUringIrq,
    /// cport on its epoll backend (1 worker thread, concurrency 1).
    CportEpoll,
    /// tokio, current_thread runtime (1 thread), a task per connection.
    Tokio,
    /// A plain level-triggered epoll loop on one thread.
    Epoll,
    /// A plain io_uring loop on one thread (io-uring crate).
    Uring,
}

impl ServerKind {
    /// The name on the command line.
    pub fn arg(self) -> &'static str {
        match self {
            ServerKind::CportUring => "cport-uring",
            ServerKind::CportUringIrq => "cport-uring-irq",
            ServerKind::CportEpoll => "cport-epoll",
            ServerKind::Tokio => "tokio",
            ServerKind::Epoll => "epoll",
            ServerKind::Uring => "uring",
        }
    }

    /// The name in tables.
    pub fn label(self) -> &'static str {
        match self {
            ServerKind::CportUring => "cport io_uring",
            ServerKind::CportUringIrq => "cport io_uring irq",
            ServerKind::CportEpoll => "cport epoll",
            ServerKind::Tokio => "tokio 1 thread",
            ServerKind::Epoll => "plain epoll",
            ServerKind::Uring => "plain io_uring",
        }
    }

    /// Whether the server runs on io_uring (and cannot run where it is
    /// refused).
    pub fn needs_io_uring(self) -> bool {
        matches!(
            self,
            ServerKind::CportUring | ServerKind::CportUringIrq | ServerKind::Uring
        )
    }

    pub fn is_cport(self) -> bool {
        matches!(
            self,
            ServerKind::CportUring | ServerKind::CportUringIrq | ServerKind::CportEpoll
        )
    }
}

fn announce(listener: &TcpListener, what: &str) -> Result<()> {
    let addr = listener.local_addr()?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "listening on {addr}")?;
    writeln!(out, "{what}")?;
    out.flush()?;
    Ok(())
}

/// Runs server `kind` on `listener` (for the cport kinds, until SIGTERM; the
/// peers run until killed).
pub fn serve(kind: ServerKind, listener: TcpListener, workers: usize) -> Result<()> {
    match kind {
        ServerKind::CportUring | ServerKind::CportUringIrq | ServerKind::CportEpoll => {
            let backend = if kind == ServerKind::CportEpoll {
                BackendChoice::Epoll
            } else {
                BackendChoice::Uring
            };
            let opts = crate::echo::EchoOptions {
                workers,
                concurrency: workers,
                backend,
                cooperative: kind != ServerKind::CportUringIrq,
                json: false,
            };
            let stats = crate::echo::serve(listener, &opts)?;
            eprintln!("cport echo: {stats}");
            Ok(())
        }
        ServerKind::Tokio => {
            announce(&listener, "tokio current_thread echo")?;
            tokio_echo::serve(listener).context("tokio echo server")
        }
        ServerKind::Epoll => {
            announce(&listener, "plain epoll echo loop")?;
            epoll_echo::serve(listener).context("epoll echo loop")
        }
        ServerKind::Uring => {
            announce(&listener, "plain io_uring echo loop")?;
            uring_echo::serve(listener).context("io_uring echo loop")
        }
    }
}
