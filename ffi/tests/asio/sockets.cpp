// Asio sockets on its Windows backend: closing a socket or an acceptor with
// a pending operation (operation_aborted), cancel(), eof after the peer's
// shutdown, async_read_until, async_connect to a closed port
// (connection_refused), UDP async_send_to/async_receive_from, the resolver,
// address strings, socket options, and a socket's readiness wait
// (async_wait, which goes through Asio's select-based reactor), and
// release() handing the native socket back.
#include <asio.hpp>

#include <chrono>
#include <string>
#include <thread>

#include "check.hpp"

using asio::ip::tcp;
using asio::ip::udp;
using namespace std::chrono_literals;

static const auto loopback = asio::ip::address_v4::loopback();

// A connected pair through a listening acceptor.
static void connect_pair(asio::io_context &io, tcp::socket &a, tcp::socket &b) {
    tcp::acceptor acc(io, tcp::endpoint(loopback, 0));
    a.connect(acc.local_endpoint());
    acc.accept(b);
}

static void close_with_pending() {
    asio::io_context io;
    tcp::socket a(io), b(io);
    connect_pair(io, a, b);

    // A pending read ends with operation_aborted when its socket is closed.
    char buf[16];
    asio::error_code read_ec = asio::error::would_block;
    b.async_read_some(asio::buffer(buf), [&](asio::error_code ec, std::size_t n) {
        read_ec = ec;
        CHECK(n == 0);
    });
    // A pending accept ends with operation_aborted when the acceptor is closed.
    tcp::acceptor acc(io, tcp::endpoint(loopback, 0));
    tcp::socket never(io);
    asio::error_code accept_ec = asio::error::would_block;
    acc.async_accept(never, [&](asio::error_code ec) { accept_ec = ec; });
    // cancel() ends a pending read the same way and leaves the socket usable.
    char buf2[16];
    asio::error_code cancel_ec = asio::error::would_block;
    a.async_read_some(asio::buffer(buf2), [&](asio::error_code ec, std::size_t) { cancel_ec = ec; });

    asio::post(io, [&] {
        b.close();
        acc.close();
        a.cancel();
    });
    io.run();
#if defined(_WIN32)
    // As on Windows (Vista and later): closesocket ends a pending WSARecv with
    // ERROR_CONNECTION_ABORTED, which Asio 1.22 passes on unmapped (it maps
    // only XP's ERROR_NETNAME_DELETED to operation_aborted).
    CHECK_EC(read_ec, asio::error_code(ERROR_CONNECTION_ABORTED, asio::system_category()));
#else
    CHECK_EC(read_ec, asio::error::operation_aborted);
#endif
    CHECK_EC(accept_ec, asio::error::operation_aborted);
    CHECK_EC(cancel_ec, asio::error::operation_aborted);
    CHECK(a.is_open());
}

// cancel() before close() (the portable way): operation_aborted.
static void cancel_then_close() {
    asio::io_context io;
    tcp::socket a(io), b(io);
    connect_pair(io, a, b);
    char buf[16];
    asio::error_code ec = asio::error::would_block;
    b.async_read_some(asio::buffer(buf), [&](asio::error_code e, std::size_t) { ec = e; });
    asio::post(io, [&] {
        b.cancel();
        b.close();
    });
    io.run();
    CHECK_EC(ec, asio::error::operation_aborted);
}

// release() (ntdll's NtSetInformationFile with
// FileReplaceCompletionInformation): a pending read ends with
// operation_aborted, and the native socket is the caller's, still connected.
static void release_with_pending() {
    asio::io_context io;
    tcp::socket a(io), b(io);
    connect_pair(io, a, b);
    char buf[16];
    asio::error_code read_ec = asio::error::would_block;
    b.async_read_some(asio::buffer(buf), [&](asio::error_code e, std::size_t) { read_ec = e; });
    SOCKET native = INVALID_SOCKET;
    asio::post(io, [&] {
        asio::error_code ec;
        native = b.release(ec);
        CHECK(!ec);
    });
    io.run();
    CHECK_EC(read_ec, asio::error::operation_aborted);
    REQUIRE(native != INVALID_SOCKET);
    CHECK(!b.is_open());
    asio::write(a, asio::buffer("after", 5));
    char got[5];
    int n = 0;
    while (n < 5) {
        int r = recv(native, got + n, 5 - n, 0);
        REQUIRE(r > 0);
        n += r;
    }
    CHECK(std::string(got, 5) == "after");
    CHECK(closesocket(native) == 0);
}

