// Asio's Windows handle classes on cport: windows::object_handle on an event
// (RegisterWaitForSingleObject underneath), windows::random_access_handle on
// a file (overlapped ReadFile/WriteFile at offsets), windows::stream_handle,
// serial_port (on a pseudo-terminal: DCB ↔ termios; on a file: the error
// Windows gives for a handle that is not a communications device), and
// connect_pipe (named pipes: ERROR_NOT_SUPPORTED).
#include <asio.hpp>

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "check.hpp"

using namespace std::chrono_literals;

static std::string temp_path(const char *tag) {
    return "/tmp/cport-asio-" + std::to_string(::getpid()) + "-" + tag;
}

static void object_handle_on_event() {
    asio::io_context io;
    HANDLE ev = CreateEventA(nullptr, FALSE, FALSE, nullptr);
    REQUIRE(ev != nullptr);
    asio::windows::object_handle oh(io, ev);

    // An async wait ends when another thread sets the event.
    asio::error_code ec1 = asio::error::would_block;
    auto start = std::chrono::steady_clock::now();
    std::chrono::steady_clock::duration waited{};
    oh.async_wait([&](asio::error_code ec) {
        ec1 = ec;
        waited = std::chrono::steady_clock::now() - start;
    });
    std::thread setter([&] {
        std::this_thread::sleep_for(50ms);
        SetEvent(ev);
    });
    io.run();
    setter.join();
    CHECK(!ec1);
    CHECK(waited >= 40ms);

    // Two waits on an auto-reset event: each SetEvent releases one.
    io.restart();
    int fired = 0;
    oh.async_wait([&](asio::error_code ec) { CHECK(!ec); fired++; });
    oh.async_wait([&](asio::error_code ec) { CHECK(!ec); fired++; });
    std::thread setter2([&] {
        SetEvent(ev);
        std::this_thread::sleep_for(50ms);
        SetEvent(ev);
    });
    io.run();
    setter2.join();
    CHECK(fired == 2);

    // cancel() ends a pending wait with operation_aborted.
    io.restart();
    asio::error_code ec2 = asio::error::would_block;
    oh.async_wait([&](asio::error_code ec) { ec2 = ec; });
    asio::post(io, [&] { oh.cancel(); });
    io.run();
    CHECK_EC(ec2, asio::error::operation_aborted);

    // A synchronous wait on a signalled event returns at once.
    SetEvent(ev);
    asio::error_code ec3;
    oh.wait(ec3);
    CHECK(!ec3);
    // The handle closes with the object (CloseHandle underneath).
    oh.close();
    CHECK(!oh.is_open());
}

