//! The C ABI, as a Windows program observes it: one C program per area
//! (`ffi/tests/c/*.c`), compiled against `include/win32` and libcport, run on
//! each backend (io_uring where available, and epoll). Every program checks
//! return values, last-error values and the OVERLAPPED pointer of every
//! packet, and exits non-zero at the first mismatch, printing file:line and
//! both values.

mod common;

use std::process::Command;

/// GQCS / GQCSEx / PQCS return matrix, LIFO release, the concurrency limit
/// with Sleep, close waking waiters with 735, stale handles.
#[test]
fn port() {
    common::run_c_test("port");
}

/// Association rules, WSARecv/WSASend with OVERLAPPED results, inline
/// completion, skip-on-success, zero-byte receive, hEvent low bit, graceful close.
#[test]
fn sockets() {
    common::run_c_test("sockets");
}

/// AcceptEx (+ first data), GetAcceptExSockaddrs, ConnectEx (+ first data,
/// refused → 1225), association after issue.
#[test]
fn acceptex_connectex() {
    common::run_c_test("acceptex");
}

/// closesocket → 1236 / 995, CancelIoEx → 995 then 1168, CancelIo per thread,
/// thread exit, peer reset → 64 then 10054, closesocket waking blocked calls.
#[test]
fn cancel_close_reset() {
    common::run_c_test("cancel");
}

/// Overlapped files at 64-bit offsets, EOF → 38, GetOverlappedResult, sync handles.
#[test]
fn files() {
    common::run_c_test("files");
}

/// WSASendTo / WSARecvFrom with the source address, datagram boundaries.
#[test]
fn udp() {
    common::run_c_test("udp");
}

/// Completions with no thread in GetQueuedCompletionStatus: reaped by the
/// threads that wait on an event, on an OVERLAPPED, with
/// WSAWaitForMultipleEvents or in a Sleep(0) loop, also after the port is
/// closed; a process whose handles are associated has no thread of cport's;
/// a handle never associated starts the engine port's reaper.
#[test]
fn reaping_without_a_port_waiter() {
    common::run_c_test("reaping");
}

/// A WSARecv on a TCP socket io_uring reported empty skips its inline
/// attempt until a sync point (a wait, a sleep, another socket call).
#[test]
fn known_empty_sockets() {
    common::run_c_test("known_empty");
}

/// Events, waits, WSAGetOverlappedResult with and without wait.
#[test]
fn events() {
    common::run_c_test("events");
}

/// NULL / stale / foreign / wrong-type handles, double close, bad buffers,
/// the panic boundary, no fd leaked.
#[test]
fn bad_input() {
    common::run_c_test("badinput");
}

/// The classic server shape under load: workers, pre-posted AcceptEx,
/// WSARecv → WSASend echo, shutdown by posted packets; clients check every byte.
#[test]
fn echo_server_under_load() {
    common::run_c_test("echo");
}

/// The headers from C++ (`extern "C"`, no C-only constructs): the socket and
/// AcceptEx programs compiled as C++ run as well.
#[test]
fn headers_work_from_cxx() {
    for name in ["sockets", "acceptex"] {
        let src = common::root().join("ffi/tests/c").join(format!("{name}.c"));
        let exe = common::compile_with(&src, &format!("{name}_cxx"), true, &[]);
        let out = common::run(&exe, "auto", &[], std::time::Duration::from_secs(30));
        assert!(
            out.status.success() && String::from_utf8_lossy(&out.stdout).contains("ok"),
            "{name} as C++: {out:?}"
        );
    }
}

