//! An async echo server on a completion port (feature `futures`): tokio
//! tasks accept, receive and send with awaited operations
//! (`port.op(h).awaitable()`), while a worker thread in `get` takes the
//! packets the tasks post to the same port — async code and IOCP workers on
//! one port. No thread polls for the tasks: the port's own driver does.
//!
//! ```text
//! cargo run --example async_echo --features futures
//! CPORT_BACKEND=epoll cargo run --example async_echo --features futures
//! ```

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};

use cport::Port;

const CLIENTS: usize = 4;

fn main() -> std::io::Result<()> {
    // The value of a posted packet: the bytes a task echoed (`None` ends the worker).
    let port: Port<u32, Option<usize>> = Port::builder().concurrency(2).build()?;
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let lh = port.associate(listener, 0)?;

    // An IOCP-style worker: sums what the tasks report through the queue.
    let worker = {
        let port = port.clone();
        std::thread::spawn(move || {
            let mut total = 0;
            while let Ok(p) = port.get(None) {
                match p.value {
                    Some(n) => total += n,
                    None => break,
                }
            }
            total
        })
    };

    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            std::thread::spawn(move || -> std::io::Result<String> {
                let mut client = TcpStream::connect(addr)?;
                let message = format!("hello from client {i}");
                client.write_all(message.as_bytes())?;
                client.shutdown(std::net::Shutdown::Write)?;
                let mut echoed = String::new();
                client.read_to_string(&mut echoed)?;
                assert_eq!(echoed, message, "the server echoes what it got");
                Ok(echoed)
            })
        })
        .collect();

    let rt = tokio::runtime::Builder::new_current_thread().build()?;
    rt.block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..CLIENTS {
            let mut accepted = port.op(lh).awaitable().accept(None).await;
            let stream = accepted.take_stream();
            accepted.result?;
            let stream = stream.expect("an accept yields the stream");
            let h = port.associate(stream, 1)?;
            let port = port.clone();
            tasks.push(tokio::spawn(async move {
                let mut echoed = 0;
                loop {
                    let p = port
                        .op(h)
                        .awaitable()
                        .recv(Vec::with_capacity(4096), None)
                        .await;
                    // End of stream (0 bytes) or an error: done with this client.
                    if !matches!(p.result, Ok(n) if n > 0) {
                        break;
                    }
                    let buf = p.buf.expect("the recv buffer");
                    let sent = port.op(h).awaitable().send(buf, None).await;
                    echoed += sent.result?;
                }
                port.close_handle(h)?;
                // Tell the worker, through the queue.
                port.post(1, echoed, Some(echoed)).ok();
                std::io::Result::Ok(())
            }));
        }
        for t in tasks {
            t.await.expect("echo task")?;
        }
        std::io::Result::Ok(())
    })?;

    for (i, c) in clients.into_iter().enumerate() {
        println!("client {i}: {:?}", c.join().expect("client")?);
    }
    port.post(0, 0, None).ok();
    let total = worker.join().expect("worker");
    println!(
        "async echoed {CLIENTS} clients, {total} bytes, on {}",
        port.backend()
    );
    Ok(())
}
