//! Temp files for tests (shared by the integration tests and the crate's
//! unit tests).
#![allow(dead_code)]

/// An empty read-write temp file, already unlinked (nothing is left behind,
/// even when the test fails). `name` and the process and thread ids make its
/// path unique among the tests that run at once.
pub fn temp_file(name: &str) -> std::fs::File {
    let path = std::env::temp_dir().join(format!(
        "cport-{name}-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .unwrap();
    std::fs::remove_file(&path).unwrap();
    file
}
