//! Backend selection through `CPORT_BACKEND` (one test: the environment is
//! process-wide).

mod util;

use cport::{BackendKind, Port};

fn build() -> std::io::Result<Port<u32, u32>> {
    Port::builder().build()
}

#[test]
fn cport_backend_environment_variable_chooses_the_backend() {
    std::env::set_var("CPORT_BACKEND", "epoll");
    let port = build().unwrap();
    assert_eq!(port.backend(), BackendKind::Epoll);
    assert_eq!(port.fallback_reason(), None);

    std::env::set_var("CPORT_BACKEND", "uring");
    match build() {
        Ok(port) => assert_eq!(port.backend(), BackendKind::Uring),
        Err(e) => {
            assert!(!util::uring_available());
            assert!(e.to_string().contains("io_uring is unavailable"), "{e}");
        }
    }

    std::env::set_var("CPORT_BACKEND", "auto");
    let port = build().unwrap();
    if util::uring_available() {
        assert_eq!(
            (port.backend(), port.fallback_reason()),
            (BackendKind::Uring, None)
        );
    } else {
        assert_eq!(port.backend(), BackendKind::Epoll);
        assert!(port.fallback_reason().is_some());
    }

    std::env::set_var("CPORT_BACKEND", "kqueue");
    assert_eq!(
        build().unwrap_err().kind(),
        std::io::ErrorKind::InvalidInput
    );

    // The builder's explicit choice wins over the environment.
    let port: Port<u32, u32> = Port::builder()
        .backend(cport::BackendChoice::Epoll)
        .build()
        .unwrap();
    assert_eq!(port.backend(), BackendKind::Epoll);
    std::env::remove_var("CPORT_BACKEND");
}

/// The automatic fallback itself, with the kernel's refusal injected: in a
/// thread where io_uring_setup fails with ENOSYS (old kernel) or EPERM
/// (sysctl / seccomp), `auto` runs on epoll, says why, and works; forcing
/// io_uring there is an error, not a silent fallback.
#[test]
fn auto_falls_back_to_epoll_when_io_uring_setup_is_refused() {
    for (errno, why) in [
        (libc::ENOSYS, "kernel too old"),
        (libc::EPERM, "io_uring_disabled"),
        (libc::ENOMEM, "locked-memory"),
    ] {
        std::thread::spawn(move || {
            util::fail_syscall_in_this_thread(libc::SYS_io_uring_setup, errno);
            let port: Port<u32, u32> = Port::builder()
                .backend(cport::BackendChoice::Auto)
                .build()
                .unwrap();
            assert_eq!(port.backend(), BackendKind::Epoll);
            let reason = port.fallback_reason().expect("a reason").to_string();
            assert!(reason.contains(why), "{errno}: {reason}");
            // The fallback port does real I/O.
            use std::io::Write;
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let mut c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
            let h = port.associate(l.accept().unwrap().0, 1).unwrap();
            assert!(matches!(
                port.op(h).recv(vec![0; 4], 2),
                Ok(cport::Issued::Pending(_))
            ));
            c.write_all(b"ok").unwrap();
            let p = port.get(Some(std::time::Duration::from_secs(10))).unwrap();
            assert_eq!((p.value, p.result.unwrap()), (2, 2));
            let forced: std::io::Result<Port<u32, u32>> =
                Port::builder().backend(cport::BackendChoice::Uring).build();
            let Err(err) = forced else {
                panic!("forcing io_uring where it is refused must fail")
            };
            assert!(err.to_string().contains(why), "{err}");
        })
        .join()
        .unwrap();
    }
}

/// An io_uring test that finds io_uring unavailable reports one countable
/// line, or fails when `CPORT_REQUIRE_URING=1` asks for io_uring.
#[test]
fn io_uring_skips_are_counted_or_refused() {
    assert_eq!(
        util::skip::skip_line("EPERM\nby seccomp", false).unwrap(),
        "cport-test-skip: io_uring unavailable: EPERM by seccomp\n"
    );
    let failure = util::skip::skip_line("EPERM", true).unwrap_err();
    assert!(failure.contains("CPORT_REQUIRE_URING=1"), "{failure}");
}