/// The build-tree command line: `cc -I include/win32 prog.c -L target/<profile>
/// -lcport -lpthread` (which picks the shared library) builds, and runs with
/// `LD_LIBRARY_PATH=target/<profile>`, where the build put the
/// `libcport.so.<major>` link the program asks for by the library's SONAME.
#[test]
fn build_tree_command_line_with_the_shared_library() {
    common::libcport();
    let dir = common::profile_dir();
    assert!(
        dir.join("libcport.so").exists(),
        "libcport.so missing in {}",
        dir.display()
    );
    let exe = common::out_dir().join("port_shared");
    let out = Command::new("cc")
        .arg("-I")
        .arg(common::root().join("include/win32"))
        .arg("-I")
        .arg(common::root().join("ffi/tests/c"))
        .arg(common::root().join("ffi/tests/c/port.c"))
        .arg("-o")
        .arg(&exe)
        .arg("-L")
        .arg(&dir)
        .args(["-lcport", "-lpthread"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(&exe)
        .env("LD_LIBRARY_PATH", &dir)
        .output()
        .unwrap();
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("port: ok"),
        "{out:?}"
    );
}

/// CreateThread and thread handles (waits, exit codes, suspend, close while
/// running, exit frees the port slot), recursive and contended critical
/// sections (a contended Enter is a blocking section), the process heap,
/// Interlocked*, and their bad input.
#[test]
fn threads_critical_sections_heap() {
    common::run_c_test("threads");
}

/// Console control handlers: the chain (newest first until TRUE), their own
/// threads (a blocked handler does not hold up the next event),
/// GenerateConsoleCtrlEvent, real signals, the CTRL_C ignore flag; and, from
/// outside, how the process ends: an unhandled CTRL_C (signal or generated)
/// ends it by SIGINT, CTRL_SHUTDOWN (SIGTERM) and CTRL_CLOSE (SIGHUP) end it
/// after the handler returns TRUE, a handled CTRL_BREAK (SIGQUIT) does not.
#[test]
fn console_control_handlers() {
    use std::os::unix::process::ExitStatusExt;
    use std::time::Duration;
    common::run_c_test("console");
    let exe = common::compile("console");
    let cases = [
        ("unhandled-int", libc::SIGINT, Some("declined 0"), None),
        ("generate", libc::SIGINT, None, None),
        ("term", libc::SIGTERM, Some("handled 6"), Some("declined")),
        ("hup", libc::SIGHUP, Some("handled 2"), Some("declined")),
    ];
    for (mode, sig, want, unwanted) in cases {
        let out = common::run(&exe, "auto", &[mode], Duration::from_secs(20));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.signal(),
            Some(sig),
            "{mode}: {:?}\nstdout:\n{stdout}\nstderr:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        if let Some(w) = want {
            assert!(stdout.contains(w), "{mode}: stdout {stdout:?}");
        }
        if let Some(u) = unwanted {
            assert!(!stdout.contains(u), "{mode}: stdout {stdout:?}");
        }
        assert!(!stdout.contains("still alive"), "{mode}: {stdout:?}");
    }
    let out = common::run(&exe, "auto", &["exitprocess"], Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(7), "exitprocess: {out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("exiting"));
    let out = common::run(&exe, "auto", &["quit"], Duration::from_secs(20));
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("survived"),
        "quit: {out:?}"
    );
}

/// strsafe.h, lstr*, GetVersionEx, tchar.h's _tmain, the macros, the clocks,
/// getnameinfo; and GetStdHandle + WriteFile / WriteConsoleA/W writing to a
/// redirected stdout (what arrives in the pipe is checked here).
#[test]
fn strings_versions_std_handles() {
    let exe = common::compile("strings");
    for backend in common::backends() {
        let out = common::run(&exe, backend, &[], std::time::Duration::from_secs(30));
        let (stdout, stderr) = common::assert_ran_ok(&out, backend, "strings: ok");
        assert!(
            stdout.contains("via WriteFile\nvia WriteConsole 7\nwide \u{e9}\n"),
            "{stdout:?}"
        );
        assert!(stderr.contains("stderr still works"), "{stderr:?}");
    }
}

/// cport_seh.h, force-included, in C and in C++ (where libstdc++'s own
/// `__try`/`__catch` must keep working): `__leave` out of loops and switches,
/// nesting, `__finally` on the normal path, `__except` never running.
#[test]
fn seh_header_in_c_and_cxx() {
    let src = common::root().join("ffi/tests/c/seh.c");
    for (cxx, name, want) in [
        (false, "seh", "seh (C): ok"),
        (true, "seh_cxx", "seh (C++): ok"),
    ] {
        let exe = common::compile_with(&src, name, cxx, &["-include", "cport_seh.h"]);
        let out = common::run(&exe, "auto", &[], std::time::Duration::from_secs(10));
        assert!(
            out.status.success() && String::from_utf8_lossy(&out.stdout).contains(want),
            "{name}: {out:?}"
        );
    }
}

