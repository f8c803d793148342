import AsyncHTTPClient
import CloudRecCore
import NIOCore
import NIOHTTP1

/// Sends vendor requests with one long-lived AsyncHTTPClient (connection reuse per host). The whole exchange,
/// headers and body, is bounded by the timeout, and bodies are capped at `maxResponseBytes`.
public struct AsyncHTTPClientTransport: VendorTransport {
    public let client: HTTPClient

    public init(client: HTTPClient) { self.client = client }

    public func send(_ request: OutboundRequest, timeout: Double, maxResponseBytes: Int) async throws -> InboundResponse {
        var outbound = HTTPClientRequest(url: request.url)
        outbound.method = HTTPMethod(rawValue: request.method)
        for header in request.headers { outbound.headers.add(name: header.name, value: header.value) }
        if !request.body.isEmpty { outbound.body = .bytes(ByteBuffer(bytes: request.body)) }
        let prepared = outbound
        let deadline = NIODeadline.now() + .nanoseconds(Int64(timeout * 1_000_000_000))
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
                }
            }
            // The deadline covers the head; this covers a body that drips in slowly.
            group.addTask {
                try await Task.sleep(for: .seconds(timeout))
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let response = first else { throw TransportFailure.timeout }
            return response
        }
    }
}