static void eof_and_read_until() {
    asio::io_context io;
    tcp::socket a(io), b(io);
    connect_pair(io, a, b);
    asio::write(a, asio::buffer(std::string("first line\nsecond\nrest")));
    a.shutdown(tcp::socket::shutdown_send);

    asio::streambuf sb;
    std::string line1, line2;
    asio::error_code eof_ec;
    std::size_t rest_n = 0;
    asio::async_read_until(b, sb, '\n', [&](asio::error_code ec, std::size_t n) {
        CHECK(!ec);
        line1.assign(asio::buffers_begin(sb.data()), asio::buffers_begin(sb.data()) + n);
        sb.consume(n);
        asio::async_read_until(b, sb, "\n", [&](asio::error_code ec, std::size_t n) {
            CHECK(!ec);
            line2.assign(asio::buffers_begin(sb.data()), asio::buffers_begin(sb.data()) + n);
            sb.consume(n);
            // No more newlines: the read runs into the peer's shutdown.
            asio::async_read_until(b, sb, '\n', [&](asio::error_code ec, std::size_t n) {
                eof_ec = ec;
                rest_n = n;
            });
        });
    });
    io.run();
    CHECK(line1 == "first line\n");
    CHECK(line2 == "second\n");
    CHECK_EC(eof_ec, asio::error::eof);
    CHECK(rest_n == 0);
    CHECK(sb.size() == 4);  // "rest" stays in the buffer

    // A plain read after the peer's shutdown: eof at once.
    char c;
    asio::error_code ec;
    CHECK(b.read_some(asio::buffer(&c, 1), ec) == 0);
    CHECK_EC(ec, asio::error::eof);
}

static void connect_refused() {
    asio::io_context io;
    // A port with nobody listening: bind a socket, note its port, close it.
    unsigned short port;
    {
        tcp::acceptor probe(io, tcp::endpoint(loopback, 0));
        port = probe.local_endpoint().port();
    }
    tcp::socket s(io);
    asio::error_code ec = asio::error::would_block;
    s.async_connect(tcp::endpoint(loopback, port), [&](asio::error_code e) { ec = e; });
    io.run();
    CHECK_EC(ec, asio::error::connection_refused);

    // The same through the range form of async_connect.
    io.restart();
    tcp::socket s2(io);
    std::vector<tcp::endpoint> eps{tcp::endpoint(loopback, port)};
    asio::error_code ec2 = asio::error::would_block;
    asio::async_connect(s2, eps, [&](asio::error_code e, const tcp::endpoint &) { ec2 = e; });
    io.run();
    CHECK_EC(ec2, asio::error::connection_refused);
}

static void udp_exchange() {
    asio::io_context io;
    udp::socket server(io, udp::endpoint(loopback, 0));
    udp::socket client(io, udp::endpoint(loopback, 0));
    auto server_ep = server.local_endpoint();
    char in[64];
    udp::endpoint from;
    std::string got_by_server, got_by_client;
    server.async_receive_from(asio::buffer(in), from, [&](asio::error_code ec, std::size_t n) {
        CHECK(!ec);
        got_by_server.assign(in, n);
        // Reply to the sender's address.
        server.async_send_to(asio::buffer(std::string("pong:") + got_by_server), from,
                             [&](asio::error_code ec, std::size_t n) {
                                 CHECK(!ec);
                                 CHECK(n == 9);
                             });
    });
    char in2[64];
    udp::endpoint from2;
    client.async_send_to(asio::buffer("ping", 4), server_ep, [&](asio::error_code ec, std::size_t n) {
        CHECK(!ec);
        CHECK(n == 4);
        client.async_receive_from(asio::buffer(in2), from2, [&](asio::error_code ec, std::size_t n) {
            CHECK(!ec);
            got_by_client.assign(in2, n);
        });
    });
    io.run();
    CHECK(got_by_server == "ping");
    CHECK(from == client.local_endpoint());
    CHECK(got_by_client == "pong:ping");
    CHECK(from2 == server_ep);
}

