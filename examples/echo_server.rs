//! An echo server on a completion port: worker threads take packets, each
//! received chunk is sent back, and a client checks what comes back.
//!
//! ```text
//! cargo run --example echo_server            # serves 4 clients, then exits
//! CPORT_BACKEND=epoll cargo run --example echo_server
//! ```

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};

use cport::{GetError, Handle, Port};

/// What an operation was for (the per-operation value).
enum Step {
    Accept,
    Recv(Handle),
    Send(Handle),
}

const CLIENTS: usize = 4;

fn main() -> std::io::Result<()> {
    let port: Port<u32, Step> = Port::builder().concurrency(2).build()?;
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let lh = port.associate(listener, 0)?;
    port.op(lh).accept(Step::Accept).map_err(|e| e.error)?;

    let workers: Vec<_> = (0..2)
        .map(|_| {
            let port = port.clone();
            std::thread::spawn(move || serve(&port, lh))
        })
        .collect();

    for i in 0..CLIENTS {
        let mut client = TcpStream::connect(addr)?;
        let message = format!("hello from client {i}");
        client.write_all(message.as_bytes())?;
        client.shutdown(std::net::Shutdown::Write)?;
        let mut echoed = String::new();
        client.read_to_string(&mut echoed)?;
        assert_eq!(echoed, message, "the server echoes what it got");
        println!("client {i}: {echoed:?}");
    }
    port.shutdown();
    for w in workers {
        w.join().expect("worker")?;
    }
    println!("echoed {CLIENTS} clients on {}", port.backend());
    Ok(())
}

/// A worker: runs packets until the port shuts down.
fn serve(port: &Port<u32, Step>, listener: Handle) -> std::io::Result<()> {
    loop {
        let mut p = match port.get(None) {
            Ok(p) => p,
            Err(GetError::Closed) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let aborted = p.result.as_ref().is_err_and(cport::is_aborted);
        match p.value {
            Step::Accept if aborted => {}
            Step::Accept => {
                let stream = p.take_stream().expect("an accept yields the stream");
                let h = port.associate(stream, 1)?;
                let _ = port.op(h).recv(Vec::with_capacity(4096), Step::Recv(h));
                // Accept the next client.
                let _ = port.op(listener).accept(Step::Accept);
            }
            Step::Recv(h) => match p.result {
                // Data: send it back (the received bytes are the Vec's length).
                Ok(n) if n > 0 => {
                    let buf = p.buf.take().expect("the recv buffer");
                    let _ = port.op(h).send(buf, Step::Send(h));
                }
                // End of stream, an error, or shutdown: done with this client.
                _ => {
                    let _ = port.close_handle(h);
                }
            },
            Step::Send(h) => {
                if p.result.is_ok() {
                    let _ = port.op(h).recv(Vec::with_capacity(4096), Step::Recv(h));
                } else {
                    let _ = port.close_handle(h);
                }
            }
        }
    }
}
