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
    use std::io::Write;
    let required = std::env::var_os("CPORT_REQUIRE_URING").is_some_and(|v| v == "1");
    match skip_line(reason, required) {
        Ok(line) => {
            let _ = std::io::stderr().lock().write_all(line.as_bytes());
        }
        Err(failure) => panic!("{failure}"),
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