static void resolver_and_addresses() {
    asio::io_context io;
    tcp::resolver r(io);
    asio::error_code ec;
    auto results = r.resolve("127.0.0.1", "8080", ec);
    CHECK(!ec);
    CHECK(results.size() >= 1);
    if (!results.empty()) {
        tcp::endpoint ep = *results.begin();
        CHECK(ep.address() == loopback);
        CHECK(ep.port() == 8080);
    }
    bool async_done = false;
    r.async_resolve("localhost", "80", [&](asio::error_code ec, tcp::resolver::results_type res) {
        CHECK(!ec);
        bool loop = false;
        for (auto &e : res)
            loop = loop || e.endpoint().address().is_loopback();
        CHECK(loop);
        async_done = true;
    });
    io.run();
    CHECK(async_done);
    r.resolve("no-such-host.invalid", "80", ec);
    CHECK(ec == asio::error::host_not_found || ec == asio::error::host_not_found_try_again);

    // gethostname.
    CHECK(!asio::ip::host_name().empty());

    // Address strings (WSAStringToAddressA / WSAAddressToStringA).
    CHECK(asio::ip::make_address("10.1.2.3").to_string() == "10.1.2.3");
    CHECK(asio::ip::make_address("::1").to_string() == "::1");
    CHECK(asio::ip::make_address("fe80::1%3").to_v6().scope_id() == 3);
    CHECK(asio::ip::make_address("2001:db8::1%3").to_string() == "2001:db8::1%3");
    asio::ip::make_address("300.1.2.3", ec);
    CHECK(ec == asio::error::invalid_argument);
    CHECK(asio::ip::make_address_v4("255.255.255.255").to_uint() == 0xffffffffu);
}

static void options_and_wait() {
    asio::io_context io;
    tcp::socket a(io), b(io);
    connect_pair(io, a, b);
    a.set_option(tcp::no_delay(true));
    tcp::no_delay nd;
    a.get_option(nd);
    CHECK(nd.value());
    a.set_option(asio::socket_base::receive_buffer_size(65536));
    asio::socket_base::receive_buffer_size rbs;
    a.get_option(rbs);
    CHECK(rbs.value() > 0);
    CHECK(a.remote_endpoint() == b.local_endpoint());
    CHECK(a.available() == 0);

    // A readiness wait (Asio's select reactor on Windows): ends once data is there.
    asio::error_code wait_ec = asio::error::would_block;
    b.async_wait(tcp::socket::wait_read, [&](asio::error_code ec) { wait_ec = ec; });
    asio::steady_timer t(io, 30ms);
    t.async_wait([&](asio::error_code) { asio::write(a, asio::buffer("x", 1)); });
    io.run();
    CHECK(!wait_ec);
    CHECK(b.available() == 1);
    // Non-blocking mode: nothing more to read is would_block.
    char c[2];
    b.read_some(asio::buffer(c, 1));
    b.non_blocking(true);
    asio::error_code ec;
    b.read_some(asio::buffer(c, 1), ec);
    CHECK_EC(ec, asio::error::would_block);
}

int main() {
    close_with_pending();
    cancel_then_close();
    release_with_pending();
    eof_and_read_until();
    connect_refused();
    udp_exchange();
    resolver_and_addresses();
    options_and_wait();
    return done("sockets");
}