/// Every header of `include/win32`, with `cport_seh.h` first and libstdc++
/// headers after them all, compiles as C and as C++ with `-Wall -Wextra
/// -Werror`; and every function the headers declare (`RET WINAPI Name(`,
/// `WSAAPI`, `PASCAL`) is referenced, so the program links only if libcport
/// exports each one.
#[test]
fn every_header_from_c_and_cxx_and_every_declaration_links() {
    let dir = common::root().join("include/win32");
    let mut headers: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".h"))
        .collect();
    headers.sort();
    headers.retain(|h| h != "tchar.h"); // refused with _UNICODE only; included below
    let mut functions = std::collections::BTreeSet::new();
    for h in &headers {
        let text = std::fs::read_to_string(dir.join(h)).unwrap();
        for conv in ["WINAPI ", "WSAAPI ", "PASCAL "] {
            for (i, _) in text.match_indices(conv) {
                let rest = &text[i + conv.len()..];
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() && rest[name.len()..].starts_with('(') {
                    functions.insert(name);
                }
            }
        }
    }
    assert!(
        functions.len() > 100,
        "found only {} declarations",
        functions.len()
    );
    let mut c = String::from("#include <cport_seh.h>\n");
    for h in &headers {
        if h != "cport_seh.h" {
            c += &format!("#include <{h}>\n");
        }
    }
    c += "#include <tchar.h>\n#include <stdio.h>\n";
    c += "#ifdef __cplusplus\n#include <algorithm>\n#include <map>\n#include <memory>\n\
          #include <string>\n#include <thread>\n#include <vector>\n#endif\n";
    c += "int main(void) {\n  void *fns[] = {\n";
    for f in &functions {
        c += &format!("    (void *)&{f},\n");
    }
    c += "  };\n  size_t n = 0;\n  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) n += fns[i] != NULL;\n";
    c += "#ifdef __cplusplus\n  std::vector<int> v{3, 1, 2};\n  std::sort(v.begin(), v.end());\n  \
          n += (size_t)(std::min)(v[0], 0) + (size_t)min(v[0], 0u);\n#endif\n";
    c += "  printf(\"linked %zu\\n\", n);\n  return 0;\n}\n";
    for cxx in [false, true] {
        let name = if cxx {
            "all_headers_cxx"
        } else {
            "all_headers"
        };
        let src = common::out_dir().join(format!("{name}.c"));
        std::fs::write(&src, &c).unwrap();
        let exe = common::compile_with(&src, name, cxx, &[]);
        let out = common::run(&exe, "auto", &[], std::time::Duration::from_secs(10));
        assert!(
            out.status.success()
                && String::from_utf8_lossy(&out.stdout)
                    .contains(&format!("linked {}", functions.len())),
            "{name}: {out:?}"
        );
    }
}

/// Windows' bind rules: rebinding a port whose connections sit in TIME_WAIT
/// (and serving at once), SO_EXCLUSIVEADDRUSE, addresses in use (listened on
/// or only bound), no two listeners, UDP; WSAAccept with and without a
/// condition function.
#[test]
fn bind_rules_and_wsaaccept() {
    common::run_c_test("bind");
}

/// closesocket completes every pending operation exactly once (AcceptEx 995,
/// receives and unread sends 1236), with nothing left behind: the fd and
/// handle counts return to where they were, twenty rounds in a row.
#[test]
fn closesocket_completes_everything_and_leaks_nothing() {
    common::run_c_test("closeall");
}

/// The C library's blocking calls that libcport sees (ffi/README.md, "Blocking
/// calls the port sees"); each is the main thread's wait in `blocking.c`.
const SEEN_CALLS: [&str; 21] = [
    "pthread_join",
    "cond_wait",
    "cond_timedwait",
    "cond_clockwait",
    "mutex_lock",
    "rwlock_rdlock",
    "rwlock_wrlock",
    "sem_wait",
    "sem_timedwait",
    "nanosleep",
    "clock_nanosleep",
    "usleep",
    "sleep",
    "read",
    "recv",
    "recvfrom",
    "poll",
    "select",
    "accept",
    "accept4",
    "connect",
];

