//! A port that never associates a handle opens no kernel object: building
//! it, posting and getting leave this process's fd count unchanged (every C
//! port made for posts only is such a port). The backend opens with the
//! first handle. One test: fds are counted process-wide.

mod util;

use std::time::Duration;

use cport::{BackendChoice, BackendKind, Port};
use util::hostile::fd_count;

#[test]
fn a_port_without_handles_opens_no_fd() {
    let mut choices = vec![BackendChoice::Auto, BackendChoice::Epoll];
    if util::uring_or_skip() {
        choices.push(BackendChoice::Uring);
    }
    for choice in choices {
        let before = fd_count("self");
        let port: Port<u32, u32> = Port::builder().backend(choice).build().unwrap();
        let worker = {
            let port = port.clone();
            std::thread::spawn(move || port.get(Some(Duration::from_secs(10))).map(|p| p.value))
        };
        port.post(1, 0, 7).unwrap();
        assert_eq!(worker.join().unwrap().unwrap(), 7);
        port.post(1, 0, 8).unwrap();
        assert_eq!(port.get(Some(Duration::ZERO)).unwrap().value, 8);
        assert_eq!(
            fd_count("self"),
            before,
            "{choice:?}: a port without handles opened an fd"
        );
        // The first handle opens the backend, which works as usual.
        let (listener, _) = util::listener();
        let h = port.associate(listener, 2).unwrap();
        assert!(fd_count("self") > before);
        let kind = port.backend();
        match choice {
            BackendChoice::Epoll => assert_eq!(kind, BackendKind::Epoll),
            BackendChoice::Uring => assert_eq!(kind, BackendKind::Uring),
            _ => {} // Auto: either
        }
        port.close_handle(h).unwrap();
        drop(port);
        assert_eq!(
            fd_count("self"),
            before,
            "{choice:?}: the backend's fds outlived the port"
        );
    }
}
