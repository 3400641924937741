// A multi-threaded Asio TCP echo server (4 threads in io_context::run, a
// concurrency hint of 2) on Asio's Windows backend, driven by clients that
// check every byte: a 1 MiB exchange, a flood of concurrent clients, resets
// (abortive closes) in the middle of a session, half-closes (the client shuts
// down its sending side and still reads the whole echo, then end of stream).
// The server must survive all of it and still serve a last client.
#include <asio.hpp>

#include <array>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "check.hpp"

using asio::ip::tcp;

namespace {

std::atomic<int> g_sessions_ended{0};
std::atomic<int> g_session_errors{0};

class session : public std::enable_shared_from_this<session> {
public:
    explicit session(tcp::socket s) : socket_(std::move(s)) {}
    void start() { read(); }

private:
    void read() {
        auto self = shared_from_this();
        socket_.async_read_some(asio::buffer(data_), [this, self](asio::error_code ec, std::size_t n) {
            if (ec) {
                // eof after a half-close, a reset after an abortive close.
                if (ec != asio::error::eof && ec != asio::error::connection_reset &&
                    ec != asio::error::connection_aborted)
                    g_session_errors++;
                if (ec == asio::error::eof) {
                    asio::error_code ignored;
                    socket_.shutdown(tcp::socket::shutdown_send, ignored);
                }
                g_sessions_ended++;
                return;
            }
            asio::async_write(socket_, asio::buffer(data_, n), [this, self](asio::error_code ec, std::size_t) {
                if (ec) {
                    g_sessions_ended++;
                    return;
                }
                read();
            });
        });
    }

    tcp::socket socket_;
    std::array<char, 8192> data_;
};

void accept_loop(tcp::acceptor &acceptor) {
    acceptor.async_accept([&acceptor](asio::error_code ec, tcp::socket s) {
        if (ec) {
            CHECK_EC(ec, asio::error::operation_aborted);
            return;
        }
        std::make_shared<session>(std::move(s))->start();
        accept_loop(acceptor);
    });
}

std::vector<char> pattern(std::size_t n, unsigned seed) {
    std::vector<char> v(n);
    unsigned x = seed * 2654435761u + 1;
    for (auto &c : v) {
        x = x * 1103515245u + 12345u;
        c = static_cast<char>(x >> 16);
    }
    return v;
}

// Synchronous client: sends `n` bytes while reading the echo on another
// thread, then shuts down its sending side (half-close) and expects the
// whole echo followed by end of stream.
bool exchange(unsigned short port, std::size_t n, unsigned seed) {
    asio::io_context io;
    tcp::socket s(io);
    asio::error_code ec;
    s.connect(tcp::endpoint(asio::ip::address_v4::loopback(), port), ec);
    if (ec)
        return false;
    auto out = pattern(n, seed);
    std::vector<char> in(n);
    std::size_t got = 0;
    asio::error_code rec;
    std::thread reader([&] {
        got = asio::read(s, asio::buffer(in), rec);
    });
    asio::error_code wec;
    asio::write(s, asio::buffer(out), wec);
    s.shutdown(tcp::socket::shutdown_send, ec);
    reader.join();
    if (wec || rec || got != n || in != out) {
        std::fprintf(stderr, "exchange of %zu: write %d read %d got %zu same %d\n", n, wec.value(),
                     rec.value(), got, int(in == out));
        return false;
    }
    // The server echoed everything; after our half-close it closes its side too.
    char extra;
    std::size_t more = s.read_some(asio::buffer(&extra, 1), ec);
    if (ec != asio::error::eof || more != 0) {
        std::fprintf(stderr, "after the echo: %zu bytes, %d (%s)\n", more, ec.value(), ec.message().c_str());
        return false;
    }
    return true;
}

// Abortive close in the middle of a session (linger 0 → RST).
void reset_client(unsigned short port) {
    asio::io_context io;
    tcp::socket s(io);
    s.connect(tcp::endpoint(asio::ip::address_v4::loopback(), port));
    auto out = pattern(100000, 7);
    asio::write(s, asio::buffer(out));
    s.set_option(asio::socket_base::linger(true, 0));
    s.close();
}

}  // namespace

int main() {
    asio::io_context server_io(2);
    tcp::acceptor acceptor(server_io, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
    unsigned short port = acceptor.local_endpoint().port();
    accept_loop(acceptor);
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; i++)
        threads.emplace_back([&] { server_io.run(); });

    // 1 MiB, every byte checked.
    CHECK(exchange(port, 1 << 20, 1));

    // Resets.
    for (int i = 0; i < 20; i++)
        reset_client(port);

    // A flood: 32 clients at once, 64 KiB each.
    {
        std::atomic<int> ok{0};
        std::vector<std::thread> clients;
        for (unsigned i = 0; i < 32; i++)
            clients.emplace_back([&, i] {
                if (exchange(port, 64 << 10, 100 + i))
                    ok++;
            });
        for (auto &t : clients)
            t.join();
        CHECK(ok.load() == 32);
    }

    // Small half-closed exchanges, including an empty one.
    CHECK(exchange(port, 0, 3));
    CHECK(exchange(port, 1, 4));

    // The server survived: one more full client.
    CHECK(exchange(port, 300000, 5));

    // Every session ended (1 + 20 + 32 + 2 + 1), none with an unexpected error.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (g_sessions_ended.load() < 56 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    CHECK(g_sessions_ended.load() == 56);
    CHECK(g_session_errors.load() == 0);

    // Closing the acceptor ends the pending accept with operation_aborted,
    // and with no work left run() returns in every thread.
    asio::post(server_io, [&] { acceptor.close(); });
    for (auto &t : threads)
        t.join();
    return done("tcp_echo");
}
