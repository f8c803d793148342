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
/// integration tests, the demo and the benchmarks. Requests under `/_sim/` drive the simulated tasks (`SimulatorControl`).
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
        self.control = SimulatorControl(book: simulator.book, defaultFields: taskFields)
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
        let responder = CallbackResponder<BasicRequestContext> { request, _ in
            var request = request
            let body = try await request.collectBody(upTo: 1 << 20)
            var headers: [String: String] = [:]
            for field in request.headers { headers[field.name.canonicalName] = field.value }
            // HTTP/1 Host arrives as the :authority pseudo-header; vendors that sign it (Tencent, Alibaba) need it back.
            if let authority = request.head.authority { headers["host"] = authority }
            let simRequest = SimRequest(method: request.method.rawValue, path: request.uri.path,
                                        rawQuery: request.uri.query ?? "", headers: headers, body: Array(buffer: body))
            let answer = control.respond(to: simRequest) ?? simulator.respond(to: simRequest)
            if answer.delaySeconds > 0 { try await Task.sleep(for: .seconds(answer.delaySeconds)) }
            var fields = HTTPFields()
            for (name, value) in answer.headers {
                if let fieldName = HTTPField.Name(name) { fields[fieldName] = value }
            }
            return Response(status: .init(code: answer.status), headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: answer.body)))
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
}
