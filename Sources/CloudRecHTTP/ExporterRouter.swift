import CloudRecCore
import CloudRecMetrics
import CompressNIO
import Foundation
import Hummingbird
import NIOCore

/// Builds the exporter's routes: the telemetry path, the landing page, health, readiness and reload.
public enum ExporterRouter {
    public static func build(control: any ExporterControl, telemetryPath: String,
                             registry: (any TaskRegistry)? = nil, callbacks: (any CallbackReceiver)? = nil,
                             basicAuthUsers: [String: String] = [:]) -> Router<BasicRequestContext> {
        let router = Router()
        if !basicAuthUsers.isEmpty { router.add(middleware: BasicAuthMiddleware(users: basicAuthUsers)) }
        if let registry { TaskAPI.register(on: router, registry: registry) }
        if let callbacks { CallbackAPI.register(on: router, receiver: callbacks) }
        let coalescer = ScrapeCoalescer()
        router.get(RouterPath(telemetryPath)) { request, _ in
            await metricsResponse(control: control, coalescer: coalescer, accept: request.headers[.accept],
                                  acceptEncoding: request.headers[.acceptEncoding])
        }
        router.get("/") { _, _ in
            htmlResponse(LandingPage.render(control: control, telemetryPath: telemetryPath))
        }
        router.get("/-/healthy") { _, _ in textResponse(.ok, "Healthy.\n") }
        router.head("/-/healthy") { _, _ in textResponse(.ok, "") }
        router.get("/-/ready") { _, _ in
            control.isReady ? textResponse(.ok, "Ready.\n") : textResponse(.serviceUnavailable, "Not ready.\n")
        }
        router.post("/-/reload") { _, _ in
            if let problems = await control.reload() {
                return jsonResponse(.internalServerError, .obj(("status", "error"), ("error", .string(problems))))
            }
            return jsonResponse(.ok, .obj(("status", "success")))
        }
        router.get("/-/reload") { _, _ in
            jsonResponse(.methodNotAllowed, .obj(("status", "error"), ("error", "use POST to reload the configuration")))
        }
        return router
    }

    /// Concurrent scrapes of the same format and encoding share one render, and expensive renders are briefly
    /// reused (see `ScrapeCoalescer`).
    static func metricsResponse(control: any ExporterControl, coalescer: ScrapeCoalescer, accept: String?,
                                acceptEncoding: String?) async -> Response {
        let format = ExpositionFormat.negotiate(accept: accept)
        let gzip = acceptsGzip(acceptEncoding)
        return response(format, await coalescer.render(format: format, gzip: gzip) { render(control: control, format: format, gzip: gzip) })
    }

    static func render(control: any ExporterControl, format: ExpositionFormat, gzip: Bool) -> ScrapeCoalescer.Rendered {
        if gzip, let compressed = control.renderMetricsGzip(format) {
            return .init(body: ByteBuffer(bytes: compressed.body), gzipped: true, uncompressedBytes: compressed.uncompressedBytes)
        }
        let body = control.renderMetrics(format)
        var buffer = ByteBuffer(bytes: body)
        if gzip, body.count > 1024, let compressed = try? buffer.compress(with: .gzip(configuration: .init(compressionLevel: 1))) {
            return .init(body: compressed, gzipped: true, uncompressedBytes: body.count)
        }
        return .init(body: buffer, gzipped: false, uncompressedBytes: body.count)
    }

    static func response(_ format: ExpositionFormat, _ rendered: ScrapeCoalescer.Rendered) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = format.contentType
        if rendered.gzipped { headers[.contentEncoding] = "gzip" }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: rendered.body))
    }

    /// True when `Accept-Encoding` lists gzip with a non-zero q-value.
    static func acceptsGzip(_ header: String?) -> Bool {
        guard let header else { return false }
        for part in header.split(separator: ",") {
            let pieces = part.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            guard pieces.first == "gzip" || pieces.first == "*" else { continue }
            let q = pieces.dropFirst().first { $0.hasPrefix("q=") }.flatMap { Double($0.dropFirst(2)) } ?? 1
            return q > 0
        }
        return false
    }

    public static func textResponse(_ status: HTTPResponse.Status, _ text: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/plain; charset=utf-8"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    public static func jsonResponse(_ status: HTTPResponse.Status, _ value: JSONValue) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: value.bytes + [0x0A])))
    }

    static func htmlResponse(_ html: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/html; charset=utf-8"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: html)))
    }
}
