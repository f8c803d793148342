import AsyncHTTPClient
import CloudRecCore
import NIOCore
import NIOHTTP1
import NIOSSL
import Synchronization

/// Sends vendor requests with one long-lived AsyncHTTPClient (connection reuse per host, TLS sessions included).
/// The whole exchange, headers and body, is bounded by the timeout, and bodies are capped at `maxResponseBytes`.
/// An account with `tls_ca_file` gets the same client with that CA added to the trust roots for its requests;
/// the client's connection pool is keyed by host and TLS configuration, so those connections are reused too.
public struct AsyncHTTPClientTransport: VendorTransport, PollingExecutorProvider {
    public let client: HTTPClient
    /// Per-account TLS settings (nil: the client's defaults, i.e. the system trust store).
    public let tlsConfiguration: TLSConfiguration?
    /// Set when the account's CA file could not be loaded: every request fails with this reason.
    let tlsProblem: String?
    /// `User-Agent` of every vendor request (`cloudrec_exporter/<version>`, with ` replica/<id>` in HA mode, so a
    /// vendor's logs, or the simulators', tell which replica called); nil sends none.
    public let userAgent: String?
    /// One event loop of the client's per account (`forAccount`): the account's poller runs on it and its requests
    /// use connections on it, so a poll does not hop between threads (see `EventLoopTaskExecutor`).
    let executor: EventLoopTaskExecutor?

    public var pollingExecutor: (any TaskExecutor)? { executor }

    /// The client configuration the exporter polls with: connect within 5 s, idle connections kept 60 s, no tracing
    /// (no tracer is bootstrapped, yet with the default no-op tracer AsyncHTTPClient still built a span and its
    /// attributes for every request), no decompression (vendors answer small uncompressed JSON).
    public static var clientConfiguration: HTTPClient.Configuration {
        var configuration = HTTPClient.Configuration(timeout: .init(connect: .seconds(5)),
                                                     connectionPool: .init(idleTimeout: .seconds(60)))
        configuration.tracing.tracer = nil
        configuration.decompression = .disabled
        return configuration
    }

    public init(client: HTTPClient, userAgent: String? = nil) {
        self.init(client: client, tlsConfiguration: nil, tlsProblem: nil, userAgent: userAgent)
    }

    init(client: HTTPClient, tlsConfiguration: TLSConfiguration?, tlsProblem: String?, userAgent: String?,
         executor: EventLoopTaskExecutor? = nil) {
        self.client = client
        self.tlsConfiguration = tlsConfiguration
        self.tlsProblem = tlsProblem
        self.userAgent = userAgent
        self.executor = executor
    }

    public func forAccount(_ account: AccountSpec) -> any VendorTransport {
        let executor = EventLoopTaskExecutor(client.eventLoopGroup.next())
        guard let caFile = account.tlsCAFile else {
            return AsyncHTTPClientTransport(client: client, tlsConfiguration: tlsConfiguration, tlsProblem: tlsProblem, userAgent: userAgent,
                                            executor: executor)
        }
        do {
            return AsyncHTTPClientTransport(client: client, tlsConfiguration: try Self.trusting(caFile: caFile), tlsProblem: nil,
                                            userAgent: userAgent, executor: executor)
        } catch {
            return AsyncHTTPClientTransport(client: client, tlsConfiguration: nil,
                                            tlsProblem: "cannot load tls_ca_file \(caFile): \(error)", userAgent: userAgent, executor: executor)
        }
    }

    /// System trust roots plus the certificates in a PEM file.
    public static func trusting(caFile: String) throws -> TLSConfiguration {
        let certificates = try NIOSSLCertificate.fromPEMFile(caFile)
        guard !certificates.isEmpty else { throw TLSCAFileError.noCertificates }
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.additionalTrustRoots = [.certificates(certificates)]
        return configuration
    }

    enum TLSCAFileError: Error, CustomStringConvertible {
        case noCertificates
        var description: String { "no PEM certificate in the file" }
    }

