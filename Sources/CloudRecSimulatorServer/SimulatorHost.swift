import CloudRecCore
import CloudRecSimulators
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import NIOSSL
import ServiceLifecycle
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A certificate chain and private key (PEM files) for serving a simulator over HTTPS, as the real vendors do.
public struct SimulatorTLS: Sendable, Hashable {
    public var certificateChainFile: String
    public var privateKeyFile: String

    public init(certificateChainFile: String, privateKeyFile: String) {
        self.certificateChainFile = certificateChainFile
        self.privateKeyFile = privateKeyFile
    }

    func serverConfiguration() throws -> TLSConfiguration {
        let chain = try NIOSSLCertificate.fromPEMFile(certificateChainFile)
        let key = try NIOSSLPrivateKey(file: privateKeyFile, format: .pem)
        return TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
    }
}

/// Serves one vendor simulator over HTTP (or HTTPS with `tls`) on a loopback port (0 picks a free one). Used by the
/// integration tests, the demo and the benchmarks. Requests under `/_sim/` drive the simulated tasks (`SimulatorControl`);
/// every other request is answered by the vendor logic and logged (`SimulatorControl.requests`, `GET /_sim/requests`).
public final class SimulatorHost: Service, Sendable {
    public let simulator: any VendorSimulator
    public let control: SimulatorControl
    private let host: String
    private let requestedPort: Int
    private let tls: SimulatorTLS?
    private let logger: Logger
    private let boundPort = Mutex<(port: Int?, waiters: [CheckedContinuation<Int, Never>])>((nil, []))

    /// `taskFields` gives the vendor fields of a task created through the control API (Agora's `resource_id`...).
    public init(simulator: any VendorSimulator, host: String = "127.0.0.1", port: Int = 0, tls: SimulatorTLS? = nil, logger: Logger,
                taskFields: @escaping @Sendable (String) -> [String: String] = { _ in [:] }) {
        self.simulator = simulator
        self.control = SimulatorControl(book: simulator.book, faults: simulator.faults, defaultFields: taskFields)
        self.host = host
        self.requestedPort = port
        self.tls = tls
        self.logger = logger
    }

    /// Waits until the server listens and returns its port.
    public func port() async -> Int {
        await withCheckedContinuation { continuation in
            let ready = boundPort.withLock { state -> Int? in
                if let port = state.port { return port }
                state.waiters.append(continuation)
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    private func markListening(port: Int) {
        let waiters = boundPort.withLock { state -> [CheckedContinuation<Int, Never>] in
            state.port = port
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(returning: port) }
    }

    public func baseURL() async -> String { "\(tls == nil ? "http" : "https")://\(host):\(await port())" }

    public func run() async throws {
        let simulator = self.simulator
        let control = self.control
        let responder = CallbackResponder<SimulatorRequestContext> { request, context in
            var request = request
            let body = try await request.collectBody(upTo: 1 << 20)
            var headers: [String: String] = [:]
            for field in request.headers { headers[field.name.canonicalName] = field.value }
            // HTTP/1 Host arrives as the :authority pseudo-header; vendors that sign it (Tencent, Alibaba) need it back.
            if let authority = request.head.authority { headers["host"] = authority }
            let simRequest = SimRequest(method: request.method.rawValue, path: request.uri.path,
                                        rawQuery: request.uri.query ?? "", headers: headers, body: Array(buffer: body))
            let answer = control.respond(to: simRequest) ?? control.requests.record(simRequest) { simulator.respond(to: simRequest) }
            if answer.delaySeconds > 0 { try await Task.sleep(for: .seconds(answer.delaySeconds)) }
            return try await Self.deliver(answer, on: context.channel)
        }
        let server: HTTPServerBuilder = try tls.map { try .tls(.http1(), tlsConfiguration: $0.serverConfiguration()) } ?? .http1()
        let app = Application(
            responder: responder,
            server: server,
            configuration: .init(address: .hostname(host, port: requestedPort), serverName: "cloudrec-simulator-\(simulator.vendor.rawValue)"),
            onServerRunning: { channel in self.markListening(port: channel.localAddress?.port ?? 0) },
            logger: logger)
        // `run()`, not `runService()`: the latter installs its own SIGTERM handler, so the host would stop before its
        // turn in the enclosing group's graceful shutdown and fail the group ("finished unexpectedly").
        try await app.run()
    }

    /// Puts an answer on the wire, whole or in the broken ways fault injection asks for.
    static func deliver(_ answer: SimResponse, on channel: any Channel) async throws -> Response {
        var fields = HTTPFields()
        for (name, value) in answer.headers {
            if let fieldName = HTTPField.Name(name) { fields[fieldName] = value }
        }
        let status = HTTPResponse.Status(code: answer.status)
        let bytes = ByteBuffer(bytes: answer.body)
        switch answer.delivery {
        case .whole where answer.paddingBytes > 0:
            return Response(status: status, headers: fields, body: ResponseBody(contentLength: bytes.readableBytes + answer.paddingBytes) { writer in
                try await writer.write(bytes)
                var left = answer.paddingBytes
                while left > 0 {
                    let piece = min(left, whitespace.readableBytes)
                    try await writer.write(whitespace.getSlice(at: whitespace.readerIndex, length: piece)!)
                    left -= piece
                }
                try await writer.finish(nil)
            })
        case .whole:
            return Response(status: status, headers: fields, body: .init(byteBuffer: bytes))
        case .reset:
            // SO_LINGER 0 turns the close into a TCP RST; nothing of the answer reaches the client.
            if let socket = channel as? any SocketOptionProvider { try? await socket.setSoLinger(linger(l_onoff: 1, l_linger: 0)).get() }
            try? await channel.close()
            throw DeliveryFault.connectionReset
        case let .drip(rate):
            // A tenth of a second's worth of bytes every tenth of a second.
            let chunk = max(1, rate / 10)
            return Response(status: status, headers: fields, body: ResponseBody(contentLength: bytes.readableBytes) { writer in
                var rest = bytes
                while let piece = rest.readSlice(length: min(chunk, rest.readableBytes)), piece.readableBytes > 0 {
                    try await writer.write(piece)
                    try await Task.sleep(for: .milliseconds(100))
                }
                try await writer.finish(nil)
            })
        case .truncate:
            // The length header promises every byte; half are written, then the handler fails and the server closes
            // the connection.
            return Response(status: status, headers: fields, body: ResponseBody(contentLength: bytes.readableBytes) { writer in
                try await writer.write(bytes.getSlice(at: bytes.readerIndex, length: bytes.readableBytes / 2) ?? ByteBuffer())
                throw DeliveryFault.truncated
            })
        }
    }

    enum DeliveryFault: Error {
        case connectionReset
        case truncated
    }
}

/// 64 KiB of spaces, the padding of huge answers.
private let whitespace = ByteBuffer(repeating: UInt8(ascii: " "), count: 64 * 1024)

/// Hummingbird's basic context plus the connection, which a reset fault closes.
struct SimulatorRequestContext: Hummingbird.RequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}