/// A thread associated with a port (its GetQueuedCompletionStatus returned)
/// that then waits in a C library call gives up its slot meanwhile: with
/// concurrency 1, the main thread checks the port with GQCS(0), posts quit
/// packets and waits for its two workers in `pthread_join` (and in each other
/// call libcport sees); the workers get the packets instead of timing out.
/// Linked statically and dynamically.
#[test]
fn libc_blocking_calls_release_the_slot() {
    use std::time::Duration;
    let exe = common::compile("blocking");
    let shared = common::compile_shared("blocking");
    for backend in common::backends() {
        for call in SEEN_CALLS {
            let want = format!("blocking {call}: ok");
            let out = common::run(&exe, backend, &[call], Duration::from_secs(30));
            common::assert_ran_ok(&out, &format!("{call} on {backend}, static"), &want);
            let out = common::run_shared(&shared, backend, &[call], Duration::from_secs(30));
            common::assert_ran_ok(&out, &format!("{call} on {backend}, shared"), &want);
        }
    }
}

/// A thread ends while running after a packet, after a time-out, cancelled
/// inside a wrapped wait, by pthread_exit, or without ever using the port;
/// after each, fresh threads find the count exact (a packet releases one
/// waiter, a second waits while it runs and is released when it blocks).
#[test]
fn thread_exit_in_each_state_keeps_the_count() {
    use std::time::Duration;
    let exe = common::compile("blocking");
    let shared = common::compile_shared("blocking");
    for backend in common::backends() {
        let out = common::run(&exe, backend, &["exits"], Duration::from_secs(60));
        common::assert_ran_ok(&out, &format!("exits on {backend}"), "blocking exits: ok");
        let out = common::run_shared(&shared, backend, &["exits"], Duration::from_secs(60));
        common::assert_ran_ok(
            &out,
            &format!("exits on {backend}, shared"),
            "blocking exits: ok",
        );
    }
}

/// C++'s waits go through libstdc++'s versioned references to the C
/// library and are seen as well: `std::thread::join` and
/// `std::condition_variable::wait` on a thread that counts as running on a
/// port of concurrency 1 let a worker take its packet. Static and shared.
#[test]
fn cxx_joins_and_condition_variables_release_the_slot() {
    use std::time::Duration;
    let src = common::root().join("ffi/tests/c/blocking_cxx.cpp");
    let exe = common::compile_with(&src, "blocking_cxx", true, &[]);
    let shared = common::compile_shared_with(&src, "blocking_cxx_shared", true);
    for backend in common::backends() {
        let out = common::run(&exe, backend, &[], Duration::from_secs(30));
        common::assert_ran_ok(
            &out,
            &format!("C++ on {backend}, static"),
            "blocking (C++): ok",
        );
        let out = common::run_shared(&shared, backend, &[], Duration::from_secs(30));
        common::assert_ran_ok(
            &out,
            &format!("C++ on {backend}, shared"),
            "blocking (C++): ok",
        );
    }
}

/// SRW locks: modes, TryAcquire, SRWLOCK_INIT, readers and writers under
/// contention, contended acquires freeing the port slot.
#[test]
fn srw_locks() {
    common::run_c_test("srwlock");
}

/// Condition variables: timeouts → FALSE + 1460 with the lock held again in
/// its mode, Wake/WakeAll, a bounded queue under a CS and under an SRW lock,
/// sleeps freeing the port slot.
#[test]
fn condition_variables() {
    common::run_c_test("condvar");
}

/// One-time initialisation: ExecuteOnce from many threads (once, same
/// context), failure and retry, Begin/Complete sync and async with every
/// flag, refused combinations, waiting for another's init freeing the slot.
#[test]
fn init_once() {
    common::run_c_test("initonce");
}

/// Semaphores: counts, previous counts, ERROR_TOO_MANY_POSTS, bad
/// parameters, wait-any/wait-all, many consumers, the wait freeing the slot,
/// no handle leaked.
#[test]
fn semaphores() {
    common::run_c_test("semaphore");
}