static void random_access_file() {
    asio::io_context io;
    std::string path = temp_path("rah");
    HANDLE h = CreateFileA(path.c_str(), GENERIC_READ | GENERIC_WRITE, 0, nullptr, CREATE_ALWAYS,
                           FILE_FLAG_OVERLAPPED | FILE_FLAG_DELETE_ON_CLOSE, nullptr);
    REQUIRE(h != INVALID_HANDLE_VALUE);
    asio::windows::random_access_handle rah(io, h);

    // Writes at offsets (the second one far past the end: a hole of zeros).
    std::string a = "hello, offsets", b(100000, 'z');
    for (std::size_t i = 0; i < b.size(); i++)
        b[i] = static_cast<char>('a' + i % 26);
    std::size_t wrote_a = 0, wrote_b = 0;
    asio::async_write_at(rah, 4096, asio::buffer(a), [&](asio::error_code ec, std::size_t n) {
        CHECK(!ec);
        wrote_a = n;
        asio::async_write_at(rah, 1 << 20, asio::buffer(b), [&](asio::error_code ec, std::size_t n) {
            CHECK(!ec);
            wrote_b = n;
        });
    });
    io.run();
    CHECK(wrote_a == a.size());
    CHECK(wrote_b == b.size());

    // Reads at offsets see exactly what was written, and zeros in the hole.
    io.restart();
    std::string ra(a.size(), '\0'), rb(b.size(), '\0'), hole(16, 'x');
    asio::async_read_at(rah, 4096, asio::buffer(&ra[0], ra.size()), [&](asio::error_code ec, std::size_t n) {
        CHECK(!ec);
        CHECK(n == a.size());
    });
    asio::async_read_at(rah, 1 << 20, asio::buffer(&rb[0], rb.size()), [&](asio::error_code ec, std::size_t n) {
        CHECK(!ec);
        CHECK(n == b.size());
    });
    asio::async_read_at(rah, 8192, asio::buffer(&hole[0], hole.size()), [&](asio::error_code ec, std::size_t n) {
        CHECK(!ec);
        CHECK(n == hole.size());
    });
    // A read at the end of the file: eof.
    char past[8];
    asio::error_code eof_ec;
    rah.async_read_some_at((1 << 20) + b.size(), asio::buffer(past), [&](asio::error_code ec, std::size_t n) {
        eof_ec = ec;
        CHECK(n == 0);
    });
    io.run();
    CHECK(ra == a);
    CHECK(rb == b);
    CHECK(hole == std::string(16, '\0'));
    CHECK_EC(eof_ec, asio::error::eof);

    // Synchronous forms too.
    CHECK(rah.write_some_at(10, asio::buffer("XY", 2)) == 2);
    char xy[2];
    CHECK(asio::read_at(rah, 10, asio::buffer(xy)) == 2);
    CHECK(xy[0] == 'X' && xy[1] == 'Y');
    rah.close();
    CHECK(::access(path.c_str(), F_OK) != 0);  // FILE_FLAG_DELETE_ON_CLOSE
}

static void stream_handle_on_file() {
    asio::io_context io;
    std::string path = temp_path("sh");
    HANDLE h = CreateFileA(path.c_str(), GENERIC_READ | GENERIC_WRITE, 0, nullptr, CREATE_ALWAYS,
                           FILE_FLAG_OVERLAPPED, nullptr);
    REQUIRE(h != INVALID_HANDLE_VALUE);
    asio::windows::stream_handle sh(io, h);
    std::size_t n = 0;
    sh.async_write_some(asio::buffer("stream", 6), [&](asio::error_code ec, std::size_t k) {
        CHECK(!ec);
        n = k;
    });
    io.run();
    CHECK(n == 6);
    sh.close();
    char back[8] = {0};
    int fd = ::open(path.c_str(), O_RDONLY);
    CHECK(fd >= 0);
    CHECK(::read(fd, back, sizeof back) == 6);
    ::close(fd);
    CHECK(std::string(back) == "stream");
    ::unlink(path.c_str());
}

