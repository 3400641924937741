// The echo server of scripts/bench-asio.sh: one source, built twice — with
// Asio's native Linux backend (c++ -O2 -std=c++17 echo_server.cpp -lpthread)
// and with Asio's Windows backend on cport (the same plus -D_WIN32
// -D_WIN32_WINNT=0x0A00 -I include/win32 -L target/release -lcport).
// Usage: echo_server [threads]   (default 1). Prints "listening on port N";
// exits on SIGINT.
#include <asio.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <thread>
#include <unistd.h>
#include <vector>

using asio::ip::tcp;

class session : public std::enable_shared_from_this<session> {
public:
    explicit session(tcp::socket s) : socket_(std::move(s)) {}
    void read() {
        auto self = shared_from_this();
        socket_.async_read_some(asio::buffer(buf_), [this, self](asio::error_code ec, std::size_t n) {
            if (ec)
                return;
            asio::async_write(socket_, asio::buffer(buf_, n), [this, self](asio::error_code ec, std::size_t) {
                if (!ec)
                    read();
            });
        });
    }

private:
    tcp::socket socket_;
    char buf_[4096];
};

static void accept_loop(tcp::acceptor &acceptor) {
    acceptor.async_accept([&acceptor](asio::error_code ec, tcp::socket s) {
        if (!ec) {
            s.set_option(tcp::no_delay(true));
            std::make_shared<session>(std::move(s))->read();
        }
        accept_loop(acceptor);
    });
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? std::atoi(argv[1]) : 1;
    if (threads < 1)
        threads = 1;
    std::signal(SIGINT, [](int) { _exit(0); });
    asio::io_context io(threads);
    tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
    std::printf("listening on port %u\n", static_cast<unsigned>(acceptor.local_endpoint().port()));
    std::fflush(stdout);
    accept_loop(acceptor);
    std::vector<std::thread> extra;
    for (int i = 1; i < threads; i++)
        extra.emplace_back([&] { io.run(); });
    io.run();
    for (auto &t : extra)
        t.join();
    return 0;
}
