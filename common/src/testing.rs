//! Test support shared by the services' suites (feature `testing`, enabled
//! only in their dev-dependencies).

// Test support: a failure here is a broken test machine, and panicking with
// it is the clearest report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

/// A port on 127.0.0.1 that nothing listens on.
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A port that accepts connections and never says a word: a backend that
/// hangs rather than refuses.
pub async fn silent_port() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    port
}

/// A directory removed (with everything in it) when dropped.
#[derive(Debug)]
pub struct TempDir(pub PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