    /// One exchange through AsyncHTTPClient's delegate API with `ResponseAccumulator`: the deadline covers the whole
    /// exchange (connect, head and a body that drips in slowly), the accumulator refuses a body over the cap (from its
    /// Content-Length already), and the answer is handed over once. The streaming API cost a task group per poll (a
    /// second child sleeping for the timeout, cancelled each time with a thrown CancellationError), a body stream
    /// and a continuation per chunk, for the same outcome. Cancelling the calling task cancels the request.
    public func send(_ request: OutboundRequest, timeout: Double, maxResponseBytes: Int) async throws -> InboundResponse {
        if let tlsProblem { throw TransportFailure.connection(tlsProblem) }
        // ResponseAccumulator traps outside 0...2^32; the configuration allows 1 KiB to 1 GiB.
        let cap = min(max(maxResponseBytes, 0), 1 << 32)
        do {
            var headers = HTTPHeaders()
            headers.reserveCapacity(request.headers.count)
            for header in request.headers { headers.add(name: header.name, value: header.value) }
            if let userAgent, !headers.contains(name: "User-Agent") { headers.add(name: "User-Agent", value: userAgent) }
            let outbound = try HTTPClient.Request(url: request.url, method: HTTPMethod(rawValue: request.method), headers: headers,
                                                  body: request.body.isEmpty ? nil : .bytes(request.body),
                                                  tlsConfiguration: tlsConfiguration)
            let deadline = NIODeadline.now() + .nanoseconds(CheckedNumber.nanoseconds(timeout))
            // Called on the account's own loop (the poller runs there): the connection and the answer stay on it.
            let preference: HTTPClient.EventLoopPreference
            if let loop = executor?.eventLoop, loop.inEventLoop { preference = .delegateAndChannel(on: loop) } else { preference = .indifferent }
            let task = client.execute(request: outbound, delegate: ResponseAccumulator(request: outbound, maxBodySize: cap),
                                      eventLoop: preference, deadline: deadline)
            let response = try await withTaskCancellationHandler {
                try await task.futureResult.get()
            } onCancel: {
                task.cancel()
            }
            var names: [String: String] = [:]
            for header in response.headers { names[header.name.lowercased()] = header.value }
            return InboundResponse(status: Int(response.status.code), headers: names,
                                   body: response.body.map { Array(buffer: $0) } ?? [])
        } catch is ResponseAccumulator.ResponseTooBigError {
            throw TransportFailure.responseTooLarge(limit: maxResponseBytes)
        } catch let error as HTTPClientError {
            if error == .deadlineExceeded || error == .readTimeout || error == .connectTimeout {
                throw TransportFailure.timeout
            }
            throw TransportFailure.connection(error.description)
        } catch let error as NIOSSLError {
            throw TransportFailure.connection("TLS: \(error)")
        }
    }
}

/// A transport that completes its exchanges on one thread of its own; the account's poller runs its loop (and so
/// every poll: build, send, decode, record) with that executor as its task executor preference.
public protocol PollingExecutorProvider {
    var pollingExecutor: (any TaskExecutor)? { get }
}

/// Runs a task's jobs on one NIO event loop. A poll otherwise woke four threads in turn (a cooperative thread to
/// start it, the event loop to write, the event loop again for the answer, a cooperative thread to resume): at tens
/// of polls a second each of those wake-ups cost more CPU than the work between them. With the poller preferring
/// this executor, the request is written, the answer read and the poll finished on the loop's thread, and the
/// continuation that resumes the poll is queued on the loop it is already running on.
public final class EventLoopTaskExecutor: TaskExecutor {
    public let eventLoop: any EventLoop

    public init(_ eventLoop: any EventLoop) { self.eventLoop = eventLoop }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }

    /// Sleeps on the loop's own timer: one wake-up of the loop, where `Task.sleep` wakes Dispatch's timer thread,
    /// which then queues the task back onto the loop. Returns early (without throwing) when the task is cancelled.
    public func sleep(seconds: Double) async {
        let state = SleepState()
        let delay = TimeAmount.nanoseconds(CheckedNumber.nanoseconds(seconds))
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                state.value.withLock { current in
                    guard case .waiting = current else { return continuation.resume() }
                    let scheduled = eventLoop.scheduleTask(in: delay) {}
                    // Fires once, on the loop, whether the timer ran out or was cancelled.
                    scheduled.futureResult.whenComplete { _ in continuation.resume() }
                    current = .scheduled(scheduled)
                }
            }
        } onCancel: {
            state.value.withLock { current in
                if case let .scheduled(scheduled) = current { scheduled.cancel() }
                current = .cancelled
            }
        }
    }
}

/// Where one `EventLoopTaskExecutor.sleep` stands, shared by the sleeper and its cancellation handler.
private final class SleepState: Sendable {
    enum State { case waiting, scheduled(Scheduled<Void>), cancelled }
    let value = Mutex(State.waiting)
}
