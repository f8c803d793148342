import CloudRecConfig
import CloudRecCore
import CloudRecMetrics
import Hummingbird
import HTTPTypes
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import NIOHTTPTypes
import NIOSSL
import Synchronization

/// The listener's connection limits (`--web.read-header-timeout`, `--web.read-timeout`, `--web.idle-timeout`,
/// `--web.max-connections`; SECURITY.md "Connections"). Durations in seconds.
public struct ConnectionLimits: Sendable, Equatable {
    public var readHeaderTimeout: Double = 10
    public var readTimeout: Double = 30
    public var idleTimeout: Double = 120
    public var maxConnections = 512
    /// After an answer that closes the connection, how long the rest of the request is read and discarded so that
    /// the client gets the answer (closing with unread input sends a reset, which can destroy it).
    public var lingerTimeout: Double = 2

    public static let timeoutRange: ClosedRange<Double> = 0.01...86_400
    public static let maxConnectionsRange: ClosedRange<Int> = 1...1_000_000

    public init() {}

    /// A duration flag: a Prometheus duration within `timeoutRange`, else an error naming the flag and the range.
    public static func timeout(_ text: String, flag: String) throws(ConnectionLimitError) -> Double {
        guard let seconds = DurationParser.seconds(text), timeoutRange.contains(seconds) else {
            throw ConnectionLimitError(
                "\(flag) must be a duration such as 10s or 2m, \(ConfigRanges.describe(duration: timeoutRange)) (got \"\(text.prefix(40))\")")
        }
        return seconds
    }

    public static func maxConnections(_ value: Int, flag: String) throws(ConnectionLimitError) -> Int {
        guard maxConnectionsRange.contains(value) else {
            throw ConnectionLimitError("\(flag) must be a whole number from 1 to 1000000 (got \(value))")
        }
        return value
    }

    /// Seconds as a NIO time amount, through the checked conversion (clamped, never a trap).
    static func amount(_ seconds: Double) -> TimeAmount { .nanoseconds(CheckedNumber.nanoseconds(seconds)) }
}

public struct ConnectionLimitError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Enforces `ConnectionLimits` on the HTTP listener, plain or TLS. Hummingbird 2 offers one idle timeout (since the
/// last HTTP part, which closes a half-sent header and an idle connection alike, without telling which) and a cap that
/// stops accepting (which leaves `/metrics` waiting in the backlog behind the flood); neither counts what it closed,
/// and a request answered before its body was read (413) keeps its socket until the client closes it. So this is a
/// small hand-written pair of channel handlers around Hummingbird's own `HTTP1Channel` (and `TLSChannel`):
///
/// - `ConnectionGuardHandler`, first in the pipeline (before TLS): admission under the cap, the timers, and the
///   close after an early answer (it drains the unread request for `lingerTimeout`, then closes);
/// - `RequestTracker`, after the HTTP decoder (Hummingbird's `additionalChannelHandlers`): tells the guard where each
///   request and answer begins and ends, and adds `Connection: close` to an answer given before its request was read.
///
/// At the cap a new connection is accepted and the longest-waiting connection that is not being answered (idle,
/// half-sent header, body still arriving) is closed to make room (`evicted`); only when every open connection is
/// being answered is the new one closed at once (`refused`). A scrape sends its request as soon as it connects, so a
/// flood of idle or half-sent connections cannot keep `/metrics` from answering.
public final class ConnectionGuard: Sendable {
    public let limits: ConnectionLimits
    let metrics: ConnectionMetrics
    let registry: ConnectionRegistry

    public init(limits: ConnectionLimits, metrics: ConnectionMetrics) {
        self.limits = limits
        self.metrics = metrics
        registry = ConnectionRegistry(capacity: limits.maxConnections, metrics: metrics)
        metrics.enable(maxConnections: limits.maxConnections)
    }

    /// The Hummingbird server: HTTP/1.1, with TLS when `tls` is given, under these limits.
    public func serverBuilder(tls: TLSConfiguration?) throws -> HTTPServerBuilder {
        .init { [self] responder in
            let http = HTTP1Channel(responder: responder, configuration: .init(additionalChannelHandlers: [RequestTracker()]))
            if let tls { return GuardedChannel(base: try TLSChannel(http, tlsConfiguration: tls), connections: self) }
            return GuardedChannel(base: http, connections: self)
        }
    }

    /// Open connections admitted under the cap.
    public var openConnections: Int { registry.count }
}

/// A Hummingbird child channel with the guard in front of it.
struct GuardedChannel<Base: ServerChildChannel>: ServerChildChannel {
    typealias Value = Base.Value
    let base: Base
    let connections: ConnectionGuard

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(ConnectionGuardHandler(connections: self.connections))
        }.flatMap {
            self.base.setup(channel: channel, logger: logger)
        }
    }

    func handle(value: Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}

