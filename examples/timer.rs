//! Timers on a completion port: packets queued after a delay, one of them
//! cancelled (its value comes back and its packet never arrives), and the
//! others taken by `get` in deadline order.
//!
//! ```text
//! cargo run --example timer
//! ```

use std::time::{Duration, Instant};

use cport::{GetError, Port};

fn main() -> std::io::Result<()> {
    let port: Port<&'static str, u32> = Port::builder().concurrency(1).build()?;
    let start = Instant::now();
    port.post_after(Duration::from_millis(60), "late", 0, 3)
        .map_err(|e| e.error)?;
    let cancelled = port
        .post_after(Duration::from_millis(30), "cancelled", 0, 2)
        .map_err(|e| e.error)?;
    port.post_after(Duration::from_millis(10), "early", 0, 1)
        .map_err(|e| e.error)?;
    assert_eq!(
        port.cancel_timer(cancelled),
        Some(2),
        "the value comes back"
    );

    let mut order = Vec::new();
    loop {
        match port.get(Some(Duration::from_millis(200))) {
            Ok(p) => {
                println!(
                    "{:>4} ms: {} ({})",
                    start.elapsed().as_millis(),
                    p.key,
                    p.value
                );
                order.push(p.value);
            }
            Err(GetError::TimedOut) => break,
            Err(e) => return Err(e.into()),
        }
    }
    assert_eq!(order, [1, 3], "deadline order, without the cancelled timer");
    assert!(start.elapsed() >= Duration::from_millis(60));
    println!("timers fired in order: {order:?}");
    Ok(())
}
