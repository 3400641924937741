//! The one way a test reports that it did not run on io_uring because
//! io_uring is unavailable here (shared by the integration tests, the CLI's
//! tests and the crate's unit tests, so the test command can count them).
#![allow(dead_code)]

/// Reports that an io_uring test (or its io_uring part) did not run because
/// io_uring is unavailable: one line `cport-test-skip: io_uring unavailable:
/// <reason>` written straight to stderr (past the test harness's capture, so
/// the test command can count them). With `CPORT_REQUIRE_URING=1` in the
/// environment the test fails instead.
pub fn skip_uring(reason: &str) {
    let required = std::env::var_os("CPORT_REQUIRE_URING").is_some_and(|v| v == "1");
    match skip_line(reason, required) {
        Ok(line) => report(&line),
        Err(failure) => panic!("{failure}"),
    }
}

/// Reports a part of a test that could not run here and why: one line
/// `cport-test-skip: <what>: <why>` (see [`report`]).
pub fn skip_note(what: &str, why: &str) {
    report(&format!("cport-test-skip: {what}: {why}\n"));
}

/// Writes a skip line straight to stderr (past the test harness's capture)
/// and appends it to the file named by `CPORT_SKIP_LOG` when that is set
/// (`scripts/test.sh` sets it and lists every such line in its summary).
fn report(line: &str) {
    use std::io::Write;
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
    if let Some(path) = std::env::var_os("CPORT_SKIP_LOG") {
        // One write of the whole line on an O_APPEND file: lines from tests
        // running in parallel do not interleave.
        let logged = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(line.as_bytes()));
        if let Err(e) = logged {
            eprintln!("cport-test-skip: could not append to {path:?}: {e}");
        }
    }
}

/// The line [`skip_uring`] prints, or (when io_uring is `required`) the
/// message it fails with.
pub fn skip_line(reason: &str, required: bool) -> Result<String, String> {
    let reason = reason.replace('\n', " ");
    if required {
        return Err(format!(
            "io_uring unavailable ({reason}) and CPORT_REQUIRE_URING=1"
        ));
    }
    Ok(format!("cport-test-skip: io_uring unavailable: {reason}\n"))
}
