import AsyncHTTPClient
import CloudRecCore
import NIOCore
import NIOHTTP1
import NIOSSL

/// Sends vendor requests with one long-lived AsyncHTTPClient (connection reuse per host, TLS sessions included).
/// The whole exchange, headers and body, is bounded by the timeout, and bodies are capped at `maxResponseBytes`.
/// An account with `tls_ca_file` gets the same client with that CA added to the trust roots for its requests;
/// the client's connection pool is keyed by host and TLS configuration, so those connections are reused too.
public struct AsyncHTTPClientTransport: VendorTransport {
    public let client: HTTPClient
    /// Per-account TLS settings (nil: the client's defaults, i.e. the system trust store).
    public let tlsConfiguration: TLSConfiguration?
    /// Set when the account's CA file could not be loaded: every request fails with this reason.
    let tlsProblem: String?
    /// `User-Agent` of every vendor request (`cloudrec_exporter/<version>`, with ` replica/<id>` in HA mode, so a
    /// vendor's logs, or the simulators', tell which replica called); nil sends none.
    public let userAgent: String?

    public init(client: HTTPClient, userAgent: String? = nil) {
        self.init(client: client, tlsConfiguration: nil, tlsProblem: nil, userAgent: userAgent)
    }

    init(client: HTTPClient, tlsConfiguration: TLSConfiguration?, tlsProblem: String?, userAgent: String?) {
        self.client = client
        self.tlsConfiguration = tlsConfiguration
        self.tlsProblem = tlsProblem
        self.userAgent = userAgent
    }

    public func forAccount(_ account: AccountSpec) -> any VendorTransport {
        guard let caFile = account.tlsCAFile else { return self }
        do {
            return AsyncHTTPClientTransport(client: client, tlsConfiguration: try Self.trusting(caFile: caFile), tlsProblem: nil,
                                            userAgent: userAgent)
        } catch {
            return AsyncHTTPClientTransport(client: client, tlsConfiguration: nil,
                                            tlsProblem: "cannot load tls_ca_file \(caFile): \(error)", userAgent: userAgent)
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

    public func send(_ request: OutboundRequest, timeout: Double, maxResponseBytes: Int) async throws -> InboundResponse {
        if let tlsProblem { throw TransportFailure.connection(tlsProblem) }
        var outbound = HTTPClientRequest(url: request.url)
        outbound.method = HTTPMethod(rawValue: request.method)
        for header in request.headers { outbound.headers.add(name: header.name, value: header.value) }
        if let userAgent, !outbound.headers.contains(name: "User-Agent") { outbound.headers.add(name: "User-Agent", value: userAgent) }
        if !request.body.isEmpty { outbound.body = .bytes(ByteBuffer(bytes: request.body)) }
        if let tlsConfiguration { outbound.tlsConfiguration = tlsConfiguration }
        let prepared = outbound
        let deadline = NIODeadline.now() + .nanoseconds(CheckedNumber.nanoseconds(timeout))
        return try await withThrowingTaskGroup(of: InboundResponse?.self) { group in
            group.addTask {
                do {
                    let response = try await client.execute(prepared, deadline: deadline)
                    let body = try await response.body.collect(upTo: maxResponseBytes)
                    var headers: [String: String] = [:]
                    for header in response.headers { headers[header.name.lowercased()] = header.value }
                    return InboundResponse(status: Int(response.status.code), headers: headers, body: Array(buffer: body))
                } catch is NIOTooManyBytesError {
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
            // The deadline covers the head; this covers a body that drips in slowly.
            group.addTask {
                try await Task.sleep(for: .seconds(CheckedNumber.clamped(timeout, to: 0...315_360_000)))
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let response = first else { throw TransportFailure.timeout }
            return response
        }
    }
}
