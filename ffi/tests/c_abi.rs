//! The C ABI, as a Windows program observes it: one C program per area
//! (`ffi/tests/c/*.c`), compiled against `include/win32` and libcport, run on
//! each backend. Every program checks return values, last-error values and
//! the OVERLAPPED pointer of every packet, and exits non-zero on the first
//! mismatch (with file:line and the values).

mod common;

#[test]
fn port() {
    common::run_c_test("port");
}