/// Mutexes: ownership and recursion, ERROR_NOT_OWNER, WAIT_ABANDONED when
/// the owner exits (single, already waiting, wait-any, wait-all), Ex flags,
/// contention, the wait freeing the slot.
#[test]
fn mutexes() {
    common::run_c_test("mutex");
}

/// Interlocked SLists: Windows x64 header/entry layout, push/pop/flush
/// return values, depth, many threads over one pool (no entry lost or
/// duplicated).
#[test]
fn slists() {
    common::run_c_test("slist");
}

/// WaitOnAddress: different value → at once, timeouts → FALSE + 1460, sizes,
/// single/all wake-ups, a ping-pong counter, the wait freeing the slot.
#[test]
fn wait_on_address() {
    common::run_c_test("waitonaddress");
}

/// TLS and FLS: per-thread values, last error 0 on Get, free and re-alloc
/// reading NULL, bad indexes, running out (259), FLS callbacks at thread
/// exit (before the handle is signalled) and at FlsFree for every thread.
#[test]
fn thread_and_fiber_local_storage() {
    common::run_c_test("tls");
}

/// GetFileSize(Ex) (past 4 GiB, the 0xFFFFFFFF low part), SetEndOfFile at
/// the file pointer, FlushFileBuffers, write access, GetFileType for files,
/// devices, directories, sockets and non-files.
#[test]
fn file_information() {
    common::run_c_test("fileinfo");
}

/// VirtualAlloc/VirtualFree (alignment, reserve/commit/decommit/release,
/// refused arguments, a NO_BUFFERING buffer), FormatMessageA/W with system
/// messages, LocalAlloc/LocalFree, GetSystemTimeAsFileTime, SwitchToThread;
/// MessageBoxA/W write "caption: text" to stderr and return IDOK.
#[test]
fn memory_messages_and_system() {
    let exe = common::compile("memory");
    for backend in common::backends() {
        let out = common::run(&exe, backend, &[], std::time::Duration::from_secs(30));
        let (_, stderr) = common::assert_ran_ok(&out, backend, "memory: ok");
        assert!(
            stderr.contains("cport test: disk full\nError: wide text\n"),
            "{stderr:?}"
        );
    }
}

/// Thread-pool work: simple callbacks, one callback per submit, waiting
/// with and without cancelling, a one-thread private pool, environments,
/// cleanup groups (cancel callback per member), the callback-instance calls,
/// a callback blocked on a later one (the pool grows).
#[test]
fn threadpool_work() {
    common::run_c_test("threadpool_work");
}

/// Thread-pool timers: relative, absolute, zero and past due times,
/// periods, NULL cancelling, SetThreadpoolTimerEx's result,
/// IsThreadpoolTimerSet, waiting for callbacks, closing a periodic timer,
/// a timer in a cleanup group.
#[test]
fn threadpool_timer() {
    common::run_c_test("threadpool_timer");
}

/// Thread-pool waits: WAIT_OBJECT_0 and WAIT_TIMEOUT results, one callback
/// per set, zero and relative timeouts, cancelling with NULL and
/// SetThreadpoolWaitEx's result, semaphores, closing with a wait pending,
/// many waits on one event.
#[test]
fn threadpool_wait() {
    common::run_c_test("threadpool_wait");
}

/// Thread-pool I/O on sockets (AcceptEx, WSARecv, WSASend, a receive ended
/// by closesocket → 1236, a call failing at once + CancelThreadpoolIo) and
/// on a file (writes and reads at offsets, EOF → 38); the handle is
/// associated with the pool's port (a second association fails with 87).
#[test]
fn threadpool_io() {
    common::run_c_test("threadpool_io");
}

/// WSAPoll with Windows' POLL* values (readable, writable, listener, peer
/// closed → POLLHUP, timeout, POLLNVAL, bad arguments), SO_RCVTIMEO /
/// SO_SNDTIMEO as DWORD milliseconds (WSAETIMEDOUT), SIO_KEEPALIVE_VALS.
#[test]
fn wsapoll_timeouts_keepalive() {
    common::run_c_test("wsapoll");
}