/// The open connections, across event loops: admission under the cap and the choice of whom to evict.
final class ConnectionRegistry: Sendable {
    struct Entry {
        let channel: any Channel
        /// Since when it has been waiting (idle, or a request still arriving); nil while it is being answered.
        var waitingSince: NIODeadline?
    }

    let capacity: Int
    let metrics: ConnectionMetrics
    private let entries = Mutex<[ObjectIdentifier: Entry]>([:])

    init(capacity: Int, metrics: ConnectionMetrics) {
        self.capacity = capacity
        self.metrics = metrics
    }

    var count: Int { entries.withLock { $0.count } }

    /// Admits a new connection, evicting the longest-waiting one at the cap. False: at the cap with every connection
    /// being answered; the caller closes the new one.
    func admit(_ channel: any Channel) -> Bool {
        let (admitted, victim, open): (Bool, (any Channel)?, Int) = entries.withLock { entries in
            var victim: (any Channel)?
            if entries.count >= capacity {
                let oldest = entries.filter { $0.value.waitingSince != nil }.min { $0.value.waitingSince! < $1.value.waitingSince! }
                guard let oldest else { return (false, nil, entries.count) }
                victim = entries.removeValue(forKey: oldest.key)?.channel
            }
            entries[ObjectIdentifier(channel)] = Entry(channel: channel, waitingSince: .now())
            return (true, victim, entries.count)
        }
        guard admitted else {
            metrics.refused.increment([])
            return false
        }
        metrics.accepted.increment([])
        metrics.open.set([], Double(open))
        if let victim {
            metrics.closed.increment([ConnectionMetrics.CloseReason.evicted.rawValue])
            victim.close(promise: nil)
        }
        return true
    }

    func setWaiting(_ channel: any Channel, _ waiting: Bool) {
        entries.withLock { entries in
            let key = ObjectIdentifier(channel)
            guard entries[key] != nil else { return }
            if !waiting {
                entries[key]!.waitingSince = nil
            } else if entries[key]!.waitingSince == nil {
                entries[key]!.waitingSince = .now()
            }
        }
    }

    func remove(_ channel: any Channel) {
        let open = entries.withLock { entries in
            entries.removeValue(forKey: ObjectIdentifier(channel)) == nil ? nil : entries.count
        }
        if let open { metrics.open.set([], Double(open)) }
    }
}

