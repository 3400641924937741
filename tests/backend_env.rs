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
