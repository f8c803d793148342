import CloudRecMetrics
import CloudRecSimulatorServer
@testable import CloudRecHTTP
import Foundation
import NIOCore
import NIOEmbedded
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The listener's connection limits against the real binary (SECURITY.md "Connections"): half-sent and idle
/// connections are closed within their timeouts, an answer given before its request was read closes its connection,
/// and a flood of idle connections at the cap leaves `/metrics` answering.
@Suite("Connection limits (--web.read-header-timeout, --web.idle-timeout, --web.max-connections)", .serialized)
struct ConnectionLimitTests {
    static let shortTimeouts = ["--web.read-header-timeout", "500ms", "--web.read-timeout", "1500ms", "--web.idle-timeout", "1s"]

    static func withExporter(_ arguments: [String], _ body: (DiscoveryTests.ExporterProcess) async throws -> Void) async throws {
        try await DiscoveryTests.withZego { _, config, directory in
            let exporter = try DiscoveryTests.ExporterProcess(
                config: config, storage: directory.appendingPathComponent("db/c.db").path, port: DiscoveryTests.freePort(),
                arguments: arguments)
            defer { exporter.stop() }
            try await exporter.waitReady()
            try await body(exporter)
        }
    }

    static func openDescriptors(_ pid: pid_t) -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? -1
    }

    static func metrics(_ exporter: DiscoveryTests.ExporterProcess) async throws -> Metrics {
        Metrics(text: String(decoding: try await Harness.request(exporter.base + "/metrics").body, as: UTF8.self))
    }

    static func closed(_ metrics: Metrics, _ reason: String) -> Double {
        metrics.value("cloudrec_http_connections_closed_total", ["reason": reason]) ?? -1
    }

    /// Seconds until the server closes `socket`, at most `limit`; nil when it stays open.
    static func secondsUntilClosed(_ socket: RawSocket, since start: Date, limit: Double = 10) -> Double? {
        socket.readUntilClosed(timeout: limit - Date().timeIntervalSince(start)).closed ? Date().timeIntervalSince(start) : nil
    }

    @Test("half-sent headers, silent and idle connections, and stalled bodies are closed within their timeouts")
    func timeouts() async throws {
        try await Self.withExporter(Self.shortTimeouts) { exporter in
            // Connected, nothing sent: the header timeout runs from the connection's start.
            var start = Date()
            let silent = try RawSocket(port: exporter.port)
            let silentSeconds = Self.secondsUntilClosed(silent, since: start)

            // Half a header (the slowloris pattern), with another byte before the timeout: still closed on time.
            start = Date()
            let halfSent = try RawSocket(port: exporter.port)
            try halfSent.send("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            try await Task.sleep(for: .milliseconds(200))
            try halfSent.send("X-Slow: 1\r\n")
            let halfSentSeconds = Self.secondsUntilClosed(halfSent, since: start)

            // One full request answered, then idle on a kept-alive connection: the idle timeout runs from the answer.
            let idle = try RawSocket(port: exporter.port)
            try idle.send("GET /-/healthy HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            let answer = try idle.readResponse(timeout: 5)
            start = Date()
            let idleSeconds = Self.secondsUntilClosed(idle, since: start)

            // A kept-alive connection whose second request stops half-way through its header: the header timeout
            // runs from that request's first byte.
            let secondHalf = try RawSocket(port: exporter.port)
            try secondHalf.send("GET /-/healthy HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            _ = try secondHalf.readResponse(timeout: 5)
            try await Task.sleep(for: .milliseconds(300))
            start = Date()
            try secondHalf.send("GET /-/healthy HTTP/1.1\r\n")
            let secondHalfSeconds = Self.secondsUntilClosed(secondHalf, since: start)

            // A header with a body that stops arriving: the read timeout (header and body) runs from its first byte.
            start = Date()
            let stalled = try RawSocket(port: exporter.port)
            try stalled.send("PUT /api/v1/tasks/zego-d/slow HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(DiscoveryTests.token)\r\n"
                + "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"labels\":")
            let stalledSeconds = Self.secondsUntilClosed(stalled, since: start)

            print("connection figures: closed after silent \(Self.format(silentSeconds)), half-sent header \(Self.format(halfSentSeconds)), "
                + "idle \(Self.format(idleSeconds)), half-sent second header \(Self.format(secondHalfSeconds)), "
                + "stalled body \(Self.format(stalledSeconds)) (timeouts: header 0.5s, idle 1s, read 1.5s)")
            #expect(answer.hasPrefix("HTTP/1.1 200"), "\(answer)")
            for (name, seconds, timeout) in [("silent", silentSeconds, 0.5), ("half-sent", halfSentSeconds, 0.5), ("idle", idleSeconds, 1.0),
                                             ("second half-sent", secondHalfSeconds, 0.5), ("stalled body", stalledSeconds, 1.5)] {
                let seconds = try #require(seconds, "\(name) connection still open after 10 s")
                #expect(seconds >= timeout - 0.05 && seconds < timeout + 1.0, "\(name): closed after \(seconds) s, timeout \(timeout) s")
            }
            let metrics = try await Self.metrics(exporter)
            #expect(Self.closed(metrics, "header_timeout") >= 3)
            #expect(Self.closed(metrics, "idle_timeout") >= 1)
            #expect(Self.closed(metrics, "read_timeout") == 1)
        }
    }

    @Test("10 × (oversized body + Connection: close) answered 413 leave the descriptor count where it was")
    func earlyAnswersCloseTheirConnections() async throws {
        try await Self.withExporter([]) { exporter in
            // Warm up (one rejected registration on a fresh connection), then take the baseline.
            _ = try await DiscoveryTests.api(exporter.base, .PUT, "/api/v1/tasks/zego-d/warm", body: "[")
            try await Task.sleep(for: .milliseconds(500))
            let baseline = Self.openDescriptors(exporter.pid)
            let oversized = "PUT /api/v1/tasks/zego-d/big HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(DiscoveryTests.token)\r\n"
                + "Content-Type: application/json\r\nContent-Length: 1000000\r\n"
            // The clients keep their sockets open, as the reproduction did: the server must close on its own.
            var clients: [RawSocket] = []
            for _ in 0..<10 {
                let client = try RawSocket(port: exporter.port)
                try client.send(oversized + "Connection: close\r\n\r\n" + String(repeating: "x", count: 70_000))
                let answer = try client.readResponse(timeout: 5)
                #expect(answer.hasPrefix("HTTP/1.1 413"), "\(answer.prefix(200))")
                clients.append(client)
            }
            // Without Connection: close the early answer says it closes, and does.
            let keptAlive = try RawSocket(port: exporter.port)
            try keptAlive.send(oversized + "\r\n" + String(repeating: "x", count: 70_000))
            let answer = try keptAlive.readResponse(timeout: 5)
            #expect(answer.hasPrefix("HTTP/1.1 413") && answer.lowercased().contains("connection: close"), "\(answer.prefix(300))")
            clients.append(keptAlive)
            let peak = Self.openDescriptors(exporter.pid)
            let start = Date()
            try await eventually("descriptors back to \(baseline) (now \(Self.openDescriptors(exporter.pid)))", timeout: 10) {
                Self.openDescriptors(exporter.pid) <= baseline
            }
            let settled = Date().timeIntervalSince(start)
            let stillOpen = clients.filter { !$0.readUntilClosed(timeout: 0.1).closed }.count
            print("connection figures: descriptors \(baseline) before, \(peak) right after 11 early 413s, "
                + "\(Self.openDescriptors(exporter.pid)) after \(String(format: "%.2f", settled)) s; client sockets still open: 0 expected, \(stillOpen)")
            #expect(stillOpen == 0)
            #expect(Self.closed(try await Self.metrics(exporter), "early_response") == 11)
        }
    }

    @Test("200 idle and half-sent connections, and 10 more before each of 20 scrapes, against a cap of 64 leave /metrics answering")
    func floodAtTheCap() async throws {
        try await Self.withExporter(["--web.max-connections", "64"]) { exporter in
            let baseline = Self.openDescriptors(exporter.pid)
            var flood: [RawSocket] = []
            for index in 0..<200 {
                let socket = try RawSocket(port: exporter.port)
                if index.isMultiple(of: 2) { try socket.send("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n") }
                flood.append(socket)
            }
            var latencies: [Double] = []
            var last = ""
            for round in 0..<20 {
                // Keep the cap hit: more idle connections between scrapes.
                for _ in 0..<10 { flood.append(try RawSocket(port: exporter.port)) }
                let start = Date()
                let scrape = try RawSocket(port: exporter.port)
                try scrape.send("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                let (bytes, closed) = scrape.readUntilClosed(timeout: 5)
                latencies.append(Date().timeIntervalSince(start))
                last = String(decoding: bytes, as: UTF8.self)
                #expect(closed && last.hasPrefix("HTTP/1.1 200"), "scrape \(round): \(last.prefix(200))")
            }
            let peakDescriptors = Self.openDescriptors(exporter.pid)
            let metrics = Metrics(text: last)
            let open = metrics.value("cloudrec_http_connections_open", [:]) ?? -1
            let evicted = Self.closed(metrics, "evicted")
            latencies.sort()
            print("connection figures: \(flood.count) flood connections, cap 64: /metrics p50 \(String(format: "%.1f", latencies[10] * 1000)) ms, "
                + "max \(String(format: "%.1f", latencies.last! * 1000)) ms over 20 scrapes; open \(open), evicted \(evicted), "
                + "descriptors \(baseline) before, \(peakDescriptors) under the flood")
            #expect(open <= 64 && open > 0)
            // Every flood connection but the 64 newest was evicted (the scrapes close after their answers).
            #expect(evicted >= Double(flood.count - 64))
            #expect(peakDescriptors <= baseline + 64 + 8, "descriptors under the flood: \(peakDescriptors), baseline \(baseline)")
            #expect(metrics.value("cloudrec_http_connections_max", [:]) == 64)
        }
    }

    @Test("at the cap the longest-waiting connection is evicted; when every connection is being answered the new one is refused")
    func admission() throws {
        let metrics = ConnectionMetrics()
        let registry = ConnectionRegistry(capacity: 2, metrics: metrics)
        let (first, second, third, fourth) = (EmbeddedChannel(), EmbeddedChannel(), EmbeddedChannel(), EmbeddedChannel())
        for channel in [first, second, third, fourth] {
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9)).wait()
        }
        #expect(registry.admit(first) && registry.admit(second))
        registry.setWaiting(first, false)
        registry.setWaiting(second, false)  // both being answered: nothing to evict
        #expect(!registry.admit(third))
        #expect(metrics.refused.value([]) == 1 && first.isActive && second.isActive)
        registry.setWaiting(second, true)  // its answer sent: waiting again, so evictable
        #expect(registry.admit(third))
        #expect(!second.isActive && first.isActive, "the waiting connection makes room")
        #expect(metrics.closed.value(["evicted"]) == 1 && registry.count == 2)
        registry.setWaiting(first, true)  // waiting from now; the third has waited since it was admitted
        #expect(registry.admit(fourth))
        #expect(!third.isActive && first.isActive, "the longest-waiting one goes first")
        #expect(metrics.accepted.value([]) == 4 && metrics.open.value([]) == 2)
        for channel in [first, fourth] { _ = try? channel.finish() }
    }

    @Test("the TLS listener closes a connection that never completes its handshake within the header timeout")
    func tlsHandshakeTimeout() async throws {
        try await DiscoveryTests.withZego { _, config, directory in
            _ = try ThrowawayCA.make(in: directory.path)
            let web = directory.appendingPathComponent("web.yml").path
            try "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n".write(toFile: web, atomically: true, encoding: .utf8)
            let exporter = try DiscoveryTests.ExporterProcess(
                config: config, storage: directory.appendingPathComponent("db/c.db").path, port: DiscoveryTests.freePort(),
                arguments: ["--web.config.file", web] + Self.shortTimeouts)
            defer { exporter.stop() }
            var socket: RawSocket?
            try await eventually("TLS listener up") {
                socket = try? RawSocket(port: exporter.port)
                return socket != nil
            }
            let start = Date()
            try socket!.send([0x16, 0x03, 0x01])  // the first bytes of a ClientHello, and no more
            let seconds = try #require(Self.secondsUntilClosed(socket!, since: start), "half-sent handshake still open after 10 s")
            print("connection figures: TLS half-sent handshake closed after \(String(format: "%.2f", seconds)) s (header timeout 0.5s)")
            #expect(seconds >= 0.4 && seconds < 1.5)
        }
    }

    @Test("out-of-range connection flags stop the start with the flag named, never a trap", arguments: [
        (["--web.read-header-timeout", "0s"], "--web.read-header-timeout"),
        (["--web.read-header-timeout", "1e30"], "--web.read-header-timeout"),
        (["--web.idle-timeout", "100000000000h"], "--web.idle-timeout"),
        (["--web.read-timeout", "-5s"], "--web.read-timeout"),
        (["--web.read-timeout", "5s", "--web.read-header-timeout", "10s"], "--web.read-timeout"),
        (["--web.max-connections", "0"], "--web.max-connections"),
        (["--web.max-connections", "1000001"], "--web.max-connections"),
        (["--web.max-connections", "99999999999999999999999999999"], "--web.max-connections"),
    ])
    func badFlags(arguments: [String], flag: String) throws {
        let result = try CommandLineTests.run(["--demo", "--web.listen-address", "127.0.0.1:\(DiscoveryTests.freePort())"] + arguments)
        #expect(result.status == 64, "exit \(result.status): \(result.stderr)")
        #expect(result.stderr.contains(flag), "\(result.stderr)")
    }

    static func format(_ seconds: Double?) -> String { seconds.map { String(format: "%.2f s", $0) } ?? "never" }
}

/// A plain TCP client on loopback, for what no HTTP client sends: half a header, nothing at all, a body that stops.
final class RawSocket {
    let fd: Int32

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket() failed: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else {
            let error = errno
            close(fd)
            throw TestFailure("connect to 127.0.0.1:\(port) failed: errno \(error)")
        }
    }

    deinit { close(fd) }

    func send(_ text: String) throws { try send(Array(text.utf8)) }

    func send(_ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            // MSG_NOSIGNAL: a socket the server has closed must fail the call, not kill the test process.
            let n = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw TestFailure("send failed: errno \(errno)") }
            sent += n
        }
    }

    /// Reads until the server closes the connection (end of stream or reset) or `timeout` seconds pass.
    func readUntilClosed(timeout: Double) -> (bytes: [UInt8], closed: Bool) {
        var bytes: [UInt8] = []
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let remaining = deadline.timeIntervalSinceNow
            guard remaining > 0 else { return (bytes, false) }
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, Int32(min(remaining, 60) * 1000) + 1)
            if ready == 0 { continue }
            guard ready > 0 else { return (bytes, false) }
            var chunk = [UInt8](repeating: 0, count: 65_536)
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { return (bytes, true) }
            bytes += chunk[..<n]
        }
    }

    /// Reads one response (header, then a `Content-Length` body) without waiting for the connection to close.
    func readResponse(timeout: Double) throws -> String {
        var bytes: [UInt8] = []
        let deadline = Date().addingTimeInterval(timeout)
        while deadline.timeIntervalSinceNow > 0 {
            let text = String(decoding: bytes, as: UTF8.self)
            if let end = text.range(of: "\r\n\r\n") {
                let header = text[..<end.lowerBound].lowercased()
                let length = header.split(separator: "\r\n").first { $0.hasPrefix("content-length:") }
                    .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
                if text.utf8.distance(from: end.upperBound, to: text.endIndex) >= length { return text }
            }
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 100) >= 0 else { break }
            guard poller.revents != 0 else { continue }
            var chunk = [UInt8](repeating: 0, count: 65_536)
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { break }
            bytes += chunk[..<n]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