static void serial_ports() {
    asio::io_context io;

    // A device that does not exist: CreateFile's error.
    asio::serial_port none(io);
    asio::error_code ec;
    none.open("/dev/cport-no-such-tty", ec);
    CHECK_EC(ec, asio::error_code(ERROR_FILE_NOT_FOUND, asio::system_category()));

    // A file is not a communications device: GetCommState's error.
    std::string path = temp_path("notatty");
    FILE *f = std::fopen(path.c_str(), "w");
    REQUIRE(f != nullptr);
    std::fclose(f);
    asio::serial_port file_port(io);
    file_port.open(path, ec);
    CHECK_EC(ec, asio::error_code(ERROR_INVALID_FUNCTION, asio::system_category()));
    CHECK(!file_port.is_open());
    ::unlink(path.c_str());

    // A pseudo-terminal is one: settings go to its termios and come back.
    int master = ::posix_openpt(O_RDWR | O_NOCTTY);
    REQUIRE(master >= 0);
    REQUIRE(::grantpt(master) == 0 && ::unlockpt(master) == 0);
    std::string slave = ::ptsname(master);
    asio::serial_port sp(io);
    sp.open(slave, ec);
    CHECK(!ec);
    if (!ec) {
        sp.set_option(asio::serial_port_base::baud_rate(19200));
        sp.set_option(asio::serial_port_base::stop_bits(asio::serial_port_base::stop_bits::two));
        sp.set_option(asio::serial_port_base::flow_control(asio::serial_port_base::flow_control::software));
        asio::serial_port_base::baud_rate br;
        asio::serial_port_base::stop_bits sb;
        asio::serial_port_base::flow_control fc;
        sp.get_option(br);
        sp.get_option(sb);
        sp.get_option(fc);
        CHECK(br.value() == 19200);
        CHECK(sb.value() == asio::serial_port_base::stop_bits::two);
        CHECK(fc.value() == asio::serial_port_base::flow_control::software);
        // Recent Linux pseudo-terminals accept only 8 data bits without
        // parity (tcsetattr: EINVAL); a refused setting is
        // ERROR_INVALID_PARAMETER, an accepted one reads back.
        sp.set_option(asio::serial_port_base::character_size(7), ec);
        if (ec) {
            CHECK_EC(ec, asio::error_code(ERROR_INVALID_PARAMETER, asio::system_category()));
        } else {
            asio::serial_port_base::character_size cs;
            sp.get_option(cs);
            CHECK(cs.value() == 7);
        }
        // 1.5 stop bits do not exist on Linux: refused, as a driver refuses a setting.
        sp.set_option(asio::serial_port_base::stop_bits(asio::serial_port_base::stop_bits::onepointfive), ec);
        CHECK_EC(ec, asio::error_code(ERROR_INVALID_PARAMETER, asio::system_category()));
        sp.close();
    }
    ::close(master);
}

// asio::random_access_file and stream_file (Asio's file service: CreateFile,
// overlapped ReadFile/WriteFile, GetFileSizeEx, SetFilePointerEx,
// SetEndOfFile, FlushFileBuffers; NtFlushBuffersFileEx is looked up and
// absent, so sync_data falls back to FlushFileBuffers).
static void files() {
    asio::io_context io;
    std::string path = temp_path("file");
    asio::random_access_file f(io, path,
                               asio::file_base::read_write | asio::file_base::create | asio::file_base::truncate);
    CHECK(f.size() == 0);
    std::size_t n = 0;
    asio::async_write_at(f, 100, asio::buffer("0123456789", 10), [&](asio::error_code ec, std::size_t k) {
        CHECK(!ec);
        n = k;
    });
    io.run();
    CHECK(n == 10);
    CHECK(f.size() == 110);
    char back[4];
    CHECK(asio::read_at(f, 105, asio::buffer(back)) == 4);
    CHECK(std::string(back, 4) == "5678");
    f.resize(50);
    CHECK(f.size() == 50);
    f.sync_all();
    f.sync_data();
    f.close();

    asio::stream_file s(io, path, asio::file_base::read_write);
    CHECK(s.seek(10, asio::file_base::seek_set) == 10);
    asio::write(s, asio::buffer("ab", 2));
#if defined(_WIN32)
    // As on Windows: I/O on an overlapped handle does not move its file
    // pointer, and Asio's seek_cur asks the file pointer (SetFilePointerEx).
    CHECK(s.seek(0, asio::file_base::seek_cur) == 10);
#else
    CHECK(s.seek(0, asio::file_base::seek_cur) == 12);
#endif
    CHECK(s.seek(-2, asio::file_base::seek_end) == 48);
    s.close();
    ::unlink(path.c_str());
}

static void pipes() {
    asio::io_context io;
    asio::readable_pipe r(io);
    asio::writable_pipe w(io);
    asio::error_code ec;
    asio::connect_pipe(r, w, ec);
    // Named pipes (CreateNamedPipeW) do not exist on Linux.
    CHECK_EC(ec, asio::error_code(ERROR_NOT_SUPPORTED, asio::system_category()));
}

int main() {
    object_handle_on_event();
    random_access_file();
    stream_handle_on_file();
    serial_ports();
    files();
    pipes();
    return done("handles");
}