/// First handler of a connection (before TLS). Sees raw bytes; `RequestTracker` reports the HTTP-level events.
final class ConnectionGuardHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    enum Phase {
        /// Before the first byte of a request: the first request's header timer runs from the connection's start;
        /// later ones wait under the idle timer.
        case waiting(first: Bool)
        case readingHeader
        /// Header read, body still arriving.
        case readingRequest
        /// Request read; the handler is answering.
        case answering
        /// Answer sent, connection to close: the rest of the input is discarded until the client closes or the
        /// linger time is over.
        case closing
        case refused
    }

    let connections: ConnectionGuard
    private var phase = Phase.waiting(first: true)
    private var context: ChannelHandlerContext?
    private var timer: Scheduled<Void>?
    private var admitted = false
    /// When the current request's first byte came (the connection's start for the first request).
    private var requestStart = NIODeadline.now()
    /// Requests read and not yet answered (HTTP/1.1 pipelining).
    private var unanswered = 0
    private var closeAfterAnswer = false

    init(connections: ConnectionGuard) { self.connections = connections }

    private var limits: ConnectionLimits { connections.limits }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func channelActive(context: ChannelHandlerContext) {
        guard connections.registry.admit(context.channel) else {
            phase = .refused
            context.close(promise: nil)
            return
        }
        admitted = true
        requestStart = .now()
        arm(limits.readHeaderTimeout, .headerTimeout)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        cancelTimer()
        if admitted { connections.registry.remove(context.channel) }
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        cancelTimer()
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch phase {
        case .closing, .refused:
            return  // discarded
        case .waiting(first: true):
            phase = .readingHeader  // its header timer has been running since the connection started
        case .waiting(first: false):
            phase = .readingHeader
            requestStart = .now()
            arm(limits.readHeaderTimeout, .headerTimeout)
        case .readingHeader, .readingRequest, .answering:
            break
        }
        context.fireChannelRead(data)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if case .closing = phase {
            context.read()  // keep draining: the HTTP side no longer asks for input
            return
        }
        context.fireChannelReadComplete()
    }

    /// An answer the client stops reading (its socket buffer full) may stall for the idle timeout, no longer.
    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if case .answering = phase {
            if context.channel.isWritable { cancelTimer() } else { arm(limits.idleTimeout, .writeTimeout) }
        }
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .closing = phase, let event = event as? ChannelEvent, event == .inputClosed {
            context.close(promise: nil)  // the client is done: nothing left to linger for
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    // MARK: Reported by RequestTracker

    func requestHeadRead(clientClosing: Bool) {
        unanswered += 1
        if clientClosing { closeAfterAnswer = true }
        switch phase {
        case .closing, .refused:
            return
        case .answering:
            requestStart = .now()  // pipelined behind the request being answered
        case .waiting, .readingHeader, .readingRequest:
            break
        }
        phase = .readingRequest
        arm(limits.readTimeout - (NIODeadline.now() - requestStart).inSeconds, .readTimeout)
    }

    func requestEndRead() {
        guard case .readingRequest = phase else { return }
        phase = .answering
        cancelTimer()
        if let context { connections.registry.setWaiting(context.channel, false) }
    }

    /// An answer starts. Returns true when it must carry `Connection: close`: it comes before its request was read
    /// in full.
    func answerStarting() -> Bool {
        guard case .readingRequest = phase, unanswered == 1 else { return false }
        connections.metrics.closed.increment([ConnectionMetrics.CloseReason.earlyResponse.rawValue])
        closeAfterAnswer = true
        return true
    }

    /// An answer has been written to the socket.
    func answerWritten() {
        unanswered -= 1
        guard let context else { return }
        if closeAfterAnswer {
            guard phase != .closing else { return }
            phase = .closing
            arm(limits.lingerTimeout, nil)
            connections.registry.setWaiting(context.channel, true)
            context.read()
            return
        }
        guard unanswered == 0, case .answering = phase else { return }
        phase = .waiting(first: false)
        arm(limits.idleTimeout, .idleTimeout)
        connections.registry.setWaiting(context.channel, true)
    }

    // MARK: Timer

    /// Closes the connection after `seconds` unless the phase moves on first; `reason` nil: not counted (linger).
    private func arm(_ seconds: Double, _ reason: ConnectionMetrics.CloseReason?) {
        cancelTimer()
        guard let context else { return }
        let metrics = connections.metrics
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: ConnectionLimits.amount(seconds)) { [self] in
            timer = nil
            if let reason { metrics.closed.increment([reason.rawValue]) }
            self.context?.close(promise: nil)
        }
    }

    private func cancelTimer() {
        timer?.cancel()
        timer = nil
    }
}

extension ConnectionGuardHandler.Phase: Equatable {}

extension TimeAmount {
    fileprivate var inSeconds: Double { Double(nanoseconds) / 1e9 }
}

/// After the HTTP decoder: reports request and answer boundaries to the connection's `ConnectionGuardHandler`.
final class RequestTracker: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private var guardHandler: ConnectionGuardHandler?

    func handlerAdded(context: ChannelHandlerContext) {
        guardHandler = try? context.pipeline.syncOperations.handler(type: ConnectionGuardHandler.self)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case let .head(head):
            let connection = head.headerFields[.connection]?.lowercased() ?? ""
            guardHandler?.requestHeadRead(clientClosing: connection.split(separator: ",").contains { $0.trimmingCharacters(in: .whitespaces) == "close" })
        case .body:
            break
        case .end:
            guardHandler?.requestEndRead()
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case var .head(head):
            // An interim answer (1xx) is not the answer; the final one follows.
            if head.status.kind != .informational, guardHandler?.answerStarting() == true {
                head.headerFields[.connection] = "close"
                context.write(wrapOutboundOut(.head(head)), promise: promise)
                return
            }
        case .body:
            break
        case .end:
            guard let guardHandler else { break }
            let written = promise ?? context.eventLoop.makePromise()
            written.futureResult.assumeIsolated().whenComplete { _ in guardHandler.answerWritten() }
            context.write(data, promise: written)
            return
        }
        context.write(data, promise: promise)
    }
}