/// WSAEventSelect + WSAEnumNetworkEvents: FD_WRITE once connected and
/// again only after WSAEWOULDBLOCK, FD_READ re-enabled by recv, FD_ACCEPT by
/// accept, FD_CONNECT (refused → WSAECONNREFUSED), FD_CLOSE once; the socket
/// non-blocking; the event reset by the enumeration; the watcher does not
/// wake up while nothing happens (its context switches, read from /proc).
#[test]
fn wsa_event_select() {
    common::run_c_test("wsaeventselect");
}

/// WSARecvMsg (WSAID_WSARECVMSG) and WSASendMsg on UDP: gathered buffers,
/// the source address, IP_PKTINFO control data, WSAEMSGSIZE + MSG_TRUNC, an
/// overlapped receive completing at once with its packet; overlapped
/// receives issued before the datagram is sent go pending and complete
/// through the port and through an event, with the source, the IP_PKTINFO
/// destination, MSG_TRUNC and MSG_CTRUNC written at completion.
#[test]
fn wsa_recv_msg_send_msg() {
    common::run_c_test("wsamsg");
}

/// Completion routines: WSARecv / WSASend with lpCompletionRoutine and
/// ReadFileEx / WriteFileEx at offsets run their routine on the issuing
/// thread only at an alertable wait (SleepEx → WAIT_IO_COMPLETION), with the
/// error, byte count and OVERLAPPED; a cancelled receive's routine gets 995;
/// alertable WSAWaitForMultipleEvents and GetQueuedCompletionStatusEx are
/// woken by a routine queued while they wait; no packet reaches a port; the
/// routine of a receive whose thread exited, and an APC queued to a thread
/// that exits, run nowhere and stay queued nowhere; QueueUserAPC to an
/// exited thread → ERROR_GEN_FAILURE.
#[test]
fn completion_routines() {
    common::run_c_test("completion_routines");
}

/// The synchronisation, storage, file-information, memory, thread-pool and
/// Winsock-model (WSAPoll, WSAEventSelect, WSARecvMsg) tests use only
/// the real Win32 API: they build for Windows with mingw-w64's own headers
/// (`-Wall -Wextra -Werror`; skipped, with a note, where it is not installed).
#[test]
fn sync_and_memory_tests_build_for_windows_with_mingw() {
    let gcc = "x86_64-w64-mingw32-gcc";
    if Command::new(gcc).arg("--version").output().is_err() {
        eprintln!("{gcc} not installed: the Windows build is not checked");
        return;
    }
    let names = [
        "srwlock",
        "condvar",
        "initonce",
        "semaphore",
        "mutex",
        "slist",
        "waitonaddress",
        "tls",
        "fileinfo",
        "memory",
        "threadpool_work",
        "threadpool_timer",
        "threadpool_wait",
        "threadpool_io",
        "wsapoll",
        "wsaeventselect",
        "wsamsg",
        "completion_routines",
    ];
    // All at once: each compile is one process.
    let builds: Vec<_> = names
        .iter()
        .map(|name| {
            let exe = common::out_dir().join(format!("{name}.exe"));
            let child = Command::new(gcc)
                .args(["-Wall", "-Wextra", "-Werror", "-O1", "-I"])
                .arg(common::root().join("ffi/tests/c"))
                .arg(common::root().join("ffi/tests/c").join(format!("{name}.c")))
                .arg("-o")
                .arg(&exe)
                .args(["-lws2_32", "-lsynchronization", "-lpthread"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            (name, exe, child)
        })
        .collect();
    for (name, exe, child) in builds {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{name} for Windows: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let head = std::fs::read(&exe).unwrap();
        assert_eq!(&head[..2], b"MZ", "{name}.exe is not a Windows executable");
    }
}

/// Waitable timers, thread-pool waits, APCs (an alertable object wait sleeps
/// until its APC comes), select with Windows' fd_set,
/// module lookup, version checks, address strings, BCryptGenRandom, serial
/// ports on a pseudo-terminal, named pipes (refused), _snwprintf.
#[test]
fn kernel32_extensions() {
    common::run_c_test("kernel32_ext");
}
